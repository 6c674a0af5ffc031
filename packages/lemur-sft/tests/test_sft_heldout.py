"""Held-out SFT loss: held-out examples are never trained on, and their loss is in the metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from lemur_core import read_manifest
from lemur_sft import SFTCheckpointConfig, SFTConfig, SFTOptimizerConfig, finetune
from lemur_sft.heldout import split_heldout
from lemur_sft.hooks import StepInfo
from lemur_sft.masking import EncodedExample


def _example(i: int) -> EncodedExample:
    ids = np.arange(4, dtype=np.int64)
    return EncodedExample(f"ex-{i}", "a" if i % 2 else "b", ids, ids, truncated=False)


def test_the_split_depends_on_ids_only_and_spares_most_of_a_small_set() -> None:
    examples = [_example(i) for i in range(100)]
    train, held = split_heldout(examples, 8)
    assert len(held) == 8 and len(train) == 92
    assert not {e.id for e in train} & {e.id for e in held}
    shuffled = list(reversed(examples))
    assert {e.id for e in split_heldout(shuffled, 8)[1]} == {e.id for e in held}
    # A tenth of the set at most: 30 examples keep 27 for training.
    assert len(split_heldout(examples[:30], 8)[1]) == 3
    assert split_heldout(examples, 0)[1] == []


def test_metrics_carry_the_heldout_loss_and_the_manifest_its_last_value(
    toy_instruct: Path, toy_base_model: Path, tmp_path: Path
) -> None:
    config = SFTConfig(
        name="test",
        epochs=1,
        max_steps=4,
        global_batch_size=8,
        micro_batch_size=2,
        grad_accum_steps=4,
        seq_len=256,
        optimizer=SFTOptimizerConfig(peak_lr=3e-3, warmup_ratio=0.25),
        checkpoint=SFTCheckpointConfig(every_steps=4),
        torch_threads=1,
        eval_examples=8,
        eval_every_steps=2,
    )
    result = finetune(config, toy_instruct, toy_base_model, tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    scored = [r for r in records if "heldout_loss" in r]
    assert [r["step"] for r in scored] == [2, 4]
    for r in scored:
        assert math.isfinite(r["heldout_loss"]) and r["heldout_targets"] > 0
        assert r["heldout_loss_by_source"] and set(r["heldout_loss_by_source"]) <= {"a", "b"} | set(
            r["loss_by_source"]
        )
    stats = read_manifest(result.out_dir, kind="model").stats
    assert stats["examples_heldout"] == 8
    assert stats["final_heldout_loss"] == scored[-1]["heldout_loss"]
    # Training moved the held-out loss (the toy set is learnable in a few steps).
    assert scored[-1]["heldout_loss"] < scored[0]["heldout_loss"]


def test_the_hook_adds_to_the_record_before_it_is_written() -> None:
    from lemur_sft.heldout import HeldOutLossHook

    class _Never:
        def __getattr__(self, name: str) -> object:
            raise AssertionError("no held-out examples: the model is never called")

    hook = HeldOutLossHook(_Never(), _Never(), [], every=1)  # type: ignore[arg-type]
    info = StepInfo(3, 3, 0, {"step": 3})
    hook.on_step(info)
    assert info.metrics == {"step": 3}
