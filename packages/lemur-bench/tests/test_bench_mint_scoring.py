"""MINT's scoring in two named modes: `mint` gives MINT's verdicts (its code, quirks included),
`corrected` fixes the quirks. The replies below are real ones from MINT's recorded outputs
(github.com/xingyaoww/mint-bench, data/outputs/<model>/F=None/...), with MINT's logged verdict;
docs/scoring-modes.md tabulates the same rows."""

from __future__ import annotations

from typing import Any

import pytest
from lemur_bench.loaders import BenchTask
from lemur_bench.scorers import SCORERS, get_scorer, score
from lemur_bench.scorers.mint_answers import mint_options, theoremqa_value

MMLU_54321 = "What is the largest factor of 54,321 that is less than 54,321?\nOptions: A ) 6 , B ) 121 , C ) 18107 , D ) 54,320"

# (scorer, reply, reference, metadata, MINT's verdict = mint mode, corrected), all real replies.
REAL = [
    # ReasoningTask: a numeric reference matched as a substring of an expression.
    ("mint_answer", "48 - 3*H", "3", {}, True, False),
    (
        "mint_answer",
        "The Juice Box was discontinued in 2005, so it is no longer available.",
        "2",
        {},
        True,
        False,
    ),
    # ... and a plain answer with thousands separators, which float() refuses.
    ("mint_answer", "$131,250", "131250", {}, False, True),
    ("mint_answer", "144 square units", "144.0", {}, False, True),
    ("mint_answer", "42 years", "42.0", {}, False, True),
    # HotpotQA: "no" inside "not"; the same names with an Oxford comma.
    (
        "mint_answer",
        "Skeptical Inquirer is a tabloid-style magazine, while The Progressive Populist is not.",
        "no",
        {},
        True,
        False,
    ),
    (
        "mint_answer",
        "Max Martin, Savan Kotecha, and Ilya Salmanzadeh",
        "max martin, savan kotecha and ilya salmanzadeh",
        {},
        False,
        True,
    ),
    # MultipleChoiceTask: the reference letter anywhere in the reply wins.
    (
        "mint_choice",
        "C ) France",
        "a",
        {"options": {"a": "the u.s.s.r", "b": "the u.s", "c": "france", "d": "a and b"}},
        True,
        False,
    ),
    ("mint_choice", "C) 18107", "c", {}, True, True),
    # ... and its list mutation drops the right option's text from the wrong ones too late.
    (
        "mint_choice",
        "120",
        "b",
        {"options": {"a": "1", "b": "120", "c": "20", "d": "12"}},
        False,
        True,
    ),
    # TheoremqaTask: `math` is not in the namespace MINT's eval sees.
    ("mint_theoremqa", "-0.25 + 0.25*math.e", 0.4295, {"answer_type": "float"}, False, True),
    (
        "mint_theoremqa",
        "c ) $\\Phi(\\Phi^T\\Phi)^{-1}\\Phi^T$",
        "c",
        {"answer_type": "option"},
        True,
        True,
    ),
    ("mint_theoremqa", "[5, 0]", [0, 5], {"answer_type": "list of integer"}, True, True),
]


def _task(ref: Any, meta: dict[str, Any], prompt: str = MMLU_54321) -> BenchTask:
    return BenchTask(task_id="t", prompt=prompt, reference=ref, metadata=meta)


@pytest.mark.parametrize(("name", "reply", "ref", "meta", "mint", "corrected"), REAL)
def test_real_replies_get_mints_verdict_in_mint_mode_and_the_fix_in_corrected(
    name: str, reply: str, ref: Any, meta: dict[str, Any], mint: bool, corrected: bool
) -> None:
    task = _task(ref, meta)
    assert score(name, reply, task, scoring_mode="mint").correct is mint
    assert score(name, reply, task, scoring_mode="corrected").correct is corrected


def test_mint_tolerance_is_5_percent_of_the_absolute_reference() -> None:
    for mode in ("mint", "corrected"):
        assert score("mint_answer", "10.4", _task("10", {}), scoring_mode=mode).correct  # type: ignore[arg-type]
        assert not score("mint_answer", "10.6", _task("10", {}), scoring_mode=mode).correct  # type: ignore[arg-type]
        # MINT's code since 3f7f12c: negative references match too (its older logs say no).
        assert score("mint_answer", "-5.1", _task("-5", {}), scoring_mode=mode).correct  # type: ignore[arg-type]


def test_mmlu_letter_check_only_ever_recognises_a() -> None:
    # MINT's loop over letters returns on its first letter, so "a)" is the only form it maps.
    assert score("mint_choice", "A) 6", _task("a", {}), scoring_mode="mint").correct
    assert not score("mint_choice", "B) 121", _task("c", {}), scoring_mode="mint").correct
    assert mint_options(MMLU_54321) == {"a": "6", "b": "121", "c": "18107", "d": "54,320"}


def test_theoremqa_booleans_powers_and_xor_follow_mints_eval() -> None:
    # Not found among MINT's recorded replies; written to pin the rules of its code.
    assert theoremqa_value("True.") is True
    assert theoremqa_value("true.") is None  # only the exact word "true" is lower-cased
    assert theoremqa_value("true.", "corrected") is True
    assert theoremqa_value("3 x 10^8") is None  # rewritten to math.pow, and math is unknown
    assert theoremqa_value("3 x 10^8", "corrected") == 3e8
    assert theoremqa_value("2^3") == 1  # ^ is XOR under eval
    assert theoremqa_value("2^3", "corrected") == 8
    with pytest.raises(ValueError, match="empty tuple"):
        theoremqa_value("()")  # MINT indexes prediction[0]: its check raises


HE_PROMPT = "from typing import List\n\n\ndef double(xs: List[int]) -> List[int]:\n    ...\n"
HE_TEST = "def check(candidate):\n    assert candidate([1, 2]) == [2, 4]\n\ncheck(double)"


def test_code_check_does_not_prepend_the_prompts_imports_in_mint_mode() -> None:
    # As gpt-3.5 answered MINT HumanEval/0: the signature restated, the import left out.
    reply = "def double(xs: List[int]) -> List[int]:\n    return [2 * x for x in xs]"
    task = _task(HE_TEST, {}, prompt=HE_PROMPT)
    assert not score("mint_code", reply, task, scoring_mode="mint").correct
    assert score("mint_code", reply, task, scoring_mode="corrected").correct
    assert score("mint_code", "from typing import List\n" + reply, task).correct


@pytest.mark.parametrize("early", ["import sys\nsys.exit(0)", "import os\nos._exit(0)", "exit()"])
def test_a_solution_that_leaves_before_the_tests_fails_in_both_modes(early: str) -> None:
    task = _task(HE_TEST, {}, prompt=HE_PROMPT)
    for mode in ("mint", "corrected"):
        assert not score("mint_code", early, task, scoring_mode=mode).correct  # type: ignore[arg-type]


def test_every_registered_scorer_exists_and_scores() -> None:
    assert "env" not in SCORERS
    for name, scorer in SCORERS.items():
        assert scorer.name == name
        assert get_scorer(name, "corrected").mode == "corrected"
    assert score(
        "mint_code", "def double(xs): return [2*x for x in xs]", _task(HE_TEST, {})
    ).correct
    with pytest.raises(KeyError, match="did you mean 'mint_code'"):
        get_scorer("mint_cod")
