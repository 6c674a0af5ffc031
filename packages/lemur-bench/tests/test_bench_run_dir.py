"""The run directory on lemur-core's stage contract, with real processes where it matters:
one writer at a time, a killed writer taken over and resumed, reuse that checks its files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lemur_agents.models.loopback_server import FaultPlan, LoopbackServer
from lemur_bench import read_episodes, run_suite
from lemur_bench.fixtures import SCRIPT_NAME
from lemur_bench.run_dir import staging_dir
from lemur_core import read_manifest
from lemur_core.stage import StageStatus

SUITE = "text"


def _cli(out: Path, fixtures: Path, model: str, suite: str = SUITE) -> list[str]:
    return [
        sys.executable,
        "-m",
        "lemur_bench.cli",
        "run",
        "--suite",
        suite,
        "--model",
        model,
        "--out",
        str(out),
        "--tasks-dir",
        str(fixtures),
        "--concurrency",
        "1",
    ]


def _wait_for(condition, seconds: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail("timed out waiting for the first run")


def test_a_second_writer_is_refused_and_a_killed_one_is_taken_over_and_resumed(
    fixtures: Path, tmp_path: Path
) -> None:
    # A slow server (0.15 s per answer, one request at a time) keeps the first run going.
    server = LoopbackServer.scripted(
        fixtures / SCRIPT_NAME, plan=FaultPlan(latency_seconds=0.15)
    ).start()
    try:
        model = server.spec().to_string()
        out = tmp_path / "run"
        episodes = staging_dir(out) / "episodes.jsonl"
        log = (tmp_path / "first.log").open("w")
        first = subprocess.Popen(
            _cli(out, fixtures, model, "all"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for(lambda: episodes.exists() and len(episodes.read_text().splitlines()) >= 2)
            second = subprocess.run(
                _cli(out, fixtures, model, "all"), capture_output=True, text=True, timeout=120
            )
            assert first.poll() is None, (tmp_path / "first.log").read_text()
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)  # kill -9: it leaves its lock and scratch
            first.wait()
        assert second.returncode != 0
        message = second.stdout + second.stderr
        assert "already running" in message and f"pid {first.pid}" in message, message
        assert len(message.strip().splitlines()) <= 2, message  # one line, no traceback
        partial = len(read_episodes(episodes))
        assert partial >= 2 and not (out / "manifest.json").exists()
    finally:
        server.stop()
    # The take-over needs no slow server; the server's address is not part of the run.
    with LoopbackServer.scripted(fixtures / SCRIPT_NAME) as fast:
        again = subprocess.run(
            _cli(out, fixtures, fast.spec().to_string(), "all"),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert again.returncode == 0, again.stdout + again.stderr
    manifest = read_manifest(out, kind="eval_run")
    records = read_episodes(out / "episodes.jsonl")
    assert manifest.stats["episodes"] == len(records) > partial
    assert len({r.episode_id for r in records}) == len(records)  # none lost, none doubled
    assert not staging_dir(out).parent.exists()  # scratch (and caches) gone with the publish
    # Every published file is listed with its size and sha256.
    listed = {f.path for f in manifest.files}
    assert {"episodes.jsonl", "summary.json", "run_config.json"} <= listed
    assert all(f.size > 0 and len(f.sha256) == 64 for f in manifest.files)


def _scripted(fixtures: Path, out: Path, **kw: object) -> dict:  # type: ignore[type-arg]
    return run_suite(
        SUITE,
        f"scripted:{fixtures / SCRIPT_NAME}",
        out,
        tasks_dir=fixtures,
        progress=False,
        **kw,  # type: ignore[arg-type]
    )


def test_reuse_is_reported_and_checks_sizes_and_verify_checks_hashes(
    fixtures: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    first = _scripted(fixtures, out)
    assert first.stage.status is StageStatus.FRESH and not first.stage.reused  # type: ignore[attr-defined]
    again = _scripted(fixtures, out)
    assert again.stage.reused and again["tasks"] == first["tasks"]  # type: ignore[attr-defined]

    # Same size, other bytes: only --verify (verify=True) sees it, and rebuilds.
    episodes = out / "episodes.jsonl"
    good = episodes.read_bytes()
    episodes.write_bytes(good.replace(b'"', b"'", 1))
    assert _scripted(fixtures, out).stage.reused  # type: ignore[attr-defined]
    rebuilt = _scripted(fixtures, out, verify=True)
    assert rebuilt.stage.status is StageStatus.FRESH  # type: ignore[attr-defined]
    assert len(read_episodes(episodes)) == first["n_episodes"]

    # A truncated episodes.jsonl is seen by the size check alone.
    episodes.write_bytes(episodes.read_bytes()[:-10])
    fixed = _scripted(fixtures, out)
    assert not fixed.stage.reused  # type: ignore[attr-defined]
    assert len(read_episodes(episodes)) == first["n_episodes"]


def test_a_new_label_keeps_the_published_run_whole(fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    _scripted(fixtures, out)
    relabelled = _scripted(fixtures, out, label="my model")
    assert relabelled.stage.reused and relabelled["model"] == "my model"  # type: ignore[attr-defined]
    # The manifest lists the rewritten summary: a verified reuse still passes.
    assert _scripted(fixtures, out, label="my model", verify=True).stage.reused  # type: ignore[attr-defined]


def test_unfinished_work_of_another_config_is_refused_naming_the_field(
    fixtures: Path, tmp_path: Path
) -> None:
    from lemur_agents.models import ModelError, ScriptedChatModel
    from lemur_bench.runner import RunIncompleteError
    from lemur_core import StaleArtifactError

    class DiesAfterOne(ScriptedChatModel):
        def generate(self, conversations, params):  # type: ignore[no-untyped-def]
            if self.calls >= 1:
                raise ModelError("the server went away")
            return super().generate(conversations, params)

    out = tmp_path / "run"
    model = DiesAfterOne.from_file(fixtures / SCRIPT_NAME)
    with pytest.raises(RunIncompleteError):
        _scripted(fixtures, out, model=model, concurrency=1)
    with pytest.raises(StaleArtifactError, match="max_new_tokens"):
        _scripted(fixtures, out, max_new_tokens=64)
    # The same config resumes it.
    done = _scripted(fixtures, out)
    assert done.stage.status is StageStatus.RESUMED and done["resumed_episodes"] >= 1  # type: ignore[attr-defined]


def test_view_shows_an_unfinished_run_without_writing_into_its_directory(
    fixtures: Path, tmp_path: Path
) -> None:
    # The server dies after 3 answers: the run stops unfinished, its episodes left in scratch.
    with LoopbackServer.scripted(fixtures / SCRIPT_NAME, plan=FaultPlan(die_after=3)) as server:
        model = server.spec(max_retries=0).to_string()  # the dead server is not waited for
        out = tmp_path / "run"
        stopped = subprocess.run(_cli(out, fixtures, model), capture_output=True, text=True)
    assert stopped.returncode != 0 and not (out / "manifest.json").exists()
    assert read_episodes(staging_dir(out) / "episodes.jsonl")
    before = sorted(p.name for p in out.iterdir()) if out.exists() else []
    shown = subprocess.run(
        [sys.executable, "-m", "lemur_bench.cli", "view", str(out)],
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    viewer = tmp_path / "run.viewer.html"
    assert viewer.is_file() and "mmlu" in viewer.read_text(encoding="utf-8")
    assert (sorted(p.name for p in out.iterdir()) if out.exists() else []) == before
