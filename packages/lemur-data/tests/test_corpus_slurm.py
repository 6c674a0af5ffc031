"""The corpus on Slurm (datatrove's SlurmPipelineExecutor), watched by the driver.

Against a real single-node Slurm (``.ci/slurm-up.sh``: Debian's slurm-wlm + munge) the small
corpus comes out byte-identical to the local build; a cancelled job ends the driver within two
minutes naming the job id, the stage and the log (datatrove alone leaves its dependents in
``DependencyNeverSatisfied`` and the old driver polled forever); a missing partition or venv
fails before anything is submitted. Those tests skip, with the reason, where Slurm is not
running. The watcher's verdicts on job states are also tested without Slurm.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from lemur_core import read_manifest, tree_sha256
from lemur_data.corpus import CorpusConfig, build_corpus
from lemur_data.corpus import cluster as cluster_module
from lemur_data.corpus.cluster import SlurmTask, _Job, _slurm_problem, _slurm_venv
from lemur_data.corpus.config import CorpusConfigError


def _slurm_partition() -> str | None:
    """The default partition of a Slurm that answers here, else ``None``."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return None
    try:
        done = subprocess.run(
            ["sinfo", "-h", "-o", "%P|%t"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    rows = [line.split("|") for line in done.stdout.splitlines() if "|" in line]
    live = [p for p, state in rows if state.rstrip("*~#") in ("idle", "mix", "alloc", "comp")]
    if done.returncode != 0 or not live:
        return None
    default = [p for p in live if p.endswith("*")]
    return (default or live)[0].rstrip("*")


PARTITION = _slurm_partition()
needs_slurm = pytest.mark.skipif(
    PARTITION is None,
    reason="no running Slurm here (sbatch/sinfo missing or no live node): run .ci/slurm-up.sh as root",
)


def _on_slurm(config: CorpusConfig, partition: str, **slurm: Any) -> CorpusConfig:
    data = config.model_dump(mode="json")
    data["executor"] = {
        "kind": "slurm",
        "tasks": config.executor.tasks,
        "slurm": {"partition": partition, "time": "00:20:00", "mem_per_cpu_gb": 1, **slurm},
    }
    return CorpusConfig.model_validate(data)


def _venv() -> str:
    return sys.prefix  # the jobs run in this test's own environment


@needs_slurm
@pytest.mark.slow
def test_the_small_corpus_through_slurm_is_byte_identical_to_local(
    small_corpus: tuple[CorpusConfig, Path], tmp_path: Path
) -> None:
    assert PARTITION is not None
    config, local = small_corpus
    out = tmp_path / "slurm"
    started = time.monotonic()
    build_corpus(_on_slurm(config, PARTITION, venv_path=_venv()), out)
    print(f"slurm build: {time.monotonic() - started:.0f} s")
    assert tree_sha256(out) == tree_sha256(local)
    slurm_stats, local_stats = read_manifest(out).stats, read_manifest(local).stats
    assert slurm_stats.pop("executor") == "slurm" and local_stats.pop("executor") == "local"
    assert slurm_stats == local_stats


def _squeue() -> list[tuple[str, str, str]]:
    done = subprocess.run(
        ["squeue", "-h", "-o", "%A|%j|%T"], capture_output=True, text=True, timeout=20
    )
    return [tuple(line.split("|")) for line in done.stdout.splitlines() if line.count("|") == 2]  # type: ignore[misc]


@needs_slurm
@pytest.mark.slow
def test_a_cancelled_job_ends_the_driver_within_two_minutes_naming_job_stage_and_log(
    small_corpus: tuple[CorpusConfig, Path], tmp_path: Path
) -> None:
    assert PARTITION is not None
    config, _ = small_corpus
    path = tmp_path / "corpus.yaml"
    path.write_text(
        yaml.safe_dump(_on_slurm(config, PARTITION, venv_path=_venv()).model_dump(mode="json"))
    )
    before = {job for job, _, _ in _squeue()}
    cli = Path(sys.executable).with_name("lemur-data")
    proc = subprocess.Popen(
        [str(cli), "corpus", "build", str(path), "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        victim = None
        deadline = time.monotonic() + 180
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            victim = next(
                (
                    j
                    for j, name, _ in _squeue()
                    if name == "lemur-corpus-5-tokenize" and j not in before
                ),
                None,
            )
            time.sleep(0.5)
        assert victim is not None, "the chain was never submitted"
        subprocess.run(["scancel", victim], check=True, timeout=20)
        cancelled = time.monotonic()
        _, err = proc.communicate(timeout=150)
        took = time.monotonic() - cancelled
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 5, err  # an environment failure (lemur_core.cli_errors)
    line = err.strip().splitlines()[-1]
    print(f"driver ended {took:.1f} s after scancel")
    assert took < 120, f"the driver took {took:.0f} s to notice"
    assert f"slurm job {victim}" in line and "(stage 5-tokenize) ended CANCELLED" in line, line
    assert "slurm_logs" in line and "Traceback" not in err
    # Nothing of that chain is left waiting in the queue (datatrove's stats jobs included).
    time.sleep(2)
    left = [
        (j, name) for j, name, _ in _squeue() if j not in before and name.startswith("lemur-corpus")
    ]
    assert left == []


@needs_slurm
def test_a_partition_that_does_not_exist_fails_before_submitting(
    small_corpus: tuple[CorpusConfig, Path], tmp_path: Path
) -> None:
    config, _ = small_corpus
    before = _squeue()
    with pytest.raises(CorpusConfigError, match="no partition 'no-such-part' on this cluster"):
        build_corpus(_on_slurm(config, "no-such-part"), tmp_path / "out")
    assert _squeue() == before


def test_venv_path_must_be_a_venv_or_an_activate_script(tmp_path: Path) -> None:
    with pytest.raises(CorpusConfigError, match=r"venv_path: .*missing is neither a virtual env"):
        _slurm_venv(str(tmp_path / "missing"))
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text("")
    # datatrove sources the path as given: a venv directory becomes its activate script.
    assert _slurm_venv(str(venv)) == str(venv / "bin" / "activate")
    assert _slurm_venv(str(venv / "bin" / "activate")) == str(venv / "bin" / "activate")
    assert _slurm_venv(None) is None


class _Stub:
    slurm_logs_folder = "/logs/slurm_logs"

    def __init__(self, incomplete: list[int]) -> None:
        self.incomplete = incomplete

    def get_incomplete_ranks(self, ranks: Any, skip_completed: bool = True) -> list[int]:
        return self.incomplete


def _jobs() -> list[_Job]:
    return [
        _Job("1-prepare", "10", _Stub([]), 2, Path("/w/logs/1-prepare")),
        _Job("2-lsh", "11", _Stub([0, 1]), 2, Path("/w/logs/2-lsh")),
        _Job("3-dedup", "12", _Stub([0]), 1, Path("/w/logs/3-dedup")),
    ]


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"])
def test_the_watcher_names_the_first_failed_job_its_stage_and_log(
    state: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = {
        "10": [SlurmTask("10_0", "COMPLETED"), SlurmTask("10_1", "COMPLETED")],
        "11": [SlurmTask("11_0", "COMPLETED"), SlurmTask("11_1", state)],
        "12": [SlurmTask("12_0", "PENDING", "DependencyNeverSatisfied")],
    }
    monkeypatch.setattr(cluster_module, "slurm_tasks", lambda job: queue[job])
    problem = _slurm_problem(_jobs())
    assert problem is not None
    assert problem.startswith(f"slurm job 11_1 (stage 2-lsh) ended {state}; ")
    assert "log: /logs/slurm_logs/11_1.out" in problem


def test_the_watcher_waits_on_running_jobs_and_flags_a_dependency_that_never_comes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue: dict[str, list[SlurmTask]] = {
        "10": [SlurmTask("10_0", "COMPLETED"), SlurmTask("10_1", "COMPLETED")],
        "11": [SlurmTask("11_0", "RUNNING"), SlurmTask("11_1", "PENDING", "Resources")],
        "12": [SlurmTask("12_0", "PENDING", "Dependency")],
    }
    monkeypatch.setattr(cluster_module, "slurm_tasks", lambda job: queue[job])
    assert _slurm_problem(_jobs()) is None  # all is well: keep watching
    queue["12"] = [SlurmTask("12_0", "PENDING", "DependencyNeverSatisfied")]
    problem = _slurm_problem(_jobs())
    assert problem is not None and "slurm job 12_0 (stage 3-dedup) can never start" in problem


def test_a_job_that_left_the_queue_with_tasks_incomplete_is_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue: dict[str, list[SlurmTask]] = {"10": [], "11": [], "12": []}  # Slurm forgot them all
    monkeypatch.setattr(cluster_module, "slurm_tasks", lambda job: queue[job])
    monkeypatch.setattr(cluster_module.time, "sleep", lambda s: None)
    problem = _slurm_problem(_jobs())
    assert problem is not None
    assert "slurm job 11 (stage 2-lsh) left the queue with 2/2 tasks incomplete" in problem
    assert "/w/logs/2-lsh/logs/task_00000.log" in problem
