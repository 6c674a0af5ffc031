"""RoboCodeGen's notebook loader and check protocol, on a notebook fixture the test writes and,
when the user has downloaded it (``LEMUR_ROBOCODEGEN_NOTEBOOK``), on the published notebook."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env
from lemur_agents.envs.robotics.robocodegen import (
    UPSTREAM_PROBLEM_COUNT,
    RoboCodeGenNotebookError,
    check_solution,
    load_notebook,
    write_fixture_notebook,
)

# The published notebook's structure at small size: a shell cell, the prompt cell (prompt_f_gen,
# prompt_f_gen_exec, context_vars) and a problems cell with two lists, a cell-level reference
# function that needs a helper, random inputs, np.allclose and operator.eq.
_SHELL = "! pip install numpy > /dev/null 2>&1\nimport numpy as np"
_PROMPT = """prompt_f_gen = '''
import numpy as np

# define function: total = get_total(xs=numbers).
def get_total(xs):
    return np.sum(xs)
'''.strip()

prompt_f_gen_exec = '''
import numpy as np

def get_total(xs):
    return np.sum(xs)
'''.strip()

context_vars = {}
exec(prompt_f_gen_exec, context_vars)"""
_PROBLEMS = """import numpy as np
from operator import eq

def _centroid(pts_np):
  return np.mean(pts_np, axis=0)

def shift_to_origin(pts_np):
  return pts_np - _centroid(pts_np)

problems_np = [
  {
    'f_name': 'get_top_most_idx',
    'f_sig': 'idx = get_top_most_idx(points_np)',
    'f_sol': lambda points_np: np.argmax(points_np[:, 1]),
    'test_input_args': [(np.random.random((10, 2)),) for _ in range(5)],
    'test_equiv': np.allclose
  },
  {
    'f_name': 'shift_to_origin',
    'f_sig': 'new_pts_np = shift_to_origin(pts_np)',
    'f_sol': shift_to_origin,
    'test_input_args': [(np.random.random((4, 2)),) for _ in range(3)],
    'test_equiv': np.allclose
  },
]

problems_api = [
  {
    'f_name': 'count_positive',
    'f_sig': 'n = count_positive(xs)',
    'f_sol': lambda xs: int(np.sum(np.asarray(xs) > 0)),
    'test_input_args': [(np.random.random(6) - 0.5,) for _ in range(4)],
    'test_equiv': eq
  },
]

