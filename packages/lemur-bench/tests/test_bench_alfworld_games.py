"""`lemur-bench run --suite alfworld` on ALFWorld's own games, or on the offline stand-in.

The games are written in ALFWorld's layout by lemur-agents' adapter test (its ``write_game``:
a ``game.tw-pddl`` with an ALFRED-shaped domain, grammar and scene) and played through the
bench's whole path (loader, env object, runner, scripted agent) by TextWorld's own engine; the
stand-in is the fixtures' ``alfworld/tasks.json``. With ``LEMUR_ALFWORLD_DATA`` pointing at
MINT's ``data/processed/alfworld``, MINT's ground-truth plans are replayed through the bench on
the first real games.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType

import pytest
from lemur_bench import read_episodes, run_suite
from lemur_bench.cli import app
from lemur_bench.estimate import estimate_eval
from lemur_bench.fixtures import SCRIPT_NAME
from lemur_bench.loaders import alfworld as bench_alfworld
from lemur_bench.loaders import load_tasks
from lemur_bench.prompts import SYSTEM_PROMPTS
from lemur_bench.registry import get_task
from lemur_core import TerminationReason
from typer.testing import CliRunner


def _adapter_tests() -> ModuleType:
    # lemur-agents' adapter test writes the ALFWorld-format game; reuse it rather than copy it.
    path = Path(__file__).resolve().parents[2] / "lemur-agents/tests/test_env_alfworld_games.py"
    spec = importlib.util.spec_from_file_location("lemur_agents_alfworld_game_files", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GAMES = _adapter_tests()
GOAL = "Your task is to: examine the book with the desklamp."
needs_engine = pytest.mark.skipif(
    bench_alfworld.missing_engine() is not None,
    reason="needs TextWorld's PDDL engine: pip install 'lemur-agents[alfworld]'",
)


def _script(path: Path, completions: list[str], *, repeat_last: bool = False) -> str:
    script: dict[str, object] = {"scripts": [{"match": GOAL, "completions": completions}]}
    if repeat_last:
        script["when_exhausted"] = "repeat_last"
    path.write_text(json.dumps(script))
    return f"scripted:{path}"


def _games_dir(tmp_path: Path, *task_dirs: str) -> Path:
    tasks_dir = tmp_path / "tasks"
    for task_dir in task_dirs or (GAMES.TASK_DIR,):
        GAMES.write_game(tasks_dir / "alfworld", task_dir=task_dir)
    return tasks_dir


def _error_line(result: object) -> str:
    output = getattr(result, "output", "")
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    return lines[0]


@needs_engine
def test_the_expert_plan_wins_a_real_format_game_through_the_bench(tmp_path: Path) -> None:
    tasks_dir = _games_dir(tmp_path)
    model = _script(tmp_path / "agent.json", list(GAMES.EXPERT_PLAN))
    summary = run_suite("alfworld", model, tmp_path / "run", tasks_dir=tasks_dir, progress=False)
    assert summary["tasks"]["alfworld"]["n"] == 1 and summary["tasks"]["alfworld"]["rate"] == 1.0
    (record,) = read_episodes(tmp_path / "run" / "episodes.jsonl")
    # The record names the environment played: the real games, not the stand-in.
    assert record.env_id == "lemur/ALFWorld-v0"
    assert record.task_id == f"valid_unseen/{GAMES.TASK_DIR}/{GAMES.TRIAL}"
    assert record.success and record.termination is TerminationReason.SOLVED
    assert [t.parsed_action for t in record.turns] == GAMES.EXPERT_PLAN
    last = record.turns[-1]
    assert last.observation == "You turn on the desklamp 1." and last.info["won"] is True
    assert last.info["engine"].startswith("textworld PddlEnv")
    # The bench's alfworld prompt, and MINT's game text (the TextWorld banner dropped).
    system, task = record.turns[0].prompt[:2]
    assert system.content == SYSTEM_PROMPTS["alfworld"]
    assert task.content.startswith("You are in the middle of a room.")
    assert task.content.endswith(GOAL) and "Welcome to TextWorld" not in task.content
    _, digest = load_tasks(get_task("alfworld"), tasks_dir)
    assert record.data_sha256 == digest == summary["tasks"]["alfworld"]["data_sha256"]


@needs_engine
def test_a_game_not_won_fails_at_its_50th_command_although_mint_counts_that_a_success(
    tmp_path: Path,
) -> None:
    tasks_dir = _games_dir(tmp_path)
    # MINT's toggle() sends `toggle X`, which the game does not know ("Nothing happens.").
    model = _script(
        tmp_path / "agent.json",
        ["go to desk 1", "toggle desklamp 1", "inventory"],
        repeat_last=True,
    )
    summary = run_suite("alfworld", model, tmp_path / "run", tasks_dir=tasks_dir, progress=False)
    assert summary["tasks"]["alfworld"]["n"] == 1 and summary["tasks"]["alfworld"]["rate"] == 0.0
    (record,) = read_episodes(tmp_path / "run" / "episodes.jsonl")
    assert record.turns[1].observation == "Nothing happens."
    last = record.turns[-1].info
    # The game itself ends at its 50th command (ALFWorld's cap, which MINT uses) ...
    assert len(record.turns) == 50 and last["env_steps"] == 50
    # ... and MINT's tool reports a done game as a success; the bench scores the game's `won`.
    assert last["mint_success"] is True and last["won"] is False
    assert not record.success and record.termination is TerminationReason.SUBMITTED


@needs_engine
def test_a_think_turn_sends_no_command_but_spends_a_turn_of_the_budget(tmp_path: Path) -> None:
    tasks_dir = _games_dir(tmp_path)
    model = _script(tmp_path / "agent.json", ["think: find the book", "look"], repeat_last=True)
    run_suite("alfworld", model, tmp_path / "run", tasks_dir=tasks_dir, progress=False)
    (record,) = read_episodes(tmp_path / "run" / "episodes.jsonl")
    assert record.turns[0].observation == "OK."
    assert len(record.turns) == 50 and record.turns[-1].info["env_steps"] == 49
    assert record.termination is TerminationReason.MAX_TURNS and not record.success


@needs_engine
def test_mints_gamefile_order_decides_which_games_a_limited_run_plays(tmp_path: Path) -> None:
    other = "pick_and_place_simple-Book-None-Desk-308"
    tasks_dir = _games_dir(tmp_path, GAMES.TASK_DIR, other)
    sorted_ids = [t.task_id for t in load_tasks(get_task("alfworld"), tasks_dir)[0]]
    assert sorted_ids == sorted(sorted_ids) and len(sorted_ids) == 2
    (tasks_dir / "alfworld" / "gamefile_id.txt").write_text(
        f"{other}/{GAMES.TRIAL}\n{GAMES.TASK_DIR}/{GAMES.TRIAL}\n"
    )
    model = _script(tmp_path / "agent.json", list(GAMES.EXPERT_PLAN))
    run_suite(
        "alfworld", model, tmp_path / "run", tasks_dir=tasks_dir, limit_per_task=1, progress=False
    )
    (record,) = read_episodes(tmp_path / "run" / "episodes.jsonl")
    assert record.task_id == f"valid_unseen/{other}/{GAMES.TRIAL}" and record.success


def test_the_stand_in_is_played_when_alfworld_holds_its_tasks_json(
    fixtures: Path, tmp_path: Path
) -> None:
    summary = run_suite(
        "alfworld",
        f"scripted:{fixtures / SCRIPT_NAME}",
        tmp_path / "run",
        tasks_dir=fixtures,
        progress=False,
    )
    records = read_episodes(tmp_path / "run" / "episodes.jsonl")
    assert records and {r.env_id for r in records} == {"lemur/Household-v0"}
    assert summary["tasks"]["alfworld"]["n"] == len(records)
    assert all(r.success for r in records)  # the fixtures' scripts are the oracle plans


def test_a_directory_with_neither_is_refused_with_one_line_naming_both_layouts(
    tmp_path: Path,
) -> None:
    tasks_dir = tmp_path / "tasks"
    (tasks_dir / "alfworld").mkdir(parents=True)
    (tasks_dir / "alfworld" / "README.md").write_text("not a game\n")
    result = CliRunner().invoke(
        app,
        [
            *("run", "--suite", "alfworld", "--model", _script(tmp_path / "a.json", ["look"])),
            *("--tasks-dir", str(tasks_dir), "--out", str(tmp_path / "run")),
        ],
    )
    assert result.exit_code == 3, result.output
    line = _error_line(result)
    assert "neither ALFWorld's games" in line and "tasks.json" in line
    assert "data/processed/alfworld" in line and "lemur-bench fixtures" in line


def test_a_directory_with_both_the_games_and_the_stand_in_is_refused(tmp_path: Path) -> None:
    tasks_dir = _games_dir(tmp_path)
    (tasks_dir / "alfworld" / "tasks.json").write_text("[]\n")
    with pytest.raises(bench_alfworld.AlfworldSourceError, match="holds both"):
        load_tasks(get_task("alfworld"), tasks_dir)


def test_without_textworld_a_run_on_real_games_fails_with_one_line_saying_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_alfworld, "missing_engine", lambda: "textworld is not installed")
    tasks_dir = _games_dir(tmp_path)
    result = CliRunner().invoke(
        app,
        [
            *("run", "--suite", "alfworld", "--model", _script(tmp_path / "a.json", ["look"])),
            *("--tasks-dir", str(tasks_dir), "--out", str(tmp_path / "run")),
        ],
    )
    assert result.exit_code == 5, result.output
    line = _error_line(result)
    assert "textworld is not installed" in line and "lemur-agents[alfworld]" in line


def test_estimate_counts_the_games_on_disk(tmp_path: Path) -> None:
    tasks_dir = _games_dir(tmp_path, GAMES.TASK_DIR, "pick_and_place_simple-Book-None-Desk-308")
    assert estimate_eval("alfworld", tasks_dir=tasks_dir)["tasks"]["alfworld"]["episodes"] == 2
    assert estimate_eval("alfworld")["tasks"]["alfworld"]["episodes"] == 134  # MINT's games


_DATA = os.environ.get("LEMUR_ALFWORLD_DATA")
# How many of MINT's games (its order) to replay; 134 replays them all (about 10 min here).
_GAMES = int(os.environ.get("LEMUR_ALFWORLD_GAMES", "3"))
# Where this engine (TextWorld 1.7's PddlEnv) answers otherwise than MINT's recording: going to
# a receptacle at the agent's own location (shelf 3 and shelf 2 share one) is not a command here.
KNOWN_DIFFERENCES = {
    "valid_unseen/pick_two_obj_and_place-KeyChain-None-Safe-219/trial_T20190909_012027_782483": (
        10,
        "go to shelf 3",
        "Nothing happens.",
        "On the shelf 3, you see nothing.",
    ),
}


def _goal(game: Path) -> str:
    """The goal sentence the game's grammar prints (its ``task`` rule)."""
    grammar = json.loads(game.read_text(encoding="utf-8"))["grammar"]
    start = grammar.index("Your task is to: ")
    return grammar[start : grammar.index('"', start)]


