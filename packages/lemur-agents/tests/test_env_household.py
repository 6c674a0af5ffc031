"""lemur/Household-v0: ALFWorld's grammar, responses, admissible commands and six task types."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import lemur_agents.envs  # noqa: F401 - registers the envs
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from lemur_agents.actions import ALFWORLD_SCHEMA, PythonCallMapper, SymbolicMapper
from lemur_agents.envs.household import (
    NOTHING_HAPPENS,
    TASK_TYPES,
    HouseholdConfig,
    HouseholdEnv,
    HouseholdWorld,
    generate_task,
    generate_tasks,
    load_tasks,
    oracle_plan,
    save_tasks,
)


def test_household_env_passes_gymnasium_check_env() -> None:
    env = gym.make("lemur/Household-v0")
    check_env(env.unwrapped)


def test_default_tasks_cover_all_six_alfworld_task_types() -> None:
    env = HouseholdEnv()
    assert {t.task_type for t in env.tasks} == set(TASK_TYPES)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(TASK_TYPES), st.integers(0, 10_000))
def test_oracle_plan_of_any_generated_task_wins_using_only_admissible_commands(
    task_type: str, seed: int
) -> None:
    task = generate_task(task_type, seed)  # type: ignore[arg-type]
    env = HouseholdEnv(tasks=[task])
    _, info = env.reset()
    assert info["won"] is False  # the goal never holds at the start
    reward, terminated = 0.0, False
    for command in oracle_plan(task):
        assert command in info["admissible_commands"]
        observation, reward, terminated, _, info = env.step(command)
        assert observation != NOTHING_HAPPENS
    assert (reward, terminated, info["won"]) == (1.0, True, True)


def test_a_policy_that_wanders_never_wins() -> None:
    env = HouseholdEnv()
    for task in env.tasks:
        _, info = env.reset(options={"task_id": task.task_id})
        for _ in range(10):
            go = next(c for c in info["admissible_commands"] if c.startswith("go to"))
            _, reward, terminated, truncated, info = env.step(go)
            assert reward == 0.0 and not terminated
            if truncated:
                break


def test_invalid_or_impossible_commands_answer_nothing_happens() -> None:
    env = HouseholdEnv()
    env.reset(options={"task_id": "pick_heat_then_place_in_recep/0"})
    assert env.step("dance wildly")[0] == NOTHING_HAPPENS
    assert env.step("take tomato 1 from shelf 1")[0] == NOTHING_HAPPENS  # not at the shelf yet
    assert env.step("heat tomato 1 with microwave 1")[0] == NOTHING_HAPPENS  # not holding it
    assert env.step("think: where is the tomato?")[0] == "OK."


def test_closed_receptacles_hide_their_contents_until_opened() -> None:
    world = HouseholdWorld.from_scene(generate_task("pick_and_place_simple", 3).scene)
    closed = next(r for r in world.order if not world.is_open[r])
    assert world.execute(f"go to {closed}") == f"You arrive at {closed}. The {closed} is closed."
    assert world.execute(f"open {closed}").startswith(
        f"You open the {closed}. The {closed} is open."
    )
    assert world.execute(f"open {closed}") == NOTHING_HAPPENS
    assert world.execute(f"close {closed}") == f"You close the {closed}."
    assert world.execute("inventory") == "You are not carrying anything."


def test_alfworld_schema_mappers_produce_commands_the_game_accepts() -> None:
    symbolic, python = SymbolicMapper(ALFWORLD_SCHEMA), PythonCallMapper(ALFWORLD_SCHEMA)
    task = generate_task("pick_clean_then_place_in_recep", 1)
    env = HouseholdEnv(tasks=[task])
    env.reset()
    reward = 0.0
    for command in oracle_plan(task):
        # python form -> typed action -> symbolic form: the game must accept it unchanged
        as_python = python.render(symbolic.parse(command))
        _, reward, *_ = env.step(symbolic.render(python.parse(as_python)))
    assert reward == 1.0


def test_generation_is_deterministic_and_tasks_round_trip_through_jsonl(tmp_path: Path) -> None:
    assert generate_tasks(2, seed=5) == generate_tasks(2, seed=5)
    path = save_tasks(generate_tasks(1, seed=9), tmp_path / "tasks.jsonl")
    assert load_tasks(path) == generate_tasks(1, seed=9)
    env = HouseholdEnv(HouseholdConfig(tasks_path=path))
    assert len(env.tasks) == 6
