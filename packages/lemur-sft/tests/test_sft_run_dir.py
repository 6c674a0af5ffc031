"""The run directory is claimed through lemur_core.stage: one writer, on one rank or on many."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from lemur_core.stage import StageBusyError
from lemur_sft import SFTConfig, finetune

# Holds the claim on a run directory, as a live fine-tuning run would, until killed.
_HOLDER = textwrap.dedent(
    """
    import sys, time
    from lemur_core.stage import claim

    run = sys.argv[1]
    held = claim(run + "/hf", "model", {"x": 1}, (), False, schema_version=1, scratch=run,
                 stale_scratch="refuse")
    print("HOLDING", flush=True)
    time.sleep(600)
    """
)


def _cfg(world: int = 1) -> SFTConfig:
    batch = {"global_batch_size": 4, "micro_batch_size": 1, "grad_accum_steps": 4 // world}
    return SFTConfig.tiny().model_copy(update={"max_steps": 1, **batch})


@pytest.fixture
def held_run(tmp_path: Path) -> Any:
    run = tmp_path / "run"
    script = tmp_path / "holder.py"
    script.write_text(_HOLDER)
    holder = subprocess.Popen(
        [sys.executable, str(script), str(run)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "HOLDING"
    yield run, holder.pid
    holder.kill()
    holder.wait(timeout=30)


def test_a_second_run_into_a_live_run_directory_refuses_naming_it(
    held_run: tuple[Path, int], toy_instruct: Path, toy_base_model: Path
) -> None:
    run, pid = held_run
    with pytest.raises(StageBusyError, match=rf"already running \(pid {pid}, since "):
        finetune(_cfg(), toy_instruct, toy_base_model, run)
    assert not (run / "checkpoints").exists()


@pytest.mark.slow
def test_every_rank_of_a_launch_into_a_live_run_directory_stops_with_the_message(
    held_run: tuple[Path, int], toy_instruct: Path, toy_base_model: Path, tmp_path: Path
) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun is not installed")
    run, pid = held_run
    config = tmp_path / "cfg.yaml"
    config.write_text(_cfg(world=2).to_yaml())
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    }
    # Rank 0 is refused the claim; rank 1 must hear of it rather than wait at a barrier forever.
    proc = subprocess.run(
        [
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
            str(run),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    refusals = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert any(f"already running (pid {pid}, since " in line for line in refusals), proc.stderr
    assert not (run / "checkpoints").exists()