def _rounds(items: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """(game id, goal) split into rounds without a repeated goal: a scripted agent tells games
    apart by their first message, which trials of one task in one scene share."""
    rounds: list[list[tuple[str, str]]] = []
    for item in items:
        free = next((r for r in rounds if all(goal != item[1] for _, goal in r)), None)
        if free is None:
            rounds.append([item])
        else:
            free.append(item)
    return rounds


@pytest.mark.slow
@needs_engine
@pytest.mark.skipif(not _DATA, reason="set LEMUR_ALFWORLD_DATA to MINT's data/processed/alfworld")
def test_mints_ground_truth_plans_win_the_real_games_through_the_bench(tmp_path: Path) -> None:
    assert _DATA is not None
    data = Path(_DATA).resolve()
    whole = tmp_path / "whole"
    whole.mkdir()
    (whole / "alfworld").symlink_to(data)
    tasks, _ = load_tasks(get_task("alfworld"), whole)
    if (data / "gamefile_id.txt").is_file():
        assert len(tasks) == 134  # MINT's games, in MINT's order
    plans: dict[str, tuple[list[str], list[str]]] = {}
    items = []
    for task in tasks[:_GAMES]:
        game = data / task.metadata["game_file"]
        plans[task.task_id] = GAMES._replay((game.parent / "gt_traj.txt").read_text())
        items.append((task.task_id, _goal(game)))
    records = []
    for k, chosen in enumerate(_rounds(items)):
        # Each round: the real games, and an order file naming this round's (MINT's format).
        games = tmp_path / f"tasks{k}" / "alfworld"
        games.mkdir(parents=True)
        (games / "json_2.1.1").symlink_to(data / "json_2.1.1")
        ids = [task_id.removeprefix("valid_unseen/") for task_id, _ in chosen]
        (games / "gamefile_id.txt").write_text("".join(f"{i}\n" for i in ids))
        script = {"scripts": [{"match": g, "completions": plans[t][0]} for t, g in chosen]}
        (tmp_path / f"agent{k}.json").write_text(json.dumps(script))
        run_suite(
            "alfworld",
            f"scripted:{tmp_path / f'agent{k}.json'}",
            tmp_path / f"run{k}",
            tasks_dir=games.parent,
            progress=False,
        )
        records += read_episodes(tmp_path / f"run{k}" / "episodes.jsonl")
    assert sorted(r.task_id for r in records) == sorted(plans)
    for record in records:
        commands, observations = plans[record.task_id]
        assert record.env_id == "lemur/ALFWorld-v0"
        seen = [t.observation for t in record.turns]
        if record.task_id in KNOWN_DIFFERENCES:
            turn, command, ours, mints = KNOWN_DIFFERENCES[record.task_id]
            assert (record.turns[turn].parsed_action, seen[turn]) == (command, ours)
            assert observations[turn] == mints
            seen[turn] = mints
        assert [t.parsed_action for t in record.turns] == commands[: len(seen)]
        assert seen == observations[: len(seen)], record.task_id
        if len(commands) <= 50:
            assert record.success, record.task_id
        else:  # MINT's plan is longer than the game's 50 commands: cut there, not won
            last = record.turns[-1].info
            assert len(seen) == 50 and not record.success and last["mint_success"] is True


def test_a_tasks_dir_without_alfworld_skips_the_task_naming_both_layouts(tmp_path: Path) -> None:
    (tmp_path / "tasks").mkdir()
    summary = run_suite(
        "alfworld",
        _script(tmp_path / "a.json", ["look"]),
        tmp_path / "run",
        tasks_dir=tmp_path / "tasks",
        progress=False,
    )
    why = summary["skipped_tasks"]["alfworld"]
    assert "alfworld/ (the upstream layout)" in why and "alfworld/tasks.json" in why
    assert "--tasks-dir mint-bench/data/processed" in why
