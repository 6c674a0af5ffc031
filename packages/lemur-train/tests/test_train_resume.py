"""Exact resume: a run killed (SIGKILL) mid-way and restarted equals an uninterrupted run, bit for bit."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lemur_core.atomic import file_sha256
from lemur_core.stage import StageBusyError
from lemur_train import train
from lemur_train.metrics import read_metrics
from lemur_train.weights import load_weights

STEPS = 40
KILL_AFTER = 12


def _launch(config: Path, corpus: Path, out: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one CPU device
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lemur_train.cli",
            "run",
            str(config),
            "--corpus",
            str(corpus),
            "--out",
            str(out),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _logged_steps(out: Path) -> int:
    path = out / "metrics.jsonl"
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line.endswith("}"))


@pytest.mark.slow
def test_resume_after_kill_is_bit_identical_to_uninterrupted_run(
    tmp_path: Path, corpus_dir: Path, make_train_config: Any
) -> None:
    config = make_train_config(
        max_steps=STEPS, checkpoint={"every_steps": 5, "keep_last": 2, "permanent_every": 20}
    )
    yaml_path = tmp_path / "run.yaml"
    yaml_path.write_text(config.to_yaml())
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    reference = _launch(yaml_path, corpus_dir, whole)  # runs alongside, same environment
    victim = _launch(yaml_path, corpus_dir, killed)
    deadline = time.monotonic() + 240
    while _logged_steps(killed) < 1:
        assert victim.poll() is None, victim.stderr.read().decode() if victim.stderr else ""
        assert time.monotonic() < deadline, "the run never logged a step"
        time.sleep(0.01)
    # A second run into the same directory while the first is alive refuses, naming it.
    with pytest.raises(StageBusyError, match=rf"already running \(pid {victim.pid}, since "):
        train(config, corpus_dir, killed)
    while _logged_steps(killed) < KILL_AFTER:
        assert victim.poll() is None, victim.stderr.read().decode() if victim.stderr else ""
        assert time.monotonic() < deadline, "the run never reached the kill point"
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (killed / "hf").exists(), "the run finished before it could be killed"
    checkpoints = sorted(
        int(p.name) for p in (killed / "checkpoints").iterdir() if p.name.isdigit()
    )
    assert checkpoints and checkpoints[-1] < STEPS

    resumed = _launch(yaml_path, corpus_dir, killed)  # takes over the dead run's lock
    logs = {}
    for name, proc in (("resumed", resumed), ("reference", reference)):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-3000:]
        logs[name] = err.decode()
    assert f"resumed from checkpoint step {checkpoints[-1]}" in logs["resumed"]

    a, b = read_metrics(whole / "metrics.jsonl"), read_metrics(killed / "metrics.jsonl")
    assert [r["step"] for r in b] == list(range(1, STEPS + 1))
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    assert [r["grad_norm"] for r in a] == [r["grad_norm"] for r in b]
    _, params_a = load_weights(whole)
    _, params_b = load_weights(killed)
    for x, y in zip(_leaves(params_a), _leaves(params_b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert file_sha256(whole / "hf" / "model.safetensors") == file_sha256(
        killed / "hf" / "model.safetensors"
    )
    kept = sorted(int(p.name) for p in (killed / "checkpoints").iterdir() if p.name.isdigit())
    assert kept == [20, 35, 40]  # keep-last-2 plus permanent multiples of 20
    assert json.loads((killed / "hf" / "manifest.json").read_text())["kind"] == "model"


def _leaves(tree: Any) -> list[np.ndarray]:
    import jax

    return [np.asarray(x) for x in jax.tree.leaves(tree)]


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare for a read-only mount")
def test_run_into_a_read_only_directory_is_one_line_and_leaves_nothing(
    tmp_path: Path, corpus_dir: Path, make_train_config: Any
) -> None:
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("user namespaces are not available here")
    yaml_path = tmp_path / "run.yaml"
    yaml_path.write_text(make_train_config().to_yaml())
    ro = tmp_path / "ro"
    ro.mkdir()
    # A read-only bind mount in a private mount namespace: a real EROFS, even for root.
    script = (
        f"mount --bind {ro} {ro} && mount -o remount,bind,ro {ro} && exec {sys.executable} "
        f"-m lemur_train.cli run {yaml_path} --corpus {corpus_dir} --out {ro / 'run'}"
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 5, proc.stdout + proc.stderr  # environment class
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: cannot write {ro}/.run.lock: read-only file system; write to a directory on a "
        "writable file system (choose another output directory)"
    ], proc.stderr
    assert list(ro.iterdir()) == []
