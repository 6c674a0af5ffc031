"""ALFWorld's data as the bench finds it in ``--tasks-dir``: the real games or the stand-in.

``TASKS_DIR/alfworld`` holds one of two things, and what is on disk decides which is played:

* **ALFWorld's own games** (the directory MINT ships as ``data/processed/alfworld``):
  ``json_2.1.1/valid_unseen/<task dir>/<trial>/game.tw-pddl`` (or ``valid_unseen/...`` without
  the ``json_2.1.1`` level), and MINT's ``gamefile_id.txt`` beside it, which names MINT's 134
  games and their order. They are played by lemur-agents' ``lemur/ALFWorld-v0``
  (:class:`~lemur_agents.envs.household.alfworld.AlfworldGameEnv`, TextWorld's PDDL engine) in
  MINT's setting (``mint=True``: MINT's observation text and its 50-command cap). Without an
  order file the games are ALFWorld's own selection (solvable, no ``movable``/``Sliced``),
  sorted by path.
* **The project's stand-in**: ``tasks.json``, the task list of lemur-agents' offline
  ``lemur/Household-v0`` (what ``lemur-bench fixtures`` writes), read by the ordinary file path.

A directory holding both, or neither, is refused with one line naming what to do; so is a run
on real games without TextWorld's engine (``pip install 'lemur-agents[alfworld]'``). Each
episode record's ``env_id`` says which environment was played, so a report can label the
number: ``lemur/ALFWorld-v0`` (the real games) or ``lemur/Household-v0`` (the stand-in).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lemur_core import canonical_sha256, file_sha256
from lemur_core.cli_errors import EnvError, InputError

from lemur_bench.loaders.base import BenchTask

ALFWORLD_DIR = "alfworld"
STANDIN_FILE = "tasks.json"
ORDER_FILE = "gamefile_id.txt"  # MINT's list of its 134 games, in its order
SPLIT = "valid_unseen"  # ALFWorld's eval_out_of_distribution split, which MINT uses
GAMES_ENV_ID = "lemur/ALFWorld-v0"
STANDIN_ENV_ID = "lemur/Household-v0"
GAME_LAYOUT = f"json_2.1.1/{SPLIT}/<task>/<trial>/game.tw-pddl"
_WHERE_TO_GET = (
    "point --tasks-dir at a directory whose alfworld/ is MINT's data/processed/alfworld "
    "(git clone https://github.com/xingyaoww/mint-bench), or write the offline stand-in "
    "with `lemur-bench fixtures`"
)


class AlfworldSourceError(InputError):
    """``TASKS_DIR/alfworld`` holds neither ALFWorld's games nor the stand-in, or both."""


class AlfworldEngineMissing(EnvError):
    """Real ALFWorld games, but TextWorld's PDDL engine is not installed here."""


@dataclass(frozen=True)
class AlfworldGames:
    """ALFWorld's games found under ``root`` (``TASKS_DIR/alfworld``)."""

    root: Path
    order_file: Path | None

    def env_kwargs(self, max_turns: int) -> dict[str, Any]:
        """``gymnasium.make("lemur/ALFWorld-v0", **kwargs)`` for these games, MINT's setting."""
        config: dict[str, Any] = {
            "data_dir": str(self.root),
            "split": SPLIT,
            "mint": True,
            "max_turns": max_turns,
        }
        if self.order_file is not None:
            config["order_file"] = str(self.order_file)
        return {"config": config}


def _has_games(root: Path) -> bool:
    for split_dir in (root / "json_2.1.1" / SPLIT, root / SPLIT):
        if split_dir.is_dir() and next(split_dir.glob("*/*/game.tw-pddl"), None) is not None:
            return True
    return False


def find_games(root: Path | None) -> AlfworldGames | None:
    """ALFWorld's games in ``root`` (``TASKS_DIR/alfworld``); ``None`` when it holds the
    stand-in's ``tasks.json`` or does not exist. A directory with both, or with neither, is an
    :class:`AlfworldSourceError` (one line: the problem and the fix)."""
    if root is None or not root.is_dir():
        return None
    games, standin = _has_games(root), (root / STANDIN_FILE).is_file()
    if games and standin:
        raise AlfworldSourceError(
            f"{root} holds both ALFWorld's games and the stand-in's {STANDIN_FILE}",
            None,
            "keep one: move tasks.json away to play the real games, or the games to play the "
            "stand-in",
        )
    if standin:
        return None
    if not games:
        raise AlfworldSourceError(
            f"{root} holds neither ALFWorld's games ({GAME_LAYOUT}) nor the stand-in's "
            f"{STANDIN_FILE}",
            None,
            _WHERE_TO_GET,
        )
    order = root / ORDER_FILE
    return AlfworldGames(root=root, order_file=order if order.is_file() else None)


def missing_engine() -> str | None:
    """Why TextWorld's PDDL engine cannot run here, or ``None`` when it can."""
    if importlib.util.find_spec("textworld") is None:
        return "textworld is not installed"
    if importlib.util.find_spec("fast_downward") is None:
        return "textworld is installed without its PDDL engine (fast-downward-textworld)"
    return None


def require_engine(games: AlfworldGames) -> None:
    """Raise :class:`AlfworldEngineMissing` (one line) unless TextWorld's engine is here."""
    why = missing_engine()
    if why is not None:
        raise AlfworldEngineMissing(
            f"the ALFWorld games in {games.root} need TextWorld's PDDL engine, but {why}",
            None,
            "pip install 'lemur-agents[alfworld]' (uv sync --all-packages --extra alfworld in a "
            "checkout; "
            "fast-downward-textworld builds from source: cmake and a C++ compiler)",
        )


def load_alfworld_dir(root: Path) -> tuple[list[BenchTask], str] | None:
    """The games in ``root`` and their sha256 (:func:`load_games`); ``None`` when ``root``
    holds the stand-in (or nothing), which the ordinary file loader then reads."""
    games = find_games(root)
    return None if games is None else load_games(games)


def load_games(games: AlfworldGames) -> tuple[list[BenchTask], str]:
    """The games as bench tasks (lemur-agents' task ids and order), and the sha256 of the
    data: every game file's sha256 in play order (so a changed game or order changes it)."""
    from lemur_agents.envs.household.alfworld import AlfworldDataError, alfworld_tasks

    try:
        tasks = alfworld_tasks(games.root, SPLIT, order_file=games.order_file)
    except AlfworldDataError as exc:
        raise AlfworldSourceError(str(exc), None, _WHERE_TO_GET) from exc
    rows = [
        BenchTask(
            task_id=t.task_id,
            prompt=t.instruction,
            metadata={
                "task_type": t.task_type,
                "game_file": str(t.game_file.relative_to(games.root)),
                "environment": GAMES_ENV_ID,
            },
        )
        for t in tasks
    ]
    digest = canonical_sha256(
        {
            "split": SPLIT,
            "order_file": games.order_file is not None,
            "games": [[t.task_id, file_sha256(t.game_file)] for t in tasks],
        }
    )
    return rows, digest
