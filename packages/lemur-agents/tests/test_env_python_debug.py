"""lemur/PythonDebug-v0: MINT-style execute/solution turns in the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import lemur_agents.envs  # noqa: F401 - registers the envs
import pytest
from gymnasium.utils.env_checker import check_env
from lemur_agents.actions import MINT_FORMAT_HINT
from lemur_agents.envs.python_debug import PythonDebugEnv, humaneval_tasks, load_tasks

REPO_ROOT = Path(__file__).resolve().parents[3]
MINT = REPO_ROOT.parent / "shared" / "benchmarks" / "mint"


@pytest.fixture(scope="module")
def env() -> Iterator[PythonDebugEnv]:
    environment = PythonDebugEnv()
    yield environment
    environment.close()


def test_python_debug_env_passes_gymnasium_check_env() -> None:
    environment = gym.make("lemur/PythonDebug-v0")
    check_env(environment.unwrapped)
    environment.close()


def test_oracle_solution_is_correct_and_a_wrong_one_is_not(env: PythonDebugEnv) -> None:
    for task in env.tasks:
        env.reset(options={"task_id": task.task_id})
        observation, reward, terminated, _, _ = env.step("<solution>def f(): pass</solution>")
        assert (reward, terminated) == (0.0, False) and "wrong" in observation
        observation, reward, terminated, _, info = env.step(
            f"<solution>{task.reference_solution}</solution>"
        )
        assert (reward, terminated) == (1.0, True), observation
        assert info["isolation"] == env.isolation and info["engine"]


def test_execute_shows_tracebacks_and_keeps_session_state(env: PythonDebugEnv) -> None:
    env.reset(options={"task_id": "fixture/median"})
    observation, *_ = env.step("<execute>x = 41\n1/0</execute>")
    assert "ZeroDivisionError" in observation and "4 steps left" in observation
    observation, *_ = env.step("<execute>print(x + 1)</execute>")
    assert "42" in observation


def test_untagged_reply_gets_mints_format_hint(env: PythonDebugEnv) -> None:
    env.reset(options={"task_id": "fixture/rle"})
    observation, reward, _, _, info = env.step("I think the answer is a loop.")
    assert observation.startswith(MINT_FORMAT_HINT) and reward == 0.0
    assert info["action_executed"] is False


def test_running_out_of_solution_chances_ends_the_episode(env: PythonDebugEnv) -> None:
    env.reset(options={"task_id": "fixture/rle"})
    env.step("<solution>def rle(s): return None</solution>")
    _, reward, terminated, _, _ = env.step("<solution>def rle(s): return 1</solution>")
    assert terminated and reward == 0.0


def test_solution_that_hangs_is_stopped_and_scored_zero(env: PythonDebugEnv) -> None:
    env.reset(options={"task_id": "fixture/rle"})
    fast = env.config.model_copy(update={"check_timeout_s": 1.0})
    env.config = fast
    _, reward, _, _, _ = env.step("<solution>def rle(s):\n    while True: pass</solution>")
    assert reward == 0.0


def test_humaneval_canonical_solutions_from_the_package_pass() -> None:
    tasks = humaneval_tasks()
    assert len(tasks) == 164
    environment = PythonDebugEnv(tasks=tasks[:5])
    for task in environment.tasks:
        environment.reset(options={"task_id": task.task_id})
        assert environment.check(task.reference_solution or "")[0], task.task_id
    environment.close()


@pytest.mark.shared_data
@pytest.mark.parametrize("subset", ["humaneval", "mbpp"])
def test_mint_reference_solutions_pass_their_hidden_tests(subset: str) -> None:
    path = MINT / subset / "test_prompts.json"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    tasks = load_tasks(path)
    environment = PythonDebugEnv(tasks=tasks[:8])
    for task in environment.tasks:
        environment.reset(options={"task_id": task.task_id})
        _, reward, *_ = environment.step(f"<solution>{task.reference_solution}</solution>")
        assert reward == 1.0, task.task_id
    environment.close()


@pytest.mark.parametrize(
    "exit_call", ["import sys\nsys.exit(0)", "import os\nos._exit(0)", "exit()", "raise SystemExit"]
)
def test_a_solution_that_exits_before_the_tests_fails(env: PythonDebugEnv, exit_call: str) -> None:
    env.reset(options={"task_id": "fixture/rle"})
    passed, verdict = env.check(f"def rle(s):\n    return None\n{exit_call}\n")
    assert not passed and "before its tests finished" in verdict


def test_a_correct_solution_that_prints_past_the_output_cap_passes(env: PythonDebugEnv) -> None:
    task = env.tasks[1]
    env.reset(options={"task_id": task.task_id})
    noisy = f"{task.reference_solution}\nprint('x' * (3 << 20))\nimport os\nos.write(1, b'y' * (2 << 20))"
    assert env.check(noisy) == (True, "passed")


def test_a_cell_that_kills_the_interpreter_is_recorded_as_a_session_restart(
    env: PythonDebugEnv,
) -> None:
    env.reset(options={"task_id": "fixture/median"})
    _, _, _, _, info = env.step("<execute>x = 41</execute>")
    assert info["session_restarted"] is False
    _, _, _, _, info = env.step("<execute>import os\nos._exit(3)</execute>")
    assert info["session_restarted"] is True
    # The fresh interpreter lost x: the next cell says so instead of answering from stale state.
    observation, _, _, _, info = env.step("<execute>print(x + 1)</execute>")
    assert "NameError" in observation and info["session_restarted"] is False
