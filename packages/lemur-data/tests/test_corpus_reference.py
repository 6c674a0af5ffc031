"""The held-out split and the n-gram reference lines recorded in a corpus manifest."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from lemur_core import read_manifest
from lemur_data.corpus import CorpusConfig, build_corpus
from lemur_data.corpus.reference import heldout_count, heldout_rows, reference_stats, targets_of


def _reader(tokens: np.ndarray, segments: np.ndarray, sources: np.ndarray):  # type: ignore[no-untyped-def]
    return lambda idx: (tokens[idx], segments[idx], sources[idx])


def test_heldout_rows_depend_on_the_row_count_only_and_are_a_small_share() -> None:
    assert heldout_count(1) == 0 and heldout_count(2) == 1
    assert heldout_count(1000) == 50 and heldout_count(10**7) == 1024
    a, b = heldout_rows(400), heldout_rows(400)
    assert np.array_equal(a, b) and len(a) == 20 and len(set(a.tolist())) == 20
    assert a.min() >= 0 and a.max() < 400
    # Spread over the corpus, not one block of neighbouring rows.
    assert a.max() - a.min() > 200


def test_targets_follow_the_trainer_mask() -> None:
    tokens = np.array([[5, 6, 7, 8, 0]])
    segments = np.array([[1, 1, 2, 2, 0]])  # two documents, then padding
    sources = np.array([[0, 0, 1, 1, -1]])
    t = targets_of(tokens, segments, sources)
    assert list(zip(t.context, t.target, strict=True)) == [(5, 6), (7, 8)]
    assert t.source.tolist() == [0, 1]
    crossed = targets_of(tokens, segments, sources, cross_document=True)
    assert list(crossed.target) == [6, 7, 8]


def test_a_cyclic_stream_is_log_v_for_unigram_and_near_zero_for_bigram() -> None:
    vocab, rows, length = 10, 200, 33
    stream = np.arange(rows * length) % vocab
    tokens = stream.reshape(rows, length)
    segments = np.ones_like(tokens)
    sources = np.zeros_like(tokens)
    stats = reference_stats(_reader(tokens, segments, sources), rows, vocab, ["only"])
    ref = stats["reference"]
    held = stats["heldout"]["rows"]
    assert len(held) == 10 and ref["heldout_tokens"] == 10 * (length - 1)
    assert ref["unigram_nats"] == pytest.approx(math.log(vocab), abs=1e-3)
    # Each token has one follower: Witten-Bell gives (c + p1) / (c + 1), close to 1.
    assert 0 < ref["bigram_nats"] < 0.01
    assert ref["bigram_per_source"] == {"only": pytest.approx(ref["bigram_nats"])}


def test_a_stream_without_order_gains_nothing_from_bigrams() -> None:
    rng = np.random.default_rng(0)
    vocab, rows, length = 8, 400, 65
    tokens = rng.integers(0, vocab, (rows, length))
    stats = reference_stats(
        _reader(tokens, np.ones_like(tokens), np.zeros_like(tokens)), rows, vocab, ["s"]
    )
    ref = stats["reference"]
    assert ref["unigram_nats"] == pytest.approx(math.log(vocab), abs=0.02)
    # Independent tokens: the bigram can only overfit, so it is no better than the unigram.
    assert ref["bigram_nats"] >= ref["unigram_nats"] - 0.005


def _write_corpus(root: Path) -> CorpusConfig:
    rng = random.Random(3)
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "value",
        "index",
        "count",
        "total",
        "result",
        "buffer",
        "record",
        "table",
    ]
    code = root / "code"
    code.mkdir(parents=True)
    for k in range(16):
        lines = []
        for f in range(6):
            a, b = rng.sample(words, 2)
            lines += [
                f"def {a}_{k}_{f}({a}, {b}):",
                f"    return {a} * {rng.randint(2, 99)} + {b}",
                "",
            ]
        (code / f"m{k}.py").write_text("\n".join(lines))
    text = root / "text"
    text.mkdir()
    docs = [
        json.dumps(
            {
                "id": f"t{i}",
                "text": f"The {' '.join(rng.choice(words) for _ in range(40))} works with the rest of it and the others.",
            }
        )
        for i in range(16)
    ]
    (text / "d.jsonl").write_text("\n".join(docs) + "\n")
    return CorpusConfig.from_mapping(
        {
            "name": "ref",
            "sources": [
                {"name": "code", "type": "code", "kind": "files", "weight": 0.7,
                 "paths": [str(code / "*.py")]},
                {"name": "web", "type": "text", "kind": "jsonl", "weight": 0.3,
                 "paths": [str(text / "*.jsonl")], "id_field": "id"},
            ],
            "code_filter": {"min_chars": 50},
            "text_filter": {"min_words": 20},
            "dedup": {"bands": 2, "rows_per_band": 4, "ngram_size": 5},
            "mix": {"share_tolerance": 0.3},
            "tokenizer": {"vocab_size": 300},
            "pack": {"seq_len": 32, "rows_per_shard": 16},
            "executor": {"tasks": 1},
        }
    )  # fmt: skip


def test_a_built_corpus_records_heldout_rows_and_references_and_stats_prints_them(
    tmp_path: Path,
) -> None:
    from lemur_data.cli import app
    from typer.testing import CliRunner

    out = tmp_path / "corpus"
    build_corpus(_write_corpus(tmp_path / "src"), out, workers=1)
    stats = read_manifest(out, kind="corpus").stats
    held = stats["heldout"]["rows"]
    assert held == heldout_rows(stats["rows"]).tolist() and held
    ref = stats["reference"]
    # Real text: the previous token helps, and both lines are finite positive numbers.
    assert 0 < ref["bigram_nats"] < ref["unigram_nats"] < math.log(300)
    assert set(ref["bigram_per_source"]) == {"code", "web"}
    printed = CliRunner().invoke(app, ["corpus", "stats", str(out)], terminal_width=300)
    assert printed.exit_code == 0, printed.output
    assert f"unigram {ref['unigram_nats']:.3f}" in printed.output
    assert f"interpolated bigram {ref['bigram_nats']:.3f}" in printed.output


def _reference_by_concatenation(
    tokens: np.ndarray, segments: np.ndarray, sources: np.ndarray, vocab: int, names: list[str]
) -> dict[str, object]:
    """The references computed the direct way: every counted target in memory at once, bigram
    counts by ``np.unique`` over all pair keys (how reference_stats worked before it streamed)."""
    from lemur_data.corpus.reference import MAX_COUNTED_ROWS, row_order

    rows = len(tokens)
    order = row_order(rows)
    k = heldout_count(rows)
    train = targets_of(
        *(a[np.sort(order[k : k + MAX_COUNTED_ROWS])] for a in (tokens, segments, sources))
    )
    test = targets_of(*(a[np.sort(order[:k])] for a in (tokens, segments, sources)))
    uni = np.bincount(train.target, minlength=vocab).astype(np.float64)
    p_uni = (uni + 1.0) / (uni.sum() + vocab)
    pair_keys, pair_counts = np.unique(train.context * vocab + train.target, return_counts=True)
    context_total = np.bincount(train.context, minlength=vocab).astype(np.float64)
    followers = np.bincount(pair_keys // vocab, minlength=vocab).astype(np.float64)
    keys = test.context * vocab + test.target
    where = np.clip(np.searchsorted(pair_keys, keys), 0, max(len(pair_keys) - 1, 0))
    c_vw = np.where(pair_keys[where] == keys, pair_counts[where], 0).astype(np.float64)
    c_v, t_v = context_total[test.context], followers[test.context]
    p1 = p_uni[test.target]
    p2 = np.where(c_v > 0, (c_vw + t_v * p1) / np.where(c_v > 0, c_v + t_v, 1.0), p1)
    out: dict[str, object] = {
        "heldout_tokens": len(test.target),
        "train_tokens_counted": len(train.target),
    }
    for name, logp in (("unigram", np.log(p1)), ("bigram", np.log(p2))):
        out[f"{name}_nats"] = float(-logp.mean())
        out[f"{name}_per_source"] = {
            n: float(-logp[test.source == i].mean())
            for i, n in enumerate(names)
            if (test.source == i).any()
        }
    return out  # fmt: skip


@pytest.mark.parametrize("chunk", [1, 7, 64, 4096])
def test_streamed_references_are_bit_identical_to_counting_everything_at_once(chunk: int) -> None:
    # Zipf-distributed tokens over a realistic vocabulary, documents of random lengths packed
    # into rows (segments restart, the last row padded), two sources: many unseen contexts and
    # pairs on both sides, so every branch of the interpolation is taken.
    rng = np.random.default_rng(7)
    vocab, rows, length = 49152, 900, 48
    tokens = np.minimum(rng.zipf(1.3, (rows, length)), vocab) - 1
    boundaries = rng.random((rows, length)) < 0.05
    segments = (1 + np.cumsum(boundaries, axis=1)).astype(np.int32)
    segments[-1, 30:] = 0
    sources = (segments % 2).astype(np.int16)
    sources[segments == 0] = -1
    names = ["code", "web"]
    got = reference_stats(_reader(tokens, segments, sources), rows, vocab, names, chunk=chunk)
    expected = _reference_by_concatenation(tokens, segments, sources, vocab, names)
    ref = got["reference"]
    for key, value in expected.items():
        assert ref[key] == value, key  # exact float equality, not approx
    assert ref["bigram_nats"] < ref["unigram_nats"]
