"""``lemur/RoboticsAPI-v0``: RoboCodeGen-style function writing with execution feedback.

An action is Python code defining the requested function (a fenced ```` ```python ```` block or
bare code). It runs in the sandbox after the robotics API on each seeded test case; the
outputs are compared with the reference's on the host with numeric tolerance. All cases
passing gives reward 1 and ends the episode; otherwise the observation shows the first failing
case (inputs, expected, got) or the traceback, for the next attempt (5 turns by default, as
the paper's RoboCodeGen setting).

Tasks are the eight built-in problems, or those of a task file (``config.tasks_path``, the
JSON lines of :mod:`lemur_agents.envs.robotics.task_file`). A file's reference solutions are
data, not the project's code, so they run in the sandbox too, once per task.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lemur_agents.envs.base import TextTaskEnv
from lemur_agents.envs.robotics.api import API_SOURCE
from lemur_agents.envs.robotics.problems import (
    RoboticsTask,
    fixture_tasks,
    make_cases,
    outputs_match,
    reference_outputs,
)
from lemur_agents.envs.robotics.task_file import load_tasks
from lemur_agents.sandbox import Sandbox, SandboxLimits

_FENCE = re.compile(r"```(?:python|py|python3)?[ \t]*\n(.*?)\n?```", re.S)

_HARNESS = """
import json, sys, traceback
{api}

def _encode(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value

def _arg(value):
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        return np.array(value, dtype=float)
    return value

_cases = json.load(sys.stdin)
try:
    exec(compile(open("solution.py").read(), "<solution>", "exec"), globals())
except BaseException:
    print(json.dumps({{"error": traceback.format_exc(limit=-3)}}))
    raise SystemExit(0)
_out = []
for _case in _cases:
    _SCENE.clear()
    _SCENE.update(_case["scene"])
    try:
        _out.append({{"value": _encode({entry}(*[_arg(a) for a in _case["args"]]))}})
    except BaseException:
        _out.append({{"error": traceback.format_exc(limit=-3)}})
print(json.dumps({{"results": _out}}, default=repr))
"""


def code_of(action: str) -> str:
    """The code in ``action``: its first fenced Python block, else the whole text."""
    match = _FENCE.search(action)
    return match.group(1) if match else action


class RoboticsConfig(BaseModel):
    """Configuration of :class:`RoboticsApiEnv`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks_path: Path | None = Field(
        None, description="a RoboticsAPI task file (JSON lines); default: the built-in problems"
    )
    seed: int = Field(0, description="seeds the built-in problems' test inputs")
    cases: int = Field(8, ge=1, description="seeded test cases per built-in problem")
    max_turns: int = Field(5, ge=1)
    tolerance: float = Field(1e-4, gt=0)
    run_timeout_s: float = Field(20.0, gt=0)
    limits: SandboxLimits = Field(default_factory=SandboxLimits)


class RoboticsApiEnv(TextTaskEnv[RoboticsTask]):
    """RoboCodeGen-style problems checked in the sandbox; see the module docstring."""

    engine = "cpython+numpy (sandboxed subprocess)"

    def __init__(
        self,
        config: RoboticsConfig | Mapping[str, Any] | None = None,
        *,
        tasks: Sequence[RoboticsTask] | None = None,
    ) -> None:
        cfg = config if isinstance(config, RoboticsConfig) else RoboticsConfig(**(config or {}))
        self.config = cfg
        # References the caller built (or the built-in ones) run on the host; a file's do not.
        self._sandboxed_references = tasks is None and cfg.tasks_path is not None
        if tasks is None:
            if cfg.tasks_path is not None:
                tasks = load_tasks(cfg.tasks_path)
            else:
                tasks = fixture_tasks(seed=cfg.seed, cases=cfg.cases)
        super().__init__(tasks, cfg.max_turns)
        self.sandbox = Sandbox(cfg.limits)
        self.isolation = self.sandbox.isolation_level
        self._cases: list[dict[str, Any]] = []
        self._expected: list[Any] = []
        self._expected_by_task: dict[str, list[Any]] = {}

    def _start(self, task: RoboticsTask) -> str:
        self._cases = make_cases(task)
        if task.task_id not in self._expected_by_task:
            self._expected_by_task[task.task_id] = (
                self._sandboxed_reference_outputs(task)
                if self._sandboxed_references
                else reference_outputs(task, self._cases)
            )
        self._expected = self._expected_by_task[task.task_id]
        return task.instruction

    def _sandboxed_reference_outputs(self, task: RoboticsTask) -> list[Any]:
        report = self.run_solution(task.reference)
        failed = [r["error"] for r in report.get("results", []) if "error" in r]
        if "error" in report or failed:
            error = report.get("error") or failed[0]
            raise RuntimeError(
                f"task {task.task_id!r} of {self.config.tasks_path}: its reference solution "
                f"fails, so the task cannot be checked; fix the task file:\n{error}"
            )
        return [r["value"] for r in report["results"]]

    def run_solution(self, code: str) -> dict[str, Any]:
        """Run ``code`` on every case in the sandbox; ``{"results": [...]}`` or ``{"error"}``."""
        assert self.task is not None
        work = self.sandbox.scratch_dir(prefix="lemur-robotics-")
        (work / "solution.py").write_text(code)
        harness = _HARNESS.format(api=API_SOURCE, entry=self.task.entry_point)
        (work / "harness.py").write_text(harness)
        for path in (work / "solution.py", work / "harness.py"):
            path.chmod(0o644)
        try:
            result = self.sandbox.run(
                [sys.executable, "harness.py"],
                cwd=work,
                stdin=json.dumps(self._cases),
                timeout=self.config.run_timeout_s,
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)  # one run per directory; none kept
        # Tracebacks name the scratch directory; hide it so equal code gives equal feedback.
        stdout = result.stdout.replace(f"{work}/", "")
        lines = stdout.strip().splitlines()
        if result.timed_out:
            return {"error": "Execution timed out."}
        try:
            parsed: dict[str, Any] = json.loads(lines[-1]) if lines else {}
        except json.JSONDecodeError:
            parsed = {}
        if not parsed:
            output = result.combined_output().replace(f"{work}/", "")
            return {"error": (output or "no output")[-2000:]}
        return parsed

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        assert self.task is not None
        report = self.run_solution(code_of(action))
        if "error" in report:
            return f"Error:\n{report['error']}", 0.0, False, {"passed": 0, "action_executed": False}
        results = report["results"]
        passed = 0
        failure = ""
        for case, expected, got in zip(self._cases, self._expected, results, strict=True):
            if "error" in got:
                failure = failure or (
                    f"{self.task.entry_point}(*{case['args']}) raised:\n{got['error']}"
                )
            elif outputs_match(expected, got["value"], self.config.tolerance):
                passed += 1
            else:
                failure = failure or (
                    f"Test failed: {self.task.entry_point}(*{case['args']})\n"
                    f"expected: {expected}\ngot: {got['value']}"
                )
        total = len(self._cases)
        info = {"passed": passed, "total": total, "action_executed": True}
        if passed == total:
            return f"All {total} tests passed.", 1.0, True, info
        return f"{passed}/{total} tests passed.\n{failure}", 0.0, False, info

    def close(self) -> None:
        """Remove the sandbox's scratch directories."""
        self.sandbox.close()
