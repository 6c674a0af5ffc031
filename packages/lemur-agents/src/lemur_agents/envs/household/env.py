"""``lemur/Household-v0``: ALFWorld's text household, offline and procedurally generated.

The first observation is ALFWorld's: the room description and ``Your task is to: <goal>``.
Actions are game commands (see :mod:`lemur_agents.envs.household.world`); ReAct's
``think: ...`` answers ``OK.`` without acting. ``info["admissible_commands"]`` lists what
would do something now; ``info["won"]`` is ALFWorld's success flag; reward is 1 on the step
that satisfies the goal, which ends the episode.

:class:`~lemur_agents.envs.household.alfworld.AlfworldGameEnv` offers the same interface on
ALFWorld's own game files, played by TextWorld's PDDL engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lemur_agents.envs.base import TextTaskEnv
from lemur_agents.envs.household.tasks import (
    HouseholdTask,
    generate_tasks,
    goal_satisfied,
    load_tasks,
)
from lemur_agents.envs.household.world import HouseholdWorld


class HouseholdConfig(BaseModel):
    """Configuration of :class:`HouseholdEnv`: generated tasks by default, or a task file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks_path: Path | None = Field(None, description="JSONL of HouseholdTask (save_tasks)")
    tasks_per_type: int = Field(2, ge=1, description="generated tasks per ALFWorld task type")
    seed: int = 0
    max_turns: int = Field(50, ge=1, description="ALFWorld's ReAct budget is 50 steps")


class HouseholdEnv(TextTaskEnv[HouseholdTask]):
    """ALFWorld-style household; see the module docstring."""

    engine = "lemur household (ALFWorld text semantics)"
    isolation = "none (pure Python state, no code execution)"

    def __init__(
        self,
        config: HouseholdConfig | Mapping[str, Any] | None = None,
        *,
        tasks: Sequence[HouseholdTask] | None = None,
    ) -> None:
        cfg = config if isinstance(config, HouseholdConfig) else HouseholdConfig(**(config or {}))
        self.config = cfg
        if tasks is None:
            if cfg.tasks_path is not None:
                tasks = load_tasks(cfg.tasks_path)
            else:
                tasks = generate_tasks(cfg.tasks_per_type, cfg.seed)
        super().__init__(tasks, cfg.max_turns)
        self.world: HouseholdWorld | None = None

    def _start(self, task: HouseholdTask) -> str:
        self.world = HouseholdWorld.from_scene(task.scene)
        return f"{self.world.welcome()}\n\nYour task is to: {task.instruction}"

    def _info(self, **extra: Any) -> dict[str, Any]:
        info = super()._info(**extra)
        if self.world is not None and self.task is not None:
            info["admissible_commands"] = self.world.admissible_commands()
            info["won"] = goal_satisfied(self.task, self.world)
        return info

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        assert self.world is not None and self.task is not None
        if action.strip().lower().startswith("think:"):
            return "OK.", 0.0, False, {"action_executed": True}
        observation = self.world.execute(action)
        won = goal_satisfied(self.task, self.world)
        executed = observation != "Nothing happens."
        return observation, float(won), won, {"action_executed": executed}
