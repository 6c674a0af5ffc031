"""What every backend shares: errors, token estimates, and running async code from sync code."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from lemur_core import Conversation, Message, Role

T = TypeVar("T")
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class ModelError(RuntimeError):
    """A backend could not produce completions (server error after retries, bad response)."""


class ModelEndpointError(ModelError):
    """The endpoint itself is wrong (no such model, bad URL, refused credentials): every
    further request would fail the same way, so a run should stop rather than go on."""


class BatchModelError(ModelError):
    """Some conversations of a batch failed; ``outputs`` holds, in order, each completion or
    the :class:`ModelError` of its conversation, so the answers that did come are kept."""

    def __init__(self, outputs: Sequence[str | ModelError]) -> None:
        self.outputs: list[str | ModelError] = list(outputs)
        failed = [o for o in self.outputs if isinstance(o, ModelError)]
        first = failed[0] if failed else "none"
        super().__init__(f"{len(failed)} of {len(self.outputs)} requests failed; first: {first}")

    @property
    def endpoint_error(self) -> ModelEndpointError | None:
        """The first :class:`ModelEndpointError` among the failures, if any."""
        return next((o for o in self.outputs if isinstance(o, ModelEndpointError)), None)


def approx_token_count(conversation: Conversation) -> int:
    """A deterministic token estimate (words and punctuation, plus 4 per message for the
    chat-template markers) for backends that cannot count exactly; it over-counts subword-free
    text slightly less than it under-counts code, so callers keep a margin."""
    return sum(len(_TOKEN.findall(m.content)) + 4 for m in conversation)


def to_openai_messages(conversation: Conversation) -> list[dict[str, str]]:
    """Messages as OpenAI-style dicts (``tool`` turns become ``user`` turns: they carry no
    tool-call id here, and servers reject orphan tool messages)."""
    out = []
    for message in conversation:
        role = Role.USER if message.role is Role.TOOL else message.role
        out.append({"role": role.value, "content": message.content})
    return out


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to (excluding) the earliest stop sequence, as OpenAI's API returns it."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, also when an event loop is already
    running in this thread (then in a helper thread with its own loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def assistant_turns(conversation: Conversation) -> int:
    """How many assistant messages ``conversation`` already holds (= the turn index)."""
    return sum(1 for m in conversation if m.role is Role.ASSISTANT)


def first_user_message(conversation: Conversation) -> str:
    """The content of the first user message, or ``""``."""
    return next((m.content for m in conversation if m.role is Role.USER), "")


__all__ = [
    "BatchModelError",
    "Message",
    "ModelEndpointError",
    "ModelError",
    "approx_token_count",
    "assistant_turns",
    "cut_at_stop",
    "first_user_message",
    "run_sync",
    "to_openai_messages",
]
