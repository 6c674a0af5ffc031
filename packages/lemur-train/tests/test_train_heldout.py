"""Held-out evaluation: the corpus manifest's held-out rows are never trained on, and their loss
is logged every ``eval_every_steps`` steps, overall and per source."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest
from lemur_core.manifest import ArtifactManifest, Producer, read_manifest, write_manifest
from lemur_train import TrainConfig, train
from lemur_train.data import PackedCorpus, StepSampler
from lemur_train.evaluation import HeldOutEvaluator, split_of
from lemur_train.metrics import read_metrics
from lemur_train.model import build_model
from lemur_train.sharding import batch_sharding, make_mesh

HELD = [3, 10, 40, 41, 63]


@pytest.fixture(scope="module")
def split_corpus(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Path:
    """The synthetic corpus with a manifest that holds rows ``HELD`` out (as lemur-data does)."""
    out = tmp_path_factory.mktemp("split") / "corpus"
    shutil.copytree(corpus_dir, out)
    manifest = ArtifactManifest.create(
        kind="corpus",
        schema_version=1,
        producer=Producer(package="test", version="0"),
        config={},
        stats={
            "heldout": {"rows": HELD},
            "reference": {"unigram_nats": 5.0, "bigram_nats": 4.0},
        },
    )
    write_manifest(out, manifest)
    return out


def test_the_sampler_reads_every_row_but_the_heldout_ones(split_corpus: Path) -> None:
    corpus = PackedCorpus(split_corpus)
    split = split_of(corpus)
    assert split.heldout_rows.tolist() == HELD and split.reference == {
        "unigram_nats": 5.0,
        "bigram_nats": 4.0,
    }
    sampler = StepSampler(len(split.train_rows), 8, seed=0)
    steps = -(-len(split.train_rows) // 8)
    read = np.concatenate([split.train_row(sampler.rows_for_step(s)) for s in range(steps)])
    assert set(read.tolist()) == set(range(corpus.rows)) - set(HELD)


def test_a_corpus_without_a_manifest_trains_on_every_row(corpus_dir: Path) -> None:
    split = split_of(PackedCorpus(corpus_dir))
    assert split.heldout_rows.size == 0 and len(split.train_rows) == 64
    assert split.reference is None


def test_padding_rows_of_the_last_batch_count_nothing(
    split_corpus: Path, make_train_config: Any
) -> None:
    corpus = PackedCorpus(split_corpus)
    cfg = make_train_config(mesh={"data": 2, "fsdp": 4, "tensor": 1})
    model_cfg = cfg.model.model_copy(update={"vocab_size": corpus.spec.vocab_size})
    model = build_model(model_cfg, "float32", "none")
    params = model.init(jax.random.key(0), np.zeros((1, 8), np.int32))["params"]
    sharding = batch_sharding(make_mesh(cfg.mesh))
    rows = np.arange(17) * 3  # 17 rows: batches of 8 rows leave 7 padding rows in the last

    def run(batch_rows: int) -> dict[str, Any]:
        return HeldOutEvaluator(
            model,
            corpus,
            rows,
            every_steps=0,
            max_rows=len(rows),
            batch_rows=batch_rows,
            sharding=sharding,
            cross_document=False,
        ).evaluate(params)

    # 8+8+1 (+7 padding), 16+1 (+15), 17 (+7) rows: the same sums.
    eight, sixteen, one = run(8), run(16), run(24)
    assert eight["heldout_tokens"] == sixteen["heldout_tokens"] == one["heldout_tokens"]
    assert eight["heldout_loss"] == pytest.approx(one["heldout_loss"], rel=1e-5)
    assert sixteen["heldout_loss"] == pytest.approx(one["heldout_loss"], rel=1e-5)
    # An untrained model is close to uniform over the vocabulary.
    assert abs(one["heldout_loss"] - math.log(corpus.spec.vocab_size)) < 0.5


def test_training_logs_heldout_loss_every_n_steps_and_in_the_manifest(
    split_corpus: Path, tmp_path: Path, make_train_config: Any
) -> None:
    config = make_train_config(
        mesh={"data": 2, "fsdp": 4, "tensor": 1},
        max_steps=6,
        log_every_steps=3,
        eval_every_steps=2,
    )
    assert isinstance(config, TrainConfig)
    result = train(config, split_corpus, tmp_path / "run")
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == [2, 3, 4, 6]
    evaluated = [r for r in records if "heldout_loss" in r]
    assert [r["step"] for r in evaluated] == [2, 4, 6]
    for r in evaluated:
        assert set(r["heldout_loss_per_source"]) <= {"code", "text"}
        assert r["heldout_tokens"] > 0 and math.isfinite(r["heldout_loss"])
    # Training lowers the held-out loss too (a synthetic corpus with a small vocabulary).
    assert evaluated[-1]["heldout_loss"] < evaluated[0]["heldout_loss"]
    stats = read_manifest(result.out_dir, kind="model").stats
    assert stats["final_heldout_loss"] == evaluated[-1]["heldout_loss"]
