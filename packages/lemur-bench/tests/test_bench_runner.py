"""The runner end to end on the fixtures with the scripted agent: every suite completes,
records carry their provenance, a killed run resumes to the same results, the cache replays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lemur_bench import read_episodes, run_suite
from lemur_bench.fixtures import SCRIPT_NAME
from lemur_bench.run_dir import staging_dir
from lemur_bench.runner import RunIncompleteError
from lemur_core import StaleArtifactError, read_manifest
from lemur_core.stage import StageStatus


@pytest.fixture(scope="module")
def all_run(fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "all"
    run_suite("all", f"scripted:{fixtures / SCRIPT_NAME}", out, tasks_dir=fixtures, progress=False)
    return out


def _comparable(path: Path) -> dict[str, tuple]:
    return {
        r.episode_id: (
            r.success,
            r.score,
            r.termination,
            tuple((t.raw_output, t.observation, t.reward, t.parsed_action) for t in r.turns),
        )
        for r in read_episodes(path)
    }


def test_suite_all_completes_offline_with_scripted_agent(all_run: Path) -> None:
    import json

    summary = json.loads((all_run / "summary.json").read_text())
    assert read_manifest(all_run, kind="eval_run").stats["episodes"] == summary["n_episodes"]
    tasks = summary["tasks"]
    # Every suite is represented, and the deliberately wrong answers show up as failures.
    for name in (
        "mmlu",
        "gsm8k",
        "humaneval",
        "spider",
        "mint-gsm8k",
        "mint-humaneval",
        "intercode-sql",
        "alfworld",
    ):
        assert tasks[name]["n"] >= 1, name
    assert tasks["mmlu"]["rate"] == 0.5 and tasks["spider"]["rate"] == 0.5
    assert tasks["mint-gsm8k"]["success_by_turn"][:2] == [0.0, 1.0]
    assert "mint-gsm8k-nl" in summary["delta_feedback"]
    # Whatever cannot run here is listed with its reason, never silently dropped.
    for name, why in summary["skipped_tasks"].items():
        assert why, name


def test_records_carry_config_data_versions_and_isolation(all_run: Path) -> None:
    records = read_episodes(all_run / "episodes.jsonl")
    assert records
    for r in records:
        assert r.config_sha256 and r.data_sha256
        assert "lemur-bench" in r.package_versions
    mint = [r for r in records if r.benchmark == "mint-gsm8k"]
    assert mint and all(
        "netns" in (r.sandbox_isolation or "") or "rlimits" in (r.sandbox_isolation or "")
        for r in mint
    )


def test_a_finished_run_is_not_run_again_and_a_different_config_is_refused(
    all_run: Path, fixtures: Path
) -> None:
    before = (all_run / "episodes.jsonl").read_bytes()
    run_suite(
        "all", f"scripted:{fixtures / SCRIPT_NAME}", all_run, tasks_dir=fixtures, progress=False
    )
    assert (all_run / "episodes.jsonl").read_bytes() == before
    with pytest.raises(StaleArtifactError, match="limit_per_task"):
        run_suite(
            "all",
            f"scripted:{fixtures / SCRIPT_NAME}",
            all_run,
            tasks_dir=fixtures,
            limit_per_task=1,
            progress=False,
        )


def test_killed_run_resumes_to_the_same_results_as_an_uninterrupted_run(
    all_run: Path, fixtures: Path, tmp_path: Path
) -> None:
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "lemur_bench.cli",
        "run",
        "--suite",
        "all",
        "--model",
        f"scripted:{fixtures / SCRIPT_NAME}",
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
    # Until the run is complete its episodes are in the scratch directory, not in --out.
    episodes = staging_dir(out) / "episodes.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if episodes.exists() and len(episodes.read_text().splitlines()) >= 4:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(read_episodes(episodes))
    assert 4 <= partial < len(read_episodes(all_run / "episodes.jsonl"))
    assert not (out / "summary.json").exists() and not (out / "manifest.json").exists()
    summary = run_suite(
        "all",
        f"scripted:{fixtures / SCRIPT_NAME}",
        out,
        tasks_dir=fixtures,
        concurrency=1,
        progress=False,
    )
    assert summary["resumed_episodes"] == partial
    assert summary.stage.status is StageStatus.RESUMED and not staging_dir(out).exists()  # type: ignore[attr-defined]
    assert _comparable(out / "episodes.jsonl") == _comparable(all_run / "episodes.jsonl")


def test_request_cache_answers_a_rerun_without_the_model(fixtures: Path, tmp_path: Path) -> None:
    from lemur_agents.models import BatchModelError, ModelError, ScriptedChatModel

    class FailsOnceOnTheFirst(ScriptedChatModel):
        """The first conversation of the first call fails (the server dropped it)."""

        def generate(self, conversations, params):  # type: ignore[no-untyped-def]
            outs: list[str | ModelError] = list(super().generate(conversations, params))
            if self.calls == 1:
                outs[0] = ModelError("dropped")
                raise BatchModelError(outs)
            return [o for o in outs if isinstance(o, str)]

    out = tmp_path / "cached"
    model = FailsOnceOnTheFirst.from_file(fixtures / SCRIPT_NAME)
    with pytest.raises(RunIncompleteError) as failed:
        run_suite("text", "scripted:x", out, tasks_dir=fixtures, model=model, progress=False)
    first = failed.value.summary
    assert first["status"]["model_errors"] == 1 and first["cache"]["misses"] > 1
    # As if every episode had been in flight when the run was killed: only their answers
    # (in the request cache, in the scratch directory) are left.
    (staging_dir(out) / "episodes.jsonl").unlink()
    calls = model.calls
    second = run_suite("text", "scripted:x", out, tasks_dir=fixtures, model=model, progress=False)
    assert model.calls == calls + 1  # only the dropped request is asked again
    assert (
        second["cache"]["misses"] == 1 and second["cache"]["hits"] == first["cache"]["misses"] - 1
    )
    assert second["status"]["complete"] and (out / "manifest.json").exists()


def test_exact_mint_runs_each_turn_budget_separately(fixtures: Path, tmp_path: Path) -> None:
    summary = run_suite(
        "mint-gsm8k",
        f"scripted:{fixtures / SCRIPT_NAME}",
        tmp_path / "exact",
        tasks_dir=fixtures,
        exact_mint=True,
        progress=False,
    )
    by_k = summary["tasks"]["mint-gsm8k"]["exact_mint_by_budget"]
    # The scripted agent answers on its second turn: a 1-turn budget cannot solve it.
    assert by_k == {"1": 0.0, "2": 1.0, "3": 1.0, "4": 1.0, "5": 1.0}


def test_only_text_scored_single_turn_tasks_step_on_the_loop_thread(fixtures: Path) -> None:
    # gsm8k's numeric check reads text; humaneval's runs code in a sandbox and MINT's envs
    # keep an interpreter: those must keep their worker-thread steps.
    from lemur_bench.runner import RunConfig, plan_episodes

    cfg = RunConfig(suite="all", model="scripted:x", tasks_dir=str(fixtures))
    episodes, _, _ = plan_episodes(cfg)
    inline = {e.benchmark: e.inline_env for e in episodes}
    # Exactly the single-turn tasks scored by reading text (a regex, a letter match).
    assert {b for b, flag in inline.items() if flag} == {"gsm8k", "mmlu", "bbh"}
    assert not inline["mint-gsm8k"] and not inline["humaneval"] and not inline["spider"]
