"""A run against three data-parallel replicas of one model (real loopback servers answering from
the fixtures' scripted agent), one of which dies mid-run: no episode is lost and every episode
comes out as it does against one server; the replica list is transport, not the run's identity,
and the runner's concurrency is per replica."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lemur_agents.models import OpenAIChatModel, OpenAISpec
from lemur_agents.models.loopback_server import FaultPlan, LoopbackServer
from lemur_bench import read_episodes, run_suite
from lemur_bench import runner as runner_module
from lemur_bench.fixtures import SCRIPT_NAME
from lemur_core import TerminationReason

# Single-turn, multi-turn tool use, and the simulated user (played by the same servers).
SUITE = "gsm8k,mmlu,mint-gsm8k,mint-humaneval,mint-gsm8k-nl"
FAST: dict[str, Any] = {
    "timeout": 2.0,
    "max_retries": 4,
    "backoff_seconds": 0.01,
    "max_backoff_seconds": 0.2,
    "replica_cooldown_seconds": 0.2,
    "concurrency": 2,
}


def _serve(fixtures: Path, plan: FaultPlan | None = None) -> LoopbackServer:
    return LoopbackServer.scripted(fixtures / SCRIPT_NAME, plan=plan).start()


def _spec(servers: list[LoopbackServer]) -> OpenAISpec:
    first, *rest = servers
    return first.spec(**FAST).model_copy(update={"replicas": tuple(s.url for s in rest)})


def _outcomes(out: Path) -> dict[str, Any]:
    """What each episode came to: its end, score and every completion the agent gave."""
    return {
        r.episode_id: (r.termination, r.success, r.score, [t.raw_output for t in r.turns])
        for r in read_episodes(out / "episodes.jsonl")
    }


@pytest.fixture(scope="module")
def one_replica(fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    server = _serve(fixtures)
    out = tmp_path_factory.mktemp("one") / "run"
    try:
        run_suite(SUITE, _spec([server]), out, tasks_dir=fixtures, progress=False, concurrency=2)
    finally:
        server.stop()
    return out


def test_three_replicas_one_killed_mid_run_lose_no_episode_and_equal_a_one_replica_run(
    fixtures: Path, one_replica: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live: list[int] = []
    play = runner_module._play_episodes

    def spy(*args: Any, **kwargs: Any) -> Any:
        live.append(kwargs["max_live_episodes"])
        return play(*args, **kwargs)

    monkeypatch.setattr(runner_module, "_play_episodes", spy)
    servers = [_serve(fixtures), _serve(fixtures, FaultPlan(die_after=2)), _serve(fixtures)]
    out = tmp_path / "run"
    spec = _spec(servers)
    model = spec.build()  # built here to see what its replica pool met
    try:
        summary = run_suite(
            SUITE, spec, out, tasks_dir=fixtures, progress=False, concurrency=2, model=model
        )
    finally:
        for server in servers:
            server.stop()
    assert live == [6]  # concurrency 2 per replica, 3 replicas
    assert servers[1].dead and servers[1].completions == 2  # it died mid-run ...
    assert servers[0].completions > 0 and servers[2].completions > 0  # ... the others carried on
    assert isinstance(model, OpenAIChatModel) and model.pool.replicas[1].failed >= 1
    records = read_episodes(out / "episodes.jsonl")
    ids = [r.episode_id for r in records]
    assert len(ids) == len(set(ids)) == summary["status"]["planned"]  # none lost, none doubled
    assert all(r.termination is not TerminationReason.MODEL_ERROR for r in records)
    assert summary["status"]["complete"] and (out / "manifest.json").exists()
    assert _outcomes(out) == _outcomes(one_replica)


def test_a_run_is_the_same_run_against_another_set_of_replicas(
    fixtures: Path, one_replica: Path
) -> None:
    # The one-replica run, asked again against two other servers, is reused as it is.
    servers = [_serve(fixtures), _serve(fixtures)]
    try:
        summary = run_suite(SUITE, _spec(servers), one_replica, tasks_dir=fixtures, progress=False)
    finally:
        for server in servers:
            server.stop()
    assert summary["status"]["complete"]
    assert servers[0].requests == servers[1].requests == 0
