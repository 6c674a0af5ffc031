"""The request cache's close: answers are on disk when ``close`` returns, also when SQLite's own
close (its checkpoint) runs behind in a thread."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from lemur_bench.cache import CachedChatModel, request_key
from lemur_core import Conversation, GenerationParams, Message, Role


class _Counting:
    """A model that answers ``echo <prompt>`` and counts the prompts it was asked."""

    name = "counting"

    def __init__(self) -> None:
        self.asked = 0

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[str]:
        self.asked += len(conversations)
        return [f"echo {c[-1].content}" for c in conversations]

    async def agenerate(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[str]:
        return self.generate(conversations, params)


def _ask(*texts: str) -> list[list[Message]]:
    return [[Message(role=Role.USER, content=t)] for t in texts]


def test_answers_stored_before_a_close_behind_are_on_disk_when_it_returns(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    inner = _Counting()
    cache = CachedChatModel(inner, path)
    params = GenerationParams()
    assert cache.generate(_ask("a", "b"), params) == ["echo a", "echo b"]
    assert cache.generate(_ask("c"), params) == ["echo c"]
    cache.close(behind=True)
    # Readable by another connection at once, whether or not the checkpoint has finished.
    with sqlite3.connect(path) as db:
        rows = dict(db.execute("SELECT key, text FROM completions"))
    assert rows == {
        request_key("counting", c, params): f"echo {c[-1].content}" for c in _ask("a", "b", "c")
    }
    cache.wait_closed()
    cache.close()  # closing again is harmless

    again = CachedChatModel(inner, path)
    assert again.generate(_ask("c", "a", "b"), params) == ["echo c", "echo a", "echo b"]
    assert inner.asked == 3 and again.hits == 3
    again.close()
