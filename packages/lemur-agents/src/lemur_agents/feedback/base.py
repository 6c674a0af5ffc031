"""What a feedback provider receives and returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from lemur_core import Message


@dataclass(frozen=True)
class FeedbackRequest:
    """One live episode after an env step: what the agent did and what the env answered.

    ``reference`` is the task's ground truth: a provider may use it to judge, but the text it
    returns is shown to the agent and so must never contain it.
    """

    episode_id: str
    task: str
    history: tuple[Message, ...]
    raw_output: str
    observation: str
    reward: float
    reference: Any = None


FeedbackResult = str | Exception | None
"""Feedback text, ``None`` for no feedback this turn, or the exception that kept a provider
from answering this request (the loop then ends that episode as ``model_error``)."""


@runtime_checkable
class FeedbackProvider(Protocol):
    """Turns env steps into feedback, batched: one :data:`FeedbackResult` per request.

    A provider that raises fails every request of the call; returning the exception in a
    request's slot fails only that request's episode.
    """

    @property
    def name(self) -> str: ...

    def feedback(self, requests: Sequence[FeedbackRequest]) -> Sequence[FeedbackResult]: ...

    async def afeedback(self, requests: Sequence[FeedbackRequest]) -> Sequence[FeedbackResult]: ...
