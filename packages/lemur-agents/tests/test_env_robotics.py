"""lemur/RoboticsAPI-v0: RoboCodeGen-style functions checked on seeded inputs in the sandbox,
and its task file (JSON lines of RoboticsTask) read back, refused clearly when malformed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import lemur_agents.envs  # noqa: F401 - registers the envs
import pytest
from gymnasium.utils.env_checker import check_env
from lemur_agents.envs.robotics import (
    TASK_FILE_FORMAT,
    RoboticsApiEnv,
    RoboticsCase,
    RoboticsConfig,
    RoboticsTask,
    RoboticsTaskFileError,
    Scene,
    fixture_tasks,
    load_tasks,
    make_cases,
    outputs_match,
    write_tasks,
)
from lemur_agents.envs.robotics.api import SceneObject


@pytest.fixture(scope="module")
def env() -> Iterator[RoboticsApiEnv]:
    environment = RoboticsApiEnv(RoboticsConfig(cases=6))
    yield environment
    environment.close()


def test_robotics_env_passes_gymnasium_check_env() -> None:
    environment = gym.make("lemur/RoboticsAPI-v0", config={"cases": 2})
    check_env(environment.unwrapped)
    environment.close()


@pytest.mark.parametrize(
    ("task_id", "wrong"),
    [
        # clockwise instead of counter-clockwise
        (
            "robotics/rotate_point",
            "def rotate_point(pt, angle_deg, origin):\n"
            "    a = np.deg2rad(-angle_deg)\n"
            "    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])\n"
            "    return rot @ (np.asarray(pt) - origin) + origin",
        ),
        # right set, wrong order
        (
            "robotics/get_objs_left_of",
            "def get_objs_left_of(name):\n"
            "    x = get_obj_pos(name)[0]\n"
            "    return sorted(n for n in get_obj_names() if get_obj_pos(n)[0] < x)",
        ),
        # off by one point
        (
            "robotics/interpolate_pts",
            "def interpolate_pts(p1, p2, n):\n    return np.linspace(p1, p2, n + 1)",
        ),
    ],
)
def test_reference_solves_and_a_plausible_wrong_solution_does_not(
    env: RoboticsApiEnv, task_id: str, wrong: str
) -> None:
    env.reset(options={"task_id": task_id})
    observation, reward, terminated, _, info = env.step(f"```python\n{wrong}\n```")
    assert (reward, terminated) == (0.0, False)
    assert "expected" in observation and info["passed"] < info["total"]
    assert env.task is not None
    _, reward, terminated, _, info = env.step(f"```python\n{env.task.reference}\n```")
    assert (reward, terminated) == (1.0, True)
    assert info["isolation"] == env.sandbox.isolation_level


def test_exceptions_come_back_as_tracebacks(env: RoboticsApiEnv) -> None:
    env.reset(options={"task_id": "robotics/get_midpoint"})
    observation, reward, *_ = env.step("def get_midpoint(p1, p2):\n    return p1 / 0 + undefined")
    assert reward == 0.0 and "NameError" in observation


def test_cases_are_a_function_of_the_seed() -> None:
    first, again, other = fixture_tasks(seed=1), fixture_tasks(seed=1), fixture_tasks(seed=2)
    assert make_cases(first[0]) == make_cases(again[0])
    assert make_cases(first[0]) != make_cases(other[0])


def test_outputs_match_uses_tolerance_and_respects_types_and_shapes() -> None:
    assert outputs_match([0.1, 0.2], [0.1 + 1e-6, 0.2])
    assert not outputs_match([0.1, 0.2], [0.1, 0.2, 0.3])
    assert not outputs_match(True, 1)
    assert not outputs_match("red block", "blue bowl")
    assert outputs_match([[1.0, 2.0]], [[1.0, 2.00001]])


# -- task files ---------------------------------------------------------------------------


def _rightmost_task() -> RoboticsTask:
    """A problem with no built-in input generator: it brings its own cases."""

    def scene(*objects: tuple[str, float, float]) -> Scene:
        return Scene(
            objects=tuple(SceneObject(name=n, pos=(x, y), size=0.05) for n, x, y in objects)
        )

    return RoboticsTask(
        task_id="file/get_rightmost_obj",
        instruction="Write def get_rightmost_obj(): the name of the object with the largest x.",
        entry_point="get_rightmost_obj",
        signature="def get_rightmost_obj():",
        reference="def get_rightmost_obj():\n"
        "    return max(get_obj_names(), key=lambda n: get_obj_pos(n)[0])",
        test_cases=(
            RoboticsCase(scene=scene(("red block", 0.2, 0.5), ("blue bowl", 0.8, 0.1)), args=()),
            RoboticsCase(
                scene=scene(
                    ("green block", 0.9, 0.9), ("red bowl", 0.1, 0.4), ("cyan bowl", 0.5, 0.5)
                ),
                args=(),
            ),
        ),
    )


def test_a_written_task_file_reads_back_equal(tmp_path: Path) -> None:
    tasks = [*fixture_tasks(seed=3, cases=4), _rightmost_task()]
    path = write_tasks(tasks, tmp_path / "tasks.json")
    assert load_tasks(path) == tasks
    assert make_cases(load_tasks(path)[-1]) == make_cases(tasks[-1])


_GOOD = fixture_tasks()[0].model_dump(mode="json", exclude_none=True)


@pytest.mark.parametrize(
    ("second_line", "problem"),
    [
        ('{"task_id": "x", "instruction": "no code"}', "entry_point: Field required"),
        ("not json at all", "Invalid JSON"),
        (
            json.dumps({**_GOOD, "task_id": "new", "entry_point": "stack_blocks"}),
            "no built-in input generator",
        ),
        (json.dumps({**_GOOD, "cases": 0}), "cases: Input should be greater than or equal to 1"),
        (json.dumps(_GOOD), "appears twice"),
    ],
)
def test_a_malformed_task_file_names_the_file_the_line_and_the_problem(
    tmp_path: Path, second_line: str, problem: str
) -> None:
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(_GOOD) + "\n" + second_line + "\n")
    with pytest.raises(RoboticsTaskFileError) as caught:
        load_tasks(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: ") and problem in message
    if "twice" not in problem:
        assert TASK_FILE_FORMAT in message


def test_an_empty_or_missing_task_file_is_refused_with_its_name(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("\n")
    with pytest.raises(RoboticsTaskFileError, match=f"{empty} holds no tasks"):
        load_tasks(empty)
    with pytest.raises(RoboticsTaskFileError, match="cannot read RoboticsAPI task file"):
        RoboticsApiEnv(RoboticsConfig(tasks_path=tmp_path / "absent.json"))


def test_gym_make_with_a_task_file_plays_its_tasks(tmp_path: Path) -> None:
    tasks = [fixture_tasks(cases=3)[0], _rightmost_task()]
    path = write_tasks(tasks, tmp_path / "tasks.json")
    environment = gym.make("lemur/RoboticsAPI-v0", config={"tasks_path": str(path)})
    try:
        assert list(environment.unwrapped.task_ids) == [t.task_id for t in tasks]  # type: ignore[attr-defined]
        observation, _ = environment.reset(options={"task_id": "file/get_rightmost_obj"})
        assert observation == tasks[1].instruction
        wrong = tasks[1].reference.replace("max(", "min(")
        observation, reward, terminated, _, _ = environment.step(f"```python\n{wrong}\n```")
        assert (reward, terminated) == (
            0.0,
            False,
        ) and "expected: blue bowl\ngot: red block" in observation
        _, reward, terminated, _, info = environment.step(tasks[1].reference)
        assert (reward, terminated, info["passed"]) == (1.0, True, 2)
    finally:
        environment.close()


def test_a_task_file_whose_reference_fails_is_refused_at_reset(tmp_path: Path) -> None:
    broken = _rightmost_task().model_copy(
        update={"reference": "def get_rightmost_obj():\n    return get_obj_pos('nothing')"}
    )
    path = write_tasks([broken], tmp_path / "tasks.json")
    environment = RoboticsApiEnv(RoboticsConfig(tasks_path=path))
    try:
        with pytest.raises(
            RuntimeError, match=r"(?s)its reference solution fails.*KeyError: .nothing."
        ):
            environment.reset(options={"task_id": broken.task_id})
    finally:
        environment.close()
