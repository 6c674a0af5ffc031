"""The agent fixtures RoboCodeGen, InterCode-Bash and InterCode-CTF run end to end with the
scripted agent: none is skipped, and every episode gets the verdict its script plans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lemur_agents.envs.robotics import fixture_tasks, load_tasks
from lemur_bench import get_task, read_episodes, run_suite
from lemur_bench.fixtures import SCRIPT_NAME
from lemur_bench.loaders import LoaderError
from lemur_bench.loaders import load_tasks as load_bench_tasks

SUITE = "robocodegen,intercode-bash,intercode-ctf"

# episode id -> (success, turns taken, termination)
PLANNED = {
    "robocodegen/robotics/get_midpoint": (True, 1, "solved"),
    "robocodegen/robotics/get_objs_left_of": (True, 2, "solved"),
    "robocodegen/robotics/interpolate_pts": (False, 5, "max_turns"),
    "intercode-bash/nl2bash_fs_1/0": (True, 2, "solved"),
    "intercode-bash/nl2bash_fs_1/1": (False, 2, "submitted"),
    "intercode-ctf/0": (True, 2, "solved"),
    "intercode-ctf/1": (False, 2, "submitted"),
}


@pytest.fixture(scope="module")
def agent_run(fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "agents"
    run_suite(SUITE, f"scripted:{fixtures / SCRIPT_NAME}", out, tasks_dir=fixtures, progress=False)
    return out


def _summary(run: Path) -> dict[str, Any]:
    return dict(json.loads((run / "summary.json").read_text()))


def test_no_agent_fixture_task_is_skipped(agent_run: Path) -> None:
    summary = _summary(agent_run)
    assert summary["skipped_tasks"] == {}
    assert set(summary["tasks"]) == set(SUITE.split(","))


def test_every_episode_gets_its_planned_verdict(agent_run: Path) -> None:
    records = read_episodes(agent_run / "episodes.jsonl")
    verdicts = {r.episode_id: (r.success, len(r.turns), r.termination) for r in records}
    assert verdicts == PLANNED


def test_robocodegen_succeeds_on_turns_one_and_two_and_never_after(agent_run: Path) -> None:
    robocodegen = _summary(agent_run)["tasks"]["robocodegen"]
    assert robocodegen["success_by_turn"] == pytest.approx([1 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3])
    # The second-turn success follows the env's feedback on a failing first attempt.
    records = {r.episode_id: r for r in read_episodes(agent_run / "episodes.jsonl")}
    first = records["robocodegen/robotics/get_objs_left_of"].turns[0]
    assert first.reward == 0.0 and "expected:" in first.observation and "got:" in first.observation


def test_the_robocodegen_fixture_is_a_lemur_agents_task_file(fixtures: Path) -> None:
    written = load_tasks(fixtures / "robocodegen" / "tasks.json")
    builtin = {t.task_id: t for t in fixture_tasks()}
    assert written == [builtin[t.task_id] for t in written]
    bench_tasks, _ = load_bench_tasks(get_task("robocodegen"), fixtures)
    assert [t.task_id for t in bench_tasks] == [t.task_id for t in written]
    assert [t.reference for t in bench_tasks] == [t.reference for t in written]


def test_a_robocodegen_file_without_task_fields_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "robocodegen" / "tasks.json"
    path.parent.mkdir()
    path.write_text(json.dumps([{"task_id": "old-0", "instruction": "Write move_to(x, y)."}]))
    with pytest.raises(LoaderError, match=r"RoboCodeGen row 0: missing field\(s\) \['entry_point'"):
        load_bench_tasks(get_task("robocodegen"), tmp_path)
