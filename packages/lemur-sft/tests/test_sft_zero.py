"""DeepSpeed ZeRO-2 and ZeRO-3 with two real processes on CPU follow plain single-process training.

Tolerance: losses within 1e-6 relative and gradient norms within 1e-5 relative over all steps,
exported weights within 1e-5 absolute — the gap is float summation order across two ranks
(observed ~1e-8), far below what a wrong normalization or data split would give (>1e-2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from lemur_sft import (
    DeepSpeedSettings,
    SFTCheckpointConfig,
    SFTConfig,
    SFTOptimizerConfig,
    finetune,
)
from safetensors.torch import load_file


def _cfg(**overrides: Any) -> SFTConfig:
    base: dict[str, Any] = dict(
        name="zero",
        epochs=1,
        max_steps=4,
        global_batch_size=8,
        micro_batch_size=2,
        grad_accum_steps=4,
        seq_len=256,
        optimizer=SFTOptimizerConfig(peak_lr=3e-3),
        checkpoint=SFTCheckpointConfig(every_steps=100),
        torch_threads=1,
    )
    return SFTConfig(**(base | overrides))


def _metrics(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def single_process(
    tmp_path_factory: pytest.TempPathFactory, toy_instruct: Path, toy_base_model: Path
) -> Path:
    out = tmp_path_factory.mktemp("single") / "run"
    finetune(_cfg(), toy_instruct, toy_base_model, out)
    return out


STAGES = ("zero2", "zero3")


@pytest.fixture(scope="module")
def two_process_runs(
    tmp_path_factory: pytest.TempPathFactory, toy_instruct: Path, toy_base_model: Path
) -> dict[str, Path]:
    """Both DeepSpeed runs, launched together with torchrun (2 processes each) to share the wait."""
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun is not installed")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    }
    root = tmp_path_factory.mktemp("zero")
    procs = {}
    for stage in STAGES:
        # Two ranks x 2 examples x 2 accumulation steps = the same global batch of 8.
        config = root / f"{stage}.yaml"
        config.write_text(
            _cfg(grad_accum_steps=2, deepspeed=DeepSpeedSettings(config=stage)).to_yaml()
        )  # type: ignore[arg-type]
        cmd = [
            str(torchrun),
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "lemur_sft",
            "run",
            str(config),
            "--instruct",
            str(toy_instruct),
            "--base-model",
            str(toy_base_model),
            "--out",
            str(root / stage),
        ]
        log = (root / f"{stage}.log").open("w")
        procs[stage] = (subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), log)
    for stage, (proc, log) in procs.items():
        code = proc.wait(timeout=400)
        log.close()
        assert code == 0, (root / f"{stage}.log").read_text()[-3000:]
    return {stage: root / stage for stage in STAGES}


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_two_process_zero_matches_single_process_training(
    stage: str, two_process_runs: dict[str, Path], single_process: Path
) -> None:
    out = two_process_runs[stage]
    zero, plain = _metrics(out), _metrics(single_process)
    assert len(zero) == len(plain) == 4
    for z, p in zip(zero, plain, strict=True):
        assert z["target_tokens"] == p["target_tokens"]
        assert z["loss_by_source"].keys() == p["loss_by_source"].keys()
        assert z["loss"] == pytest.approx(p["loss"], rel=1e-6)
        assert z["grad_norm"] == pytest.approx(p["grad_norm"], rel=1e-5)
    assert zero[-1]["loss"] < zero[0]["loss"]
    manifest = json.loads((out / "hf" / "manifest.json").read_text())
    assert manifest["stats"]["world_size"] == 2
    assert manifest["stats"]["zero_stage"] == int(stage[-1])
    # ZeRO-3's sharded weights are gathered into a full HF export.
    got = load_file(out / "hf" / "model.safetensors")
    want = load_file(single_process / "hf" / "model.safetensors")
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], atol=1e-5, rtol=1e-4)
