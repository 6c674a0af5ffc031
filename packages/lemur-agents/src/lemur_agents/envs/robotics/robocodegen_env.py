"""``lemur/RoboCodeGen-v0``: RoboCodeGen's original problems as a multi-turn env (Lemur's
Table 5 setting, 5 turns).

Each task is one problem of the notebook :func:`~lemur_agents.envs.robotics.robocodegen.
load_notebook` reads; an action is the function's code (fenced or bare), checked by
:func:`~lemur_agents.envs.robotics.robocodegen.check_solution` in the sandbox. Passing ends the
episode with reward 1; otherwise the observation is the first failure, for the next attempt.
Every step's info records ``input_mode`` and ``seed``, so a record says which inputs it saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lemur_agents.envs.base import EnvTask, TextTaskEnv
from lemur_agents.envs.robotics.env import code_of
from lemur_agents.envs.robotics.robocodegen import (
    NOTEBOOK_NAME,
    InputMode,
    RoboCodeGenProblem,
    check_solution,
    instruction_of,
    load_notebook,
)
from lemur_agents.sandbox import Sandbox, SandboxLimits


class RoboCodeGenTask(EnvTask):
    """One notebook problem; ``task_id`` is ``robocodegen/<f_name>``."""

    problem: RoboCodeGenProblem


class RoboCodeGenConfig(BaseModel):
    """Configuration of :class:`RoboCodeGenEnv`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    notebook_path: Path = Field(description="the downloaded Code-as-Policies RoboCodeGen .ipynb")
    input_mode: InputMode = Field(
        "seeded", description="seeded: np.random.seed(seed) first; official: unseeded (upstream)"
    )
    seed: int = 0
    max_turns: int = Field(5, ge=1)
    run_timeout_s: float = Field(30.0, gt=0)
    limits: SandboxLimits = Field(default_factory=SandboxLimits)


class RoboCodeGenEnv(TextTaskEnv[RoboCodeGenTask]):
    """The notebook's 37 problems under its own check; see the module docstring."""

    engine = "cpython+numpy+shapely (sandboxed subprocess)"

    def __init__(self, config: RoboCodeGenConfig | Mapping[str, Any] | None = None) -> None:
        if config is None or (isinstance(config, Mapping) and "notebook_path" not in config):
            # The notebook is not shipped (it is Google's file): say where to get it.
            raise ValueError(
                f"{type(self).__name__} needs config={{'notebook_path': PATH}}: download "
                f"{NOTEBOOK_NAME!r} from google-research/google-research, code_as_policies/"
            )
        cfg = config if isinstance(config, RoboCodeGenConfig) else RoboCodeGenConfig(**config)
        self.config = cfg
        self.suite = load_notebook(cfg.notebook_path)
        tasks = [
            RoboCodeGenTask(
                task_id=f"robocodegen/{p.f_name}", instruction=instruction_of(p), problem=p
            )
            for p in self.suite.problems
        ]
        super().__init__(tasks, cfg.max_turns)
        self.sandbox = Sandbox(cfg.limits)
        self.isolation = self.sandbox.isolation_level

    def _start(self, task: RoboCodeGenTask) -> str:
        return task.instruction

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        assert self.task is not None
        verdict = check_solution(
            self.suite,
            self.task.problem,
            code_of(action),
            input_mode=self.config.input_mode,
            seed=self.config.seed,
            sandbox=self.sandbox,
            timeout_s=self.config.run_timeout_s,
        )
        info = {"input_mode": verdict.input_mode, "seed": verdict.seed, "total": verdict.total}
        if verdict.passed:
            return f"All {verdict.total} tests passed.", 1.0, True, info
        return verdict.feedback, 0.0, False, info

    def close(self) -> None:
        """Remove the sandbox's scratch directories."""
        self.sandbox.close()
