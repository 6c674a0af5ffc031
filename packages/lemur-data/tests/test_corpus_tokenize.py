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
from lemur_data.corpus.exact_bpe import ExactBPE, byte_level_alphabet, exact_bpe
from lemur_data.corpus.tokenize import TokenizeStep, cached_tokenizer, train_bpe
from tokenizers import Tokenizer

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


# --- the fast exact encoder (tiktoken built from the HF tokenizer) --------------------------


def _stdlib() -> Path:
    import sysconfig

    return Path(sysconfig.get_paths()["stdlib"])


def _real_texts() -> list[str]:
    """Real text in many scripts: a slice of the stdlib's sources (its tests included: unicode
    identifiers, string escapes), its CJK sample texts, and a sweep over code points in the
    contexts the pre-tokenizer regex distinguishes (letter/number/space/punctuation neighbours,
    contractions)."""
    stdlib = _stdlib()
    files = sorted(stdlib.glob("*.py"))[::12] + sorted(stdlib.glob("test/test_unicode*.py"))
    files += sorted(stdlib.glob("test/cjkencodings/*-utf8.txt"))
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in files]
    sweep = [chr(c) for c in range(0, 0x110000, 37) if not 0xD800 <= c < 0xE000]
    for i in range(0, len(sweep), 64):  # small documents: the few HF-only ones leave the rest
        texts.append("".join(f"a{c}b {c}1{c}  {c}{c}\n\t{c} 's{c}'ll" for c in sweep[i : i + 64]))
    return texts


def _smollm2_json() -> Path | None:
    from lemur_core.assets import cache_dir

    path = cache_dir() / "smollm2-135m-instruct" / "tokenizer.json"
    return path if path.exists() else None


@pytest.fixture(scope="module")
def tokenizers_under_test() -> dict[str, Tokenizer]:
    stdlib = sorted(_stdlib().glob("*.py"))[1::6]
    trained = train_bpe(
        iter(p.read_text(encoding="utf-8", errors="replace") for p in stdlib),
        TokenizerConfig(vocab_size=2048),
    )
    out = {"trained-bpe": trained}
    smollm2 = _smollm2_json()
    if smollm2 is not None:  # the pretrained tokenizer of the presets, when already cached
        out["smollm2"] = Tokenizer.from_file(str(smollm2))
    return out


def test_tiktoken_gives_the_hf_ids_token_for_token_on_code_and_multilingual_text(
    tokenizers_under_test: dict[str, Tokenizer],
) -> None:
    pytest.importorskip("tiktoken")
    texts = _real_texts()
    for name, tokenizer in tokenizers_under_test.items():
        fast, why = exact_bpe(tokenizer)
        assert fast is not None, f"{name}: {why}"
        expected = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
        got = [fast.encode(text) for text in texts]
        # HF-only: exactly the documents with an added token's text or a byte with no token.
        alphabet = {b: c for c, b in byte_level_alphabet().items()}
        missing = {b for b in range(256) if tokenizer.token_to_id(alphabet[b]) is None}
        added = [t.content for t in tokenizer.get_added_tokens_decoder().values()]
        for text, ids, want in zip(texts, got, expected, strict=True):
            hf_only = any(a in text for a in added) or bool(missing & set(text.encode()))
            assert (ids is None) == hf_only, f"{name}: {text[:60]!r}"
            if ids is not None:
                assert ids.tolist() == want, f"{name}: {text[:60]!r}"
        assert sum(ids is not None for ids in got) > len(texts) / 2, name


def _byte_level_bpe_without(byte: int) -> Tokenizer:
    """A byte-level BPE whose vocabulary lacks one byte (HF then drops that character)."""
    from tokenizers import models, pre_tokenizers

    alphabet = {b: c for c, b in byte_level_alphabet().items()}
    vocab = {"<|endoftext|>": 0}
    for value in range(256):
        if value != byte:
            vocab[alphabet[value]] = len(vocab)
    merges = [("a", "b"), ("Ġ", "ab"), ("c", "d")]
    for left, right in merges:
        vocab[left + right] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab, merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.add_special_tokens(["<|endoftext|>"])
    return tokenizer


def test_documents_only_hf_encodes_exactly_are_left_to_hf() -> None:
    pytest.importorskip("tiktoken")
    tokenizer = _byte_level_bpe_without(0x04)
    fast, why = exact_bpe(tokenizer)
    assert fast is not None, why
    hf_only = ["ab <|endoftext|> cd", "ab\x04cd", "ab \U00040000"]  # U+40000's lead byte is 0xF1
    assert [fast.encode(t) for t in hf_only[:2]] == [None, None]
    assert fast.encode("x \ud800") is None  # a lone surrogate: HF refuses it, so must we
    plain = "ab abcd cd é 12 's"
    ids = fast.encode(plain)
    assert ids is not None
    assert ids.tolist() == tokenizer.encode(plain, add_special_tokens=False).ids
    assert ids.tolist() != list(plain.encode())  # the merges were applied


def test_a_tokenizer_tiktoken_cannot_reproduce_is_encoded_by_hf(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("tiktoken")
    from tokenizers import normalizers

    lowercased = _byte_level_bpe_without(0x04)
    lowercased.normalizer = normalizers.Lowercase()
    assert exact_bpe(lowercased) == (None, "the tokenizer has a normalizer")
    monkeypatch.setenv("LEMUR_TOKENIZE_ENGINE", "hf")
    assert exact_bpe(_byte_level_bpe_without(0x04)) == (None, "LEMUR_TOKENIZE_ENGINE=hf")


@pytest.mark.parametrize("engine", ["tiktoken", "hf"])
def test_the_task_output_is_the_hf_tokenizers_whichever_encoder_runs(
    task: tuple[Path, list[dict[str, str]], dict[str, list[int]]],
    engine: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if engine == "tiktoken":
        pytest.importorskip("tiktoken")
    else:
        monkeypatch.setenv("LEMUR_TOKENIZE_ENGINE", "hf")
    monkeypatch.setattr(tokenize_module, "_EXACT", {})
    root, rows, removed = task
    _step(root).run(rank=0)
    assert (next(iter(tokenize_module._EXACT.values())) is not None) == (engine == "tiktoken")
    tokens, index = _reference(root, rows, removed["0"])
    assert (root / "tokens" / "00000.tokens.npy").read_bytes() == tokens
    assert (root / "tokens" / "00000.docs.json").read_text(encoding="utf-8") == index


def test_a_fast_encoder_that_disagrees_on_the_first_batch_is_dropped(
    task: tuple[Path, list[dict[str, str]], dict[str, list[int]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("tiktoken")
    monkeypatch.setattr(tokenize_module, "_EXACT", {})
    monkeypatch.setattr(ExactBPE, "encode", lambda self, text: np.zeros(1, np.uint32))
    root, rows, removed = task
    _step(root).run(rank=0)
    assert list(tokenize_module._EXACT.values()) == [None]
    tokens, _ = _reference(root, rows, removed["0"])
    assert (root / "tokens" / "00000.tokens.npy").read_bytes() == tokens
