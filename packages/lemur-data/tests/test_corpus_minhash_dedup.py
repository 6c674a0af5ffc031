"""Specification of the vectorized MinHash: same shingles as datatrove with our tokenizer, unbiased
signatures, datatrove's file formats both ways, and the same matches as datatrove's bucket step."""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from datatrove.data import Document
from datatrove.executor.local import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets, MinhashDedupSignature
from datatrove.utils.text import TextNormConfig, simplify_text
from hypothesis import given, settings
from hypothesis import strategies as st
from lemur_data.corpus import minhash as vm
from lemur_data.corpus.config import DedupConfig
from lemur_data.corpus.dedup import CodeWordTokenizer, minhash_config
from lemur_data.corpus.minhash import (
    MinhashPermutations,
    ShingleHasher,
    VectorMinhashBuckets,
    VectorMinhashSignature,
    code_token_spans,
)
from loguru import logger

CONFIG = DedupConfig(bands=8, rows_per_band=4, ngram_size=5)
TRICKY = "Ünïcode Σ x+1 a-1 (f)\x1c\u2028\xa0tab\there\r\n中文 é\u0301 _id 3.14 İ"


@pytest.fixture(autouse=True)
def _quiet_datatrove() -> Iterator[None]:
    logger.disable("datatrove")
    yield
    logger.enable("datatrove")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_token_spans_are_the_code_word_tokenizers_tokens_after_whitespace_norm(text: str) -> None:
    starts, ends = code_token_spans(text)
    cps = [chr(c) for c in np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)]
    tokens = ["".join(cps[a:b]) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    spaces_only = TextNormConfig(
        lowercase=False,
        norm_whitespace=True,
        remove_punctuation=False,
        norm_unicode_diacritics=False,
        norm_numbers=False,
    )
    assert tokens == CodeWordTokenizer().word_tokenize(simplify_text(text, spaces_only))


def _datatrove_shingles(text: str) -> set[int]:
    """datatrove's own shingle hashes (its MinhashDedupSignature, our tokenizer)."""
    step = MinhashDedupSignature(
        "/tmp/unused", config=minhash_config(CONFIG), language=CodeWordTokenizer()
    )
    return set(step.get_shingles(text).ravel().tolist())


def _random_code(rng: random.Random, n: int) -> str:
    words = ["def", "x", "y", "return", "+", "-", "(", ")", ":", "self", "İ", "\n", "  ", "\xa0"]
    return " ".join(rng.choice(words) for _ in range(n))


def test_shingle_jaccard_equals_datatroves_on_the_same_normalized_tokens() -> None:
    rng = random.Random(0)
    hasher = ShingleHasher(CONFIG.ngram_size, minhash_config(CONFIG).norm_config)
    texts = [_random_code(rng, 300) for _ in range(6)] + [TRICKY * 3, "too short"]
    hashes, counts = hasher.hash_batch(texts)
    ends = np.cumsum(counts)
    ours = [set(hashes[e - c : e].tolist()) for c, e in zip(counts, ends, strict=True)]
    theirs = [_datatrove_shingles(t) for t in texts]
    assert [len(s) for s in ours] == [len(s) for s in theirs]  # short text: both empty
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            assert len(ours[i] & ours[j]) == len(theirs[i] & theirs[j]), (i, j)


def test_hashes_do_not_depend_on_how_documents_are_batched() -> None:
    rng = random.Random(1)
    hasher = ShingleHasher(CONFIG.ngram_size, minhash_config(CONFIG).norm_config)
    texts = [_random_code(rng, rng.randint(0, 40)) for _ in range(30)]
    together, counts = hasher.hash_batch(texts)
    alone = [hasher.hash_batch([t]) for t in texts]
    assert counts.tolist() == [int(c[0]) for _, c in alone]
    assert together.tolist() == np.concatenate([h for h, _ in alone]).tolist()


@pytest.mark.parametrize("jaccard", [0.3, 0.75, 0.9])
def test_signature_agreement_estimates_jaccard_like_independent_permutations(
    jaccard: float,
) -> None:
    rng = np.random.default_rng(2)
    k, n, trials = 200, 300, 400
    perms = MinhashPermutations(k, seed=3)
    inter = round(2 * n * jaccard / (1 + jaccard))
    exact = inter / (2 * n - inter)
    errors = []
    for _ in range(trials):
        pool = rng.choice(1 << 32, 2 * n - inter, replace=False).astype(np.uint32)
        a, b = pool[:n], np.concatenate([pool[:inter], pool[n:]])
        sig = perms.signatures(np.concatenate([a, b]), np.array([n, n]))
        errors.append(float((sig[0] == sig[1]).mean()) - exact)
    var = exact * (1 - exact) / k  # variance of k independent permutations
    assert abs(np.mean(errors)) < 4 * (var / trials) ** 0.5
    assert 0.75 < np.var(errors) / var < 1.3


def test_a_document_larger_than_a_chunk_gets_its_exact_minimum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(vm, "_CHUNK_VALUES", 64 * 16)  # 16 shingles per chunk
    perms = MinhashPermutations(64, seed=5)
    rng = np.random.default_rng(4)
    counts = np.array([3, 0, 50, 16, 1, 17])
    hashes = rng.integers(0, 1 << 32, int(counts.sum()), dtype=np.uint64).astype(np.uint32)
    sig = perms.signatures(hashes, counts)
    expected = []
    start = 0
    for c in counts:
        h = hashes[start : start + c].astype(np.uint64)
        start += c
        if c:
            values = (perms.a[:, None].astype(np.uint64) * h[None, :] + perms.b[:, None]) % (
                1 << 32
            )
            expected.append(values.min(axis=1))
    assert sig.tolist() == np.array(expected).tolist()


class _ListReader(PipelineStep):
    name = "list reader"

    def __init__(self, texts: list[str]) -> None:
        super().__init__()
        self.texts = texts

    def run(self, data: object = None, rank: int = 0, world_size: int = 1) -> Iterator[Document]:  # type: ignore[override]
        for i, text in enumerate(self.texts[rank::world_size]):
            yield Document(text=text, id=f"{rank}-{i}")


def _corpus(seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    base = [_random_code(rng, 200) for _ in range(40)]
    near = [t.replace("return", "yield", 1) for t in base[:15]]  # one-token edits
    return base + near + base[:5] + ["tiny"]


def _run(steps: list[PipelineStep], tasks: int, logs: Path) -> None:
    LocalPipelineExecutor(steps, tasks=tasks, workers=1, logging_dir=str(logs)).run()


def _components(dups: Path) -> set[frozenset[tuple[int, int]]]:
    """Connected components (of (rank, doc) nodes) of every pair in the .dups files."""
    parent: dict[tuple[int, int], tuple[int, int]] = {}

    def find(x: tuple[int, int]) -> tuple[int, int]:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for path in dups.glob("*.dups"):
        for r1, d1, r2, d2 in struct.iter_unpack("<4I", path.read_bytes()):
            parent[find((r1, d1))] = find((r2, d2))
    groups: dict[tuple[int, int], set[tuple[int, int]]] = {}
    for node in parent:
        groups.setdefault(find(node), set()).add(node)
    return {frozenset(g) for g in groups.values() if len(g) > 1}


def test_bucket_matches_are_datatroves_and_do_not_depend_on_task_split(tmp_path: Path) -> None:
    mh = minhash_config(CONFIG)
    sigs = tmp_path / "sigs"
    _run([_ListReader(_corpus()), VectorMinhashSignature(str(sigs), config=mh)], 3, tmp_path / "l1")
    # Reference: datatrove's own bucket step reading our signature files.
    _run(
        [
            MinhashDedupBuckets(
                str(sigs), str(tmp_path / "dt"), config=mh, only_dedup_in_index=False
            )
        ],
        CONFIG.bands,
        tmp_path / "l2",
    )
    reference = _components(tmp_path / "dt")
    assert len(reference) >= 15  # the planted duplicates are found at all
    for tasks in (1, 3, CONFIG.bands, 2 * CONFIG.bands):
        out = tmp_path / f"ours{tasks}"
        _run(
            [VectorMinhashBuckets(str(sigs), str(out), config=mh)],
            tasks,
            tmp_path / f"buckets{tasks}",
        )
        assert _components(out) == reference, tasks


def test_spilling_and_rerunning_a_task_write_the_same_signature_files(tmp_path: Path) -> None:
    mh = minhash_config(CONFIG)
    texts = _corpus()

    def files(folder: Path) -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.sig"))}

    step = VectorMinhashSignature(str(tmp_path / "a"), config=mh)
    _run([_ListReader(texts), step], 2, tmp_path / "la")
    spilled = VectorMinhashSignature(str(tmp_path / "b"), config=mh, batch_size=4, spill_bytes=1)
    _run([_ListReader(texts), spilled], 2, tmp_path / "lb")
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert not list((tmp_path / "b").rglob("*.u32")), "the spill file is removed"
    # A task killed half way is run again from the start: same bytes.
    first = sorted((tmp_path / "a").rglob("*.sig"))[0]
    first.write_bytes(first.read_bytes()[:10])
    _run([_ListReader(texts), step], 2, tmp_path / "la-again")
    assert files(tmp_path / "a") == files(tmp_path / "b")


def test_a_64_bit_config_is_refused_with_the_fix() -> None:
    mh = minhash_config(CONFIG)
    mh.hash_config = type(mh.hash_config)(precision=64)
    with pytest.raises(ValueError, match="precision=32"):
        VectorMinhashSignature("/tmp/unused", config=mh)
