"""WebArena's judged checks in a run: unscorable episodes are counted apart, never as failures."""

from __future__ import annotations

from lemur_bench.summary import summarize
from lemur_core import EpisodeRecord, Message, Role, TerminationReason, TurnRecord


def _web(task: str, success: bool, info: dict[str, object]) -> EpisodeRecord:
    turn = TurnRecord(
        index=0,
        prompt=(Message(role=Role.USER, content=task),),
        raw_output="stop(answer='x')",
        observation="",
        reward=float(success),
        info=info,
    )
    return EpisodeRecord(
        episode_id=f"webarena/{task}",
        benchmark="webarena",
        task_id=task,
        model="m",
        max_turns=30,
        turns=(turn,),
        success=success,
        score=float(success),
        termination=TerminationReason.SOLVED if success else TerminationReason.MAX_TURNS,
    )


def test_unscorable_webarena_episodes_are_reported_apart_from_the_rate() -> None:
    records = [
        _web("1", True, {"answer": "x"}),
        _web("2", False, {"answer": "y"}),
        _web("3", False, {"answer": "z", "unscorable": "fuzzy_match needs an LLM judge"}),
    ]
    task = summarize(records, skipped={}, data_sha256={}, config={"model": "m"})["tasks"][
        "webarena"
    ]
    assert task["unscorable"] == 1
    assert (task["n"], task["successes"], task["rate"]) == (2, 1, 0.5)


def test_judge_model_reaches_the_web_env_config() -> None:
    from pathlib import Path

    from lemur_bench.envs import EnvContext, WebArenaEnv

    ctx = EnvContext(judge_model="scripted:judge.yaml")
    kwargs = WebArenaEnv().kwargs(Path("tasks.json"), 30, ctx)
    assert kwargs["config"]["judge_model"] == "scripted:judge.yaml"
    assert "judge_model" not in WebArenaEnv().kwargs(Path("t.json"), 30, EnvContext())["config"]
