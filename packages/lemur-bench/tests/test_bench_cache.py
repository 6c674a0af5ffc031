"""The request cache's close: answers are on disk when ``close`` returns, also when SQLite's own
close (its checkpoint) runs behind in a thread."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from lemur_bench.cache import CachedChatModel, request_key
from lemur_core import Conversation, GenerationParams, Message, Role, canonical_sha256


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


@pytest.mark.parametrize(
    "params",
    [
        GenerationParams(),
        GenerationParams(max_new_tokens=7, temperature=0.7, top_p=0.95, seed=3),
        GenerationParams(stop=("STOP", "\n\nObservation:", "é\u2028")),
    ],
)
def test_request_keys_are_lemur_cores_canonical_sha256_of_the_request(
    params: GenerationParams,
) -> None:
    # The keys of caches written by earlier versions: the canonical JSON of the request.
    conversations: list[list[Message]] = [
        _ask("q")[0],
        [
            Message(role=Role.SYSTEM, content='sys "quoted" \\ tab\t nul\x00 ✓ 名前'),
            Message(role=Role.USER, content="line\nbreak \U0001f600 \u2028 \x7f"),
            Message(role=Role.ASSISTANT, content=""),
            Message(role=Role.TOOL, content="{'a': 1.5e-300}"),
        ],
    ]
    for conversation in conversations:
        for name in ("openai:m", "hf:/models/ünï", 'scripted:"x"'):
            reference = canonical_sha256(
                {
                    "model": name,
                    "messages": [m.model_dump(mode="json") for m in conversation],
                    "params": params.model_dump(mode="json"),
                }
            )
            assert request_key(name, conversation, params) == reference
