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
