"""Adapter for the original ALFWorld games (TextWorld ``game.tw-pddl`` files).

With the ``alfworld`` package installed and its data downloaded (``alfworld-download``; games
under ``$ALFWORLD_DATA/json_2.1.1/<split>/<task>/<trial>/game.tw-pddl``), :class:`AlfworldGameEnv`
plays those games through TextWorld behind the same interface as
:class:`~lemur_agents.envs.household.env.HouseholdEnv`: text commands in, the game's text out,
``info["admissible_commands"]`` and ``info["won"]``, reward 1 on the winning step.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lemur_agents.envs.base import EnvTask, TextTaskEnv
from lemur_agents.envs.household.tasks import TASK_TYPES

GAME_FILE = "game.tw-pddl"


class AlfworldTask(EnvTask):
    """One ALFWorld game; the goal text comes from the game itself at reset."""

    game_file: Path
    task_type: str


def alfworld_tasks(data_dir: str | Path, split: str = "valid_unseen") -> list[AlfworldTask]:
    """Every game of ``split`` under ALFWorld's data directory (``json_2.1.1/<split>``), in
    sorted order; the task type is read from the task directory's name."""
    root = Path(data_dir)
    split_dir = root / "json_2.1.1" / split if (root / "json_2.1.1").is_dir() else root / split
    if not split_dir.is_dir():
        raise FileNotFoundError(
            f"no ALFWorld split at {split_dir}; run `alfworld-download` and pass its data dir"
        )
    tasks = []
    for game in sorted(split_dir.glob(f"*/*/{GAME_FILE}")):
        task_dir, trial = game.parent.parent.name, game.parent.name
        task_type = next((t for t in TASK_TYPES if task_dir.startswith(t)), "unknown")
        tasks.append(
            AlfworldTask(
                task_id=f"{split}/{task_dir}/{trial}",
                instruction=task_dir,
                game_file=game,
                task_type=task_type,
            )
        )
    return tasks


def _textworld() -> tuple[Any, Any, Any]:
    try:
        import textworld
        import textworld.gym
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
    except ImportError as err:
        raise ImportError(
            "AlfworldGameEnv needs the `alfworld` package (pip install alfworld, then "
            "alfworld-download); the offline lemur/Household-v0 env needs neither"
        ) from err
    return textworld, AlfredDemangler, AlfredInfos


class AlfworldGameEnv(TextTaskEnv[AlfworldTask]):
    """ALFWorld's own games through TextWorld; see the module docstring."""

    engine = "textworld (alfworld)"
    isolation = "none (TextWorld game engine, no code execution)"

    def __init__(self, tasks: Sequence[AlfworldTask], max_turns: int = 50) -> None:
        self._tw, self._demangler, self._infos = _textworld()
        super().__init__(tasks, max_turns)
        self._game: Any = None
        self._admissible: list[str] = []
        self._won = False

    def _start(self, task: AlfworldTask) -> str:
        if self._game is not None:
            self._game.close()
        request = self._tw.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])
        env_id = self._tw.gym.register_game(
            str(task.game_file),
            request,
            max_episode_steps=self.max_turns,
            wrappers=[self._demangler(), self._infos],
        )
        self._game = self._tw.gym.make(env_id)
        observation, infos = self._game.reset()
        self._read(infos)
        return str(observation)

    def _read(self, infos: dict[str, Any]) -> None:
        self._admissible = sorted(str(c) for c in infos.get("admissible_commands") or [])
        self._won = bool(infos.get("won", False))

    def _info(self, **extra: Any) -> dict[str, Any]:
        info = super()._info(**extra)
        info["admissible_commands"] = list(self._admissible)
        info["won"] = self._won
        return info

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        if action.strip().lower().startswith("think:"):
            return "OK.", 0.0, False, {"action_executed": True}
        observation, _score, _done, infos = self._game.step(action.strip())
        self._read(infos)
        return str(observation), float(self._won), self._won, {"action_executed": True}

    def close(self) -> None:
        """Close the TextWorld game (idempotent)."""
        if self._game is not None:
            self._game.close()
            self._game = None
