"""Feedback providers: the environment's own observation, and a simulated user (MINT).

MINT simulates a human giving natural-language feedback with a strong LLM that sees the
task, the agent's trajectory and the ground truth, and is told never to reveal the ground
truth. :class:`SimulatedUserFeedback` enforces that rule instead of trusting it: feedback that
contains the reference answer is rejected, regenerated, and finally replaced by a neutral
message (``rejected`` counts such cases).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from lemur_core import ChatModel, GenerationParams, Message, Role

from lemur_agents.feedback.base import FeedbackRequest, FeedbackResult
from lemur_agents.models.base import BatchModelError, run_sync

FEEDBACK_SYSTEM_PROMPT = (
    "You are an expert providing feedback to a student solving a task through multi-turn "
    "interaction. You see the task, the student's latest attempt and what the environment "
    "answered. The correct answer is given to you for reference only: NEVER state it, hint "
    "at its value, or confirm a guess of it. Point out mistakes and suggest what to check or "
    "try next, in at most three sentences."
)
_WITHHELD = (
    "Check your reasoning and the environment's last answer carefully before your next step."
)


def _normalize(text: str) -> str:
    return " ".join(text.lower().replace(",", "").split())


def _answer_forms(reference: Any) -> list[str]:
    if reference is None:
        return []
    if isinstance(reference, list | tuple | set):
        return [form for item in reference for form in _answer_forms(item)]
    forms = {_normalize(str(reference))}
    if isinstance(reference, int | float) and not isinstance(reference, bool):
        number = float(reference)
        if number.is_integer():
            forms |= {str(int(number)), f"{int(number)}.0"}
        else:
            forms.add(repr(number))
    return sorted(f for f in forms if f)


def reveals_reference(feedback: str, reference: Any) -> bool:
    """Whether ``feedback`` states the reference answer (case, spacing and thousands
    separators ignored; matched as a whole token, so ``4`` is not found in ``42``)."""
    text = _normalize(feedback)
    for form in _answer_forms(reference):
        pattern = rf"(?<![\w.]){re.escape(form)}(?![\w]|\.\d)"
        if re.search(pattern, text):
            return True
    return False


class EnvironmentFeedback:
    """Feedback is the env's observation itself: adds nothing, labels the run ``env``."""

    name = "env"

    def feedback(self, requests: Sequence[FeedbackRequest]) -> list[str | None]:
        """No extra text: the observation is already in the next prompt."""
        return [None] * len(requests)

    async def afeedback(self, requests: Sequence[FeedbackRequest]) -> list[str | None]:
        """Async twin of :meth:`feedback`."""
        return self.feedback(requests)


class SimulatedUserFeedback:
    """Natural-language feedback from any ``ChatModel`` that never leaks the reference.

    All pending requests of a turn go to the feedback model in one batched call; leaking
    answers are regenerated up to ``max_attempts`` times, then replaced by a neutral hint.
    When the feedback model fails for a request (after its own retries), that request's slot
    holds the error, so only its episode ends (``model_error``, re-run later), never the run.
    """

    def __init__(
        self,
        model: ChatModel,
        *,
        params: GenerationParams | None = None,
        system_prompt: str = FEEDBACK_SYSTEM_PROMPT,
        max_attempts: int = 2,
    ) -> None:
        self.model = model
        self.params = params or GenerationParams(max_new_tokens=160)
        self.system_prompt = system_prompt
        self.max_attempts = max(1, max_attempts)
        self.rejected = 0

    @property
    def name(self) -> str:
        """``simulated_user:<model>`` — recorded as the episode's feedback mode."""
        return f"simulated_user:{self.model.name}"

    def _conversation(self, request: FeedbackRequest, strict: bool) -> list[Message]:
        reminder = (
            "\nYour previous feedback revealed the answer. Do not mention it in any form."
            if strict
            else ""
        )
        body = (
            f"Task:\n{request.task}\n\nStudent's latest reply:\n{request.raw_output}\n\n"
            f"Environment's answer:\n{request.observation}\n\n"
            f"Correct answer (for your reference only, never reveal it): {request.reference}\n"
            f"{reminder}\nYour feedback to the student:"
        )
        return [
            Message(role=Role.SYSTEM, content=self.system_prompt),
            Message(role=Role.USER, content=body),
        ]

    async def afeedback(self, requests: Sequence[FeedbackRequest]) -> list[FeedbackResult]:
        """Feedback per request (see the class docstring)."""
        answers: list[FeedbackResult] = [None] * len(requests)
        todo = list(range(len(requests)))
        for attempt in range(self.max_attempts):
            if not todo:
                break
            conversations = [self._conversation(requests[i], strict=attempt > 0) for i in todo]
            texts: list[str | Exception]
            try:
                texts = list(await self.model.agenerate(conversations, self.params))
            except BatchModelError as exc:
                texts = list(exc.outputs)
            except Exception as exc:
                texts = [exc] * len(todo)
            still = []
            for i, text in zip(todo, texts, strict=True):
                if isinstance(text, Exception):
                    answers[i] = text
                elif reveals_reference(text, requests[i].reference):
                    self.rejected += 1
                    still.append(i)
                else:
                    answers[i] = text.strip()
            todo = still
        for i in todo:
            answers[i] = _WITHHELD
        return answers

    def feedback(self, requests: Sequence[FeedbackRequest]) -> list[FeedbackResult]:
        """Synchronous twin of :meth:`afeedback`."""
        return run_sync(self.afeedback(requests))