all_problems = problems_np + problems_api
print('n problems:', len(all_problems))
context_vars['extra'] = 1"""


@pytest.fixture
def fixture_notebook(tmp_path: Path) -> Path:
    return write_fixture_notebook(tmp_path / "robocodegen.ipynb", [_SHELL, _PROMPT, _PROBLEMS])


def test_fixture_notebook_loads_problems_in_all_problems_order(fixture_notebook: Path) -> None:
    suite = load_notebook(fixture_notebook)
    assert [p.f_name for p in suite.problems] == [
        "get_top_most_idx",
        "shift_to_origin",
        "count_positive",
    ]
    assert [p.group for p in suite.problems] == ["problems_np", "problems_np", "problems_api"]
    top = suite.problems[0]
    assert top.prompt.endswith("# define function: idx = get_top_most_idx(points_np).")
    assert top.prompt.startswith("import numpy as np")
    assert top.test_equiv == "np.allclose" and "np.random.random((10, 2))" in top.test_inputs
    # A cell-level reference carries the helper it calls, so it runs on its own.
    assert "def _centroid" in suite.problems[1].reference


def test_references_pass_and_wrong_answers_fail_on_the_fixture(fixture_notebook: Path) -> None:
    suite = load_notebook(fixture_notebook)
    for problem in suite.problems:
        verdict = check_solution(suite, problem, problem.reference)
        assert verdict.passed, (problem.f_name, verdict.feedback)
        assert verdict.input_mode == "seeded" and verdict.seed == 0
    top = suite.problems[0]
    wrong = check_solution(suite, top, "def get_top_most_idx(p):\n    return np.argmin(p[:, 1])")
    assert not wrong.passed and wrong.feedback.startswith("Test failed: get_top_most_idx")
    # exec_safe's rule: no 'import', no '__' anywhere in the answer.
    banned = check_solution(
        suite, top, "import numpy\ndef get_top_most_idx(p):\n    return numpy.argmax(p[:, 1])"
    )
    assert not banned.passed and "'import'" in banned.feedback
    # The answer sees prompt_f_gen_exec's names (get_total) and may define its own helpers.
    helper = "def _ys(p):\n    return p[:, 1] + get_total([0])\ndef get_top_most_idx(p):\n"
    helper += "    return np.argmax(_ys(p))"
    assert check_solution(suite, top, helper).passed


def test_seeded_inputs_repeat_and_official_ones_do_not(fixture_notebook: Path) -> None:
    suite = load_notebook(fixture_notebook)
    top = suite.problems[0]
    # An answer that prints nothing but fails on a fixed input reveals that input in feedback.
    probe = "def get_top_most_idx(p):\n    return -1"
    first = check_solution(suite, top, probe, seed=7).feedback
    assert first == check_solution(suite, top, probe, seed=7).feedback
    assert first != check_solution(suite, top, probe, seed=8).feedback
    official = [check_solution(suite, top, probe, input_mode="official") for _ in range(2)]
    assert official[0].seed is None and official[0].input_mode == "official"
    assert official[0].feedback != official[1].feedback


def test_error_feedback_shows_the_answer_frames_only_and_repeats(fixture_notebook: Path) -> None:
    suite = load_notebook(fixture_notebook)
    top = suite.problems[0]
    crash = "def _half(p):\n    return 1 / 0\ndef get_top_most_idx(p):\n    return _half(p)"
    first = check_solution(suite, top, crash).feedback
    assert first == check_solution(suite, top, crash).feedback
    assert 'File "<solution>", line 2, in _half' in first and "ZeroDivisionError" in first
    assert "harness" not in first and "lemur-robocodegen-" not in first
    syntax = check_solution(suite, top, "def get_top_most_idx(p):\n    return (").feedback
    assert syntax.startswith("Error:\n") and "SyntaxError" in syntax and "harness" not in syntax


def test_a_file_that_is_not_the_notebook_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "x.ipynb").write_text("not json")
    with pytest.raises(RoboCodeGenNotebookError, match="not a Jupyter notebook"):
        load_notebook(tmp_path / "x.ipynb")
    other = write_fixture_notebook(tmp_path / "other.ipynb", ["x = 1"])
    with pytest.raises(RoboCodeGenNotebookError, match="prompt_f_gen, prompt_f_gen_exec"):
        load_notebook(other)
    with pytest.raises(RoboCodeGenNotebookError, match="cannot read"):
        load_notebook(tmp_path / "missing.ipynb")


_NOTEBOOK = os.environ.get("LEMUR_ROBOCODEGEN_NOTEBOOK")


@pytest.mark.slow
@pytest.mark.skipif(not _NOTEBOOK, reason="set LEMUR_ROBOCODEGEN_NOTEBOOK to the downloaded file")
@pytest.mark.skipif(
    importlib.util.find_spec("shapely") is None, reason="the notebook's problems need shapely"
)
def test_published_notebook_has_37_problems_and_every_reference_passes() -> None:
    assert _NOTEBOOK is not None
    suite = load_notebook(_NOTEBOOK)
    assert len(suite.problems) == UPSTREAM_PROBLEM_COUNT
    assert [p.group for p in suite.problems].count("problems_np") == 16
    failures = {
        p.f_name: verdict.feedback
        for p in suite.problems
        if not (verdict := check_solution(suite, p, p.reference)).passed
    }
    assert not failures
    # The same check refuses an answer that returns nothing, on every problem.
    accepted = [
        p.f_name
        for p in suite.problems
        if check_solution(suite, p, f"def {p.f_name}(*args, **kwargs):\n    return None").passed
    ]
    assert not accepted


def test_env_plays_a_problem_to_reward_one_on_the_second_turn(fixture_notebook: Path) -> None:
    from lemur_agents.envs.robotics.robocodegen_env import RoboCodeGenEnv

    env = RoboCodeGenEnv({"notebook_path": fixture_notebook, "seed": 3})
    try:
        obs, _ = env.reset(options={"task_id": "robocodegen/count_positive"})
        assert "# define function: n = count_positive(xs)." in obs and "'import'" in obs
        obs, reward, done, _, info = env.step(
            "```python\ndef count_positive(xs):\n    return 0\n```"
        )
        assert (reward, done) == (0.0, False) and obs.startswith("Test failed")
        assert info["input_mode"] == "seeded" and info["seed"] == 3
        answer = "def count_positive(xs):\n    return int(sum(1 for x in xs if x > 0))"
        obs, reward, done, _, _ = env.step(answer)
        assert (reward, done) == (1.0, True) and obs == "All 4 tests passed."
    finally:
        env.close()


def test_registered_env_passes_gymnasium_check_env(fixture_notebook: Path) -> None:
    environment = gym.make("lemur/RoboCodeGen-v0", config={"notebook_path": fixture_notebook})
    try:
        check_env(environment.unwrapped)
    finally:
        environment.close()


def test_make_without_a_notebook_names_the_file_to_download() -> None:
    with pytest.raises(ValueError, match=r"notebook_path.*Experiment_ Robot Code-Gen Benchmark"):
        gym.make("lemur/RoboCodeGen-v0")
