"""``TokenizeStep`` streams a task: same bytes as encoding it whole, memory that does not grow.

The reference output is built here the simple way (every document encoded, the ids concatenated,
``np.save`` and ``json.dumps`` of the whole index), so the streamed files are compared with what
numpy and the json module themselves write.
"""

from __future__ import annotations

import io
import json
import random
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from lemur_data.corpus import tokenize as tokenize_module
from lemur_data.corpus.config import TokenizerConfig
from lemur_data.corpus.tokenize import TokenizeStep, cached_tokenizer, train_bpe

WORDS = ["def", "return", "value", "index", "for", "in", "range", "(", ")", ":", "é", "λ", "  "]


def _doc(rng: random.Random, length: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(length)) + "\n"


@pytest.fixture
def task(tmp_path: Path) -> tuple[Path, list[dict[str, str]], dict[str, list[int]]]:
    """A tokenizer directory, one task of 40 documents (7 removed), and its removal list."""
    rng = random.Random(0)
    rows = [
        {"id": f"doc-{i}", "source": ("code", "text")[i % 2], "text": _doc(rng, 5 + i * 3)}
        for i in range(40)
    ]
    rows[5]["text"] = ""  # an empty document keeps its index entry with length 0
    tok_dir = tmp_path / "tokenizer"
    tok_dir.mkdir()
    tokenizer = train_bpe(iter(r["text"] for r in rows), TokenizerConfig(vocab_size=300))
    (tok_dir / "tokenizer.json").write_text(tokenizer.to_str(), encoding="utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    with (docs / "00000.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    removed = {"0": [1, 2, 9, 17, 18, 30, 39]}
    (tmp_path / "removed.json").write_text(
        json.dumps({"removed": {k: {str(i): "dup" for i in v} for k, v in removed.items()}})
    )
    (tmp_path / "tokens").mkdir()
    return tmp_path, rows, removed


def _step(root: Path) -> TokenizeStep:
    return TokenizeStep(
        str(root / "tokenizer"),
        str(root / "docs"),
        str(root / "removed.json"),
        str(root / "tokens"),
        ("code", "text"),
    )


def _reference(root: Path, rows: list[dict[str, str]], drop: list[int]) -> tuple[bytes, str]:
    tokenizer = cached_tokenizer(root / "tokenizer" / "tokenizer.json")
    pieces, index, start = [], [], 0
    for i, row in enumerate(rows):
        if i in drop:
            continue
        ids = tokenizer.encode(row["text"], add_special_tokens=False).ids
        pieces.append(np.asarray(ids, dtype=np.uint32))
        index.append([row["id"], ("code", "text").index(row["source"]), start, len(ids)])
        start += len(ids)
    buffer = io.BytesIO()
    np.save(buffer, np.concatenate(pieces), allow_pickle=False)
    return buffer.getvalue(), json.dumps(index)


@pytest.mark.parametrize("batch", [1, 3, 256])
def test_streamed_output_is_byte_identical_to_encoding_the_task_whole(
    task: tuple[Path, list[dict[str, str]], dict[str, list[int]]],
    batch: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, rows, removed = task
    monkeypatch.setattr(tokenize_module, "_ENCODE_BATCH", batch)
    _step(root).run(rank=0)
    tokens, index = _reference(root, rows, removed["0"])
    assert (root / "tokens" / "00000.tokens.npy").read_bytes() == tokens
    assert (root / "tokens" / "00000.docs.json").read_text(encoding="utf-8") == index
    loaded = np.load(root / "tokens" / "00000.tokens.npy")
    assert loaded.dtype == np.uint32 and loaded.size == sum(e[3] for e in json.loads(index))
    assert not [p.name for p in (root / "tokens").iterdir() if p.name.endswith(".tmp")]


def test_a_task_with_every_document_removed_writes_an_empty_array_and_index(
    task: tuple[Path, list[dict[str, str]], dict[str, list[int]]],
) -> None:
    root, rows, _ = task
    (root / "removed.json").write_text(
        json.dumps({"removed": {"0": {str(i): "dup" for i in range(len(rows))}}})
    )
    _step(root).run(rank=0)
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(0, dtype=np.uint32), allow_pickle=False)
    assert (root / "tokens" / "00000.tokens.npy").read_bytes() == buffer.getvalue()
    assert (root / "tokens" / "00000.docs.json").read_text(encoding="utf-8") == "[]"


def test_tokenizer_is_loaded_once_per_content_not_per_task(
    task: tuple[Path, list[dict[str, str]], dict[str, list[int]]],
) -> None:
    root, rows, _ = task
    path = root / "tokenizer" / "tokenizer.json"
    first = cached_tokenizer(path)
    assert cached_tokenizer(path) is first
    # The same path rewritten with another tokenizer is loaded afresh, never served stale.
    other = train_bpe(iter(r["text"] for r in rows), TokenizerConfig(vocab_size=280))
    path.write_text(other.to_str(), encoding="utf-8")
    second = cached_tokenizer(path)
    assert second is not first
    assert second.get_vocab_size() == other.get_vocab_size() != first.get_vocab_size()


def _tokenize_peak(root: Path, docs: int) -> tuple[int, int]:
    """(peak traced bytes while tokenizing a task of ``docs`` documents, its text bytes)."""
    rng = random.Random(1)
    rows = [{"id": f"d{i}", "source": "code", "text": _doc(rng, 400)} for i in range(docs)]
    for name in ("tokenizer", "docs", "tokens"):
        (root / name).mkdir(parents=True)
    tokenizer = train_bpe(iter(r["text"] for r in rows[:50]), TokenizerConfig(vocab_size=300))
    (root / "tokenizer" / "tokenizer.json").write_text(tokenizer.to_str(), encoding="utf-8")
    with (root / "docs" / "00000.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    (root / "removed.json").write_text(json.dumps({"removed": {}}))
    step = TokenizeStep(
        str(root / "tokenizer"),
        str(root / "docs"),
        str(root / "removed.json"),
        str(root / "tokens"),
        ("code",),
    )
    cached_tokenizer(root / "tokenizer" / "tokenizer.json")  # loading is not the task's
    tracemalloc.start()
    try:
        step.run(rank=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.load(root / "tokens" / "00000.tokens.npy").size > docs * 100
    return peak, sum(len(r["text"].encode()) for r in rows)


def test_memory_held_while_tokenizing_does_not_grow_with_the_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task 4x as large peaks at about the same Python heap (numpy arrays included): a few
    batches are held, not the task's documents or tokens."""
    monkeypatch.setattr(tokenize_module, "_ENCODE_BATCH", 32)
    small, _ = _tokenize_peak(tmp_path / "small", 250)
    large, text_bytes = _tokenize_peak(tmp_path / "large", 1000)
    assert large < 1.3 * small, f"peak {small} B at 250 documents, {large} B at 1000"
    assert large < text_bytes / 4, f"peak {large} B while tokenizing {text_bytes} B of text"
