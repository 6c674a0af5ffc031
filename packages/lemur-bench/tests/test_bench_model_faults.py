"""The runner against a real OpenAI-compatible server on loopback that misbehaves
(lemur_agents.models.loopback_server, answering from the fixtures' scripted agent).

A flaky server loses nothing and scores what a healthy one scores; a dead or wrong endpoint
ends an unfinished run (no manifest, the counts said, exit 1) that a re-run completes; the
server's address, the timeout and the concurrency are not the run's identity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from lemur_agents.models.loopback_server import FaultPlan, LoopbackServer
from lemur_bench import read_episodes, run_suite
from lemur_bench.cli import app
from lemur_bench.fixtures import SCRIPT_NAME
from lemur_bench.run_dir import staging_dir
from lemur_bench.runner import RunIncompleteError
from lemur_core import EpisodeRecord, Role, StaleArtifactError, TerminationReason
from lemur_core.stage import StageBusyError
from typer.testing import CliRunner

# Single-turn, multi-turn tool use, and the simulated user (played by the same server).
SUITE = "gsm8k,mmlu,mint-gsm8k,mint-humaneval,mint-gsm8k-nl"
FAST: dict[str, Any] = {
    "timeout": 0.5,
    "max_retries": 4,
    "backoff_seconds": 0.01,
    "max_backoff_seconds": 0.2,
}


def _serve(fixtures: Path, **kwargs: Any) -> LoopbackServer:
    return LoopbackServer.scripted(fixtures / SCRIPT_NAME, **kwargs).start()


def _run(fixtures: Path, out: Path, spec: Any, **kwargs: Any) -> dict[str, Any]:
    return run_suite(SUITE, spec, out, tasks_dir=fixtures, progress=False, **kwargs)


def _task_text(record: EpisodeRecord) -> str:
    """The task as the model saw it: the first user message of the first prompt."""
    return next(m.content for m in record.turns[0].prompt if m.role is Role.USER)


def _rates(summary: dict[str, Any]) -> dict[str, Any]:
    return {name: (t["n"], t["rate"]) for name, t in summary["tasks"].items()}


@pytest.fixture(scope="module")
def clean(fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    server = _serve(fixtures)
    try:
        return _run(fixtures, tmp_path_factory.mktemp("clean") / "run", server.spec(**FAST))
    finally:
        server.stop()


def test_a_flaky_server_loses_nothing_and_scores_what_a_healthy_one_scores(
    fixtures: Path, clean: dict[str, Any], tmp_path: Path
) -> None:
    plan = FaultPlan(rate=0.5, repeats=2, hang_seconds=1.0, retry_after_seconds=0.02)
    server = _serve(fixtures, plan=plan)
    try:
        summary = _run(fixtures, tmp_path / "run", server.spec(**FAST))
    finally:
        server.stop()
    assert sum(server.stats.values()) >= 10 and len(server.stats) >= 6  # faults of most kinds
    records = read_episodes(tmp_path / "run" / "episodes.jsonl")
    ids = [r.episode_id for r in records]
    assert len(ids) == len(set(ids)) == clean["status"]["planned"]  # none lost, none doubled
    assert all(r.termination is not TerminationReason.MODEL_ERROR for r in records)
    assert summary["status"]["complete"] and _rates(summary) == _rates(clean)
    assert (tmp_path / "run" / "manifest.json").exists()


def _dead_port() -> int:
    server = LoopbackServer(lambda m, b: "")
    port = server.port
    server.stop()  # nothing listens there any more: connections are refused
    return port


BROKEN: dict[str, Any] = {
    "unreachable": {"url": "dead"},
    "dns": {"url": "http://lemur-no-such-host.invalid/v1"},
    "html_200": {"plan": FaultPlan(always="html")},
    "no_choices_200": {"plan": FaultPlan(always="no_choices")},
    "http_500": {"plan": FaultPlan(always="http500")},
    "wrong_model_404": {"model": "not-served"},
    "killed_mid_run": {"plan": FaultPlan(die_after=4)},
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_endpoint_gives_an_unfinished_run_that_a_healthy_rerun_completes(
    case: str, fixtures: Path, clean: dict[str, Any], tmp_path: Path
) -> None:
    how = BROKEN[case]
    server = _serve(fixtures, plan=how.get("plan"))
    spec = server.spec(model=how.get("model"), **FAST)
    if "url" in how:
        url = f"http://127.0.0.1:{_dead_port()}/v1" if how["url"] == "dead" else how["url"]
        spec = spec.model_copy(update={"base_url": url})
    out = tmp_path / "run"
    try:
        with pytest.raises(RunIncompleteError, match="run incomplete") as info:
            _run(fixtures, out, spec, concurrency=4, max_consecutive_model_errors=4)
    finally:
        server.stop()
    status = info.value.summary["status"]
    planned = clean["status"]["planned"]
    assert not status["complete"] and status["planned"] == planned
    assert status["model_errors"] >= 1 and status["finished"] < planned
    assert status["stopped_early"]  # it did not churn through the whole suite
    if case == "wrong_model_404":
        assert "serves lemur" in status["last_model_error"]
    assert not (out / "manifest.json").exists()
    # Unpublished: the partial run waits in the scratch directory (lemur_bench.run_dir).
    assert json.loads((staging_dir(out) / "summary.json").read_text())["status"] == status

    # Against a healthy server (another port): only the unfinished episodes are asked for.
    finished_tasks = {
        _task_text(r)
        for r in read_episodes(staging_dir(out) / "episodes.jsonl")
        if r.termination is not TerminationReason.MODEL_ERROR and r.turns
    }
    healthy = _serve(fixtures)
    try:
        summary = _run(fixtures, out, healthy.spec(**FAST))
    finally:
        healthy.stop()
    assert summary["status"]["complete"] and _rates(summary) == _rates(clean)
    assert healthy.requests > 0
    assert not finished_tasks & set(healthy.first_user_messages())
    assert (out / "manifest.json").exists()


def test_the_cli_exits_nonzero_and_says_how_many_episodes_did_not_finish(
    fixtures: Path, tmp_path: Path
) -> None:
    spec = f"openai:http://127.0.0.1:{_dead_port()}/v1?timeout=0.5&max_retries=0#lemur"
    args = ["run", "--suite", "gsm8k", "--model", spec, "--out", str(tmp_path / "run")]
    # --no-preflight: this is about the runner's own accounting of a dead server.
    result = CliRunner().invoke(app, [*args, "--tasks-dir", str(fixtures), "--no-preflight"])
    assert result.exit_code == 4, result.output  # model/server class (docs/errors.md)
    text = " ".join(result.output.split())
    assert "run incomplete: 0 of 2 planned episodes finished, 2 ended in model_error" in text
    assert "ConnectError" in text and "Traceback" not in text
    # A report over the run says it is unfinished, with the counts.
    from lemur_bench import write_report

    write_report([tmp_path / "run"], tmp_path / "report")
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Unfinished runs" in report
    assert "0 of 2 planned episodes finished (2 model_error, 0 not run)" in report
    assert "unfinished:" in (tmp_path / "report" / "report.html").read_text()


def test_a_killed_run_resumes_after_the_timeout_and_port_change_running_only_the_rest(
    fixtures: Path, clean: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    first = _serve(fixtures)
    cmd = [
        sys.executable,
        "-m",
        "lemur_bench.cli",
        "run",
        "--suite",
        SUITE,
        "--model",
        f"openai:{first.url}?timeout=30&concurrency=1#lemur",
        "--out",
        str(out),
        "--tasks-dir",
        str(fixtures),
        "--concurrency",
        "1",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    episodes = staging_dir(out) / "episodes.jsonl"  # unpublished until complete
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if episodes.exists() and len(episodes.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first.stop()
    done = read_episodes(episodes)
    assert 3 <= len(done) < clean["status"]["planned"]
    done_tasks = {_task_text(r) for r in done if r.turns}

    second = _serve(fixtures)
    assert second.port != first.port
    try:  # another port, timeout, concurrency and retry budget: the same run
        summary = _run(fixtures, out, f"openai:{second.url}?timeout=5&max_retries=2#lemur")
    finally:
        second.stop()
    assert summary["resumed_episodes"] == len(done)
    assert not done_tasks & set(second.first_user_messages())
    assert _rates(summary) == _rates(clean)
    # Finished: reused as is from any address, even one where nothing listens.
    again = _run(fixtures, out, f"openai:http://127.0.0.1:{_dead_port()}/v1#lemur")
    assert again["tasks"] == summary["tasks"]
    # Another served model is another run.
    with pytest.raises(StaleArtifactError, match="model"):
        _run(fixtures, out, f"openai:{second.url}#other-model")


def test_a_second_writer_is_refused_until_the_first_is_killed(
    fixtures: Path, clean: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    stuck = _serve(fixtures, plan=FaultPlan(always="hang", hang_seconds=60))
    cmd = [
        sys.executable,
        "-m",
        "lemur_bench.cli",
        "run",
        "--suite",
        SUITE,
        "--model",
        f"openai:{stuck.url}?timeout=60#lemur",
        "--out",
        str(out),
        "--tasks-dir",
        str(fixtures),
        "--no-preflight",  # its first request must come from inside the locked run directory
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    healthy = _serve(fixtures)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and stuck.requests == 0:
            time.sleep(0.05)  # the first run is now inside its run directory, waiting
        assert stuck.requests > 0
        with pytest.raises(StageBusyError, match=rf"already running \(pid {proc.pid}"):
            _run(fixtures, out, healthy.spec(**FAST))
        result = CliRunner().invoke(
            app,
            [
                "run",
                "--suite",
                SUITE,
                "--model",
                healthy.spec().to_string(),
                "--out",
                str(out),
                "--tasks-dir",
                str(fixtures),
                "--no-preflight",  # the lock is what refuses, before any request
            ],
        )
        assert result.exit_code == 5 and "already running" in result.output
        assert healthy.requests == 0
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        summary = _run(fixtures, out, healthy.spec(**FAST))  # the lock died with its holder
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        stuck.stop()
        healthy.stop()
    assert summary["status"]["complete"] and _rates(summary) == _rates(clean)


def test_the_cache_keeps_the_answers_of_a_partly_failed_batch(tmp_path: Path) -> None:
    from lemur_agents.models import BatchModelError, ModelError, OpenAIChatModel
    from lemur_bench.cache import CachedChatModel
    from lemur_core import GenerationParams, Message

    def answer(messages: list[dict[str, str]], body: dict[str, Any]) -> str:
        if "poison" in messages[-1]["content"]:
            raise ModelError("refused")
        return "ok " + messages[-1]["content"]

    def ask(*texts: str) -> list[list[Message]]:
        return [[Message(role=Role.USER, content=t)] for t in texts]

    with LoopbackServer(answer) as server:
        model = CachedChatModel(
            OpenAIChatModel(server.url, "lemur", max_retries=0), tmp_path / "cache.sqlite"
        )
        assert model.generate(ask("a"), GenerationParams()) == ["ok a"]
        with pytest.raises(BatchModelError) as info:
            model.generate(ask("a", "b", "poison", "c"), GenerationParams())
        outputs = info.value.outputs  # the cached hit and both new answers, in order
        assert outputs[:2] == ["ok a", "ok b"] and outputs[3] == "ok c"
        assert isinstance(outputs[2], ModelError)
        sent = server.requests
        assert model.generate(ask("c", "b", "a"), GenerationParams()) == ["ok c", "ok b", "ok a"]
        assert server.requests == sent  # all three from the cache
        model.close()
