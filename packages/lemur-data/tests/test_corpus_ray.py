"""The corpus on Ray (datatrove's RayPipelineExecutor) on this machine: a running 2-CPU cluster
(``ray start --head``, reached with ``--ray-address``) builds the small corpus byte-identical to
the local executor; on a local cluster the build starts itself, a task that fails ends the build
naming its rank and log (datatrove alone only logs "Only X/Y tasks completed"). Skipped where
ray is not installed (lemur-data[ray])."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lemur_core import read_manifest, tree_sha256
from lemur_data.corpus import CorpusConfig, build_corpus
from lemur_data.corpus.cluster import ClusterError, run_ray

ray = pytest.importorskip(
    "ray", reason="ray is not installed: uv sync --extra ray (lemur-data[ray])"
)

pytestmark = pytest.mark.slow  # a Ray cluster takes a while to start on two busy cores


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running local Ray cluster with 2 CPUs, as `ray start --head` makes one; its address.

    Started with ``--block`` in its own session, so that teardown stops exactly this cluster
    (its process group), not every Ray process on the machine as `ray stop` would."""
    cli = Path(sys.executable).with_name("ray")
    if not cli.exists():
        cli = Path(shutil.which("ray") or "ray")
    port = "6391"
    # Ray 2.5x turns on token authentication for clusters that `ray start` makes; a local test
    # cluster needs none.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    start = [str(cli), "start", "--head", "--block", "--num-cpus", "2", "--port", port,
             "--include-dashboard", "false", "--disable-usage-stats",
             "--temp-dir", str(tmp_path_factory.mktemp("ray"))]  # fmt: skip
    head = subprocess.Popen(
        start,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    seen: list[str] = []
    deadline = time.monotonic() + 300
    assert head.stdout is not None
    for line in head.stdout:
        seen.append(line)
        if "Ray runtime started" in line or time.monotonic() > deadline:
            break
    if head.poll() is not None or not any("Ray runtime started" in x for x in seen):
        os.killpg(head.pid, signal.SIGKILL)
        pytest.fail("ray start failed: " + "".join(seen)[-2000:])
    threading.Thread(target=head.stdout.read, daemon=True).start()  # keep its pipe drained
    try:
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            # A graceful stop takes Ray half a minute here; what is left by then is killed.
            head.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()


def test_the_small_corpus_on_a_running_2_cpu_ray_cluster_is_byte_identical_to_local(
    small_corpus: tuple[CorpusConfig, Path], ray_head: str, tmp_path: Path
) -> None:
    config, local = small_corpus
    on_ray = config.with_overrides(["executor.kind=ray"])
    out = tmp_path / "ray"
    result = build_corpus(on_ray, out, workers=2, ray_address=ray_head)
    assert not ray.is_initialized()  # it connected to the cluster and let go of it
    assert tree_sha256(out) == tree_sha256(local)  # every shard, the tokenizer, shards.json
    ray_stats, local_stats = read_manifest(out).stats, read_manifest(local).stats
    assert ray_stats.pop("executor") == "ray" and local_stats.pop("executor") == "local"
    assert ray_stats == local_stats
    # The executor is not identity: the Ray-built corpus has the local build's config hash.
    assert result.manifest.config_sha256 == read_manifest(local).config_sha256
    logs = out.parent / f".{out.name}.work"  # the scratch dir is gone after success
    assert not logs.exists()


def _fail_on_rank_1(data: Any, rank: int = 0, world_size: int = 1) -> Any:
    if rank == 1:
        raise RuntimeError("rank 1 breaks on purpose")
    return data


def test_an_incomplete_ray_stage_fails_naming_the_failed_rank_and_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No address and no $RAY_ADDRESS: a local 2-CPU cluster is started, and stopped after.
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    stages: list[tuple[str, list[Any], int]] = [("1-step", [_fail_on_rank_1], 2), ("2-next", [], 1)]
    seen: list[str] = []
    with pytest.raises(ClusterError) as info:
        run_ray(
            stages,
            tmp_path,
            workers=2,
            settings=None,
            on_stage=lambda i, n, name: seen.append(name),
        )
    assert not ray.is_initialized()
    message = str(info.value)
    log = tmp_path / "logs" / "1-step" / "logs" / "task_00001.log"
    assert "stage 1-step: only 1/2 Ray tasks completed; failed rank(s) 1" in message
    assert str(log) in message and "rank 1 breaks on purpose" in log.read_text()
    assert seen == ["1-step"]  # the next stage never started


def test_a_ray_task_no_node_can_hold_is_refused_instead_of_waiting_forever(
    ray_head: str, tmp_path: Path
) -> None:
    from lemur_data.corpus.config import RayConfig

    with pytest.raises(ClusterError, match="cpus_per_task is 64 but the Ray cluster has 2 CPUs"):
        run_ray(
            [("1-step", [], 1)],
            tmp_path,
            workers=1,
            settings=RayConfig(cpus_per_task=64),
            address=ray_head,
        )
