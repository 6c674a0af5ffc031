"""Adapter for the original ALFWorld games (TextWorld ``game.tw-pddl`` files).

An ALFWorld game is a JSON file ``json_2.1.1/<split>/<task dir>/<trial>/game.tw-pddl`` holding
the PDDL domain (``pddl_domain``), the TextWorld grammar of commands and answers (``grammar``,
with the goal sentence already filled in), the scene as a PDDL problem (``pddl_problem``) and a
``solvable`` flag; ``traj_data.json`` beside it names the task type. ALFWorld plays such a file
with TextWorld's PDDL engine (``textworld.envs.PddlEnv``, which grounds the domain with
Fast Downward's translator and applies actions through its search library), and renames the
scene's object ids (``Drawer_bar__minus_00_dot_51...``) to ``drawer 1``, ``drawer 2`` ...

:class:`AlfworldGameEnv` does the same with TextWorld's engine itself: the game's text out,
``info["admissible_commands"]`` (TextWorld's sorted list) and ``info["won"]``, reward 1 on the
winning step; registered as ``lemur/ALFWorld-v0`` (``config={"data_dir": ...}``). It needs ``textworld[pddl]`` (``pip install "textworld[pddl]"``; the
``fast-downward-textworld`` part builds from source), not the ``alfworld`` package.

MINT's ALFWorld setting (xingyaoww/mint-bench, ``mint/tasks/alfworld.py``,
``mint/tools/alfworld.py``, ``mint/envs/alfworld_env.py``; its ALFWorld fork's
``alfred_tw_env.py``), which ``mint=True`` reproduces:

- 134 games of ``valid_unseen`` (ALFWorld's ``eval_out_of_distribution``), in the order MINT's
  ``gamefile_id.txt`` lists (upstream takes ``os.walk`` order, which depends on the file
  system; :func:`alfworld_tasks` sorts, or follows ``order_file``);
- the prompt drops the game's first paragraph (the ``-= Welcome to TextWorld, ALFRED! =-``
  banner) and an observation starting ``You arrive at loc N. `` loses that sentence;
- TextWorld's gym wrapper ends a game after 50 commands (``max_nb_steps_per_episode``), and
  MINT counts a tool call whose game is *done* as a success, so the 50th command succeeds
  even when the game is not won: ``info["mint_success"]`` records what MINT would count,
  while the reward stays the game's ``won``;
- MINT's ``toggle(x)`` tool sends ``toggle x``, which is not one of the game's commands (the
  grammar's switch action is ``use x``), so it always answers ``Nothing happens.``; the real
  engine gives that answer here too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lemur_agents.envs.base import EnvTask, TextTaskEnv
from lemur_agents.envs.household.tasks import TASK_TYPES

GAME_FILE = "game.tw-pddl"
TRAJ_FILE = "traj_data.json"
# ALFWorld's base_config.yaml (dagger.training.max_nb_steps_per_episode), which MINT uses.
ALFWORLD_MAX_ENV_STEPS = 50
MINT_GAME_COUNT = 134  # MINT's N_TASKS ("as hardcoded in ReAct")


class AlfworldTask(EnvTask):
    """One ALFWorld game; the goal text comes from the game itself at reset."""

    game_file: Path
    task_type: str


class AlfworldDataError(ValueError):
    """A game directory or order file is not in ALFWorld's layout."""


def _task_type(game: Path) -> str:
    traj = game.parent / TRAJ_FILE
    if traj.is_file():
        try:
            value = json.loads(traj.read_text(encoding="utf-8")).get("task_type")
        except (OSError, json.JSONDecodeError, AttributeError) as exc:
            raise AlfworldDataError(f"{traj} is not ALFWorld trajectory JSON: {exc}") from exc
        if isinstance(value, str):
            return value
    task_dir = game.parent.parent.name
    return next((t for t in TASK_TYPES if task_dir.startswith(t)), "unknown")


def _solvable(game: Path) -> bool:
    # ALFWorld's loader skips games without a true 'solvable' flag; a file that is not JSON
    # is an error, not a skip.
    try:
        data = json.loads(game.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AlfworldDataError(f"{game} is not an ALFWorld game file (JSON): {exc}") from exc
    return isinstance(data, dict) and data.get("solvable") is True


def alfworld_tasks(
    data_dir: str | Path,
    split: str = "valid_unseen",
    *,
    order_file: str | Path | None = None,
) -> list[AlfworldTask]:
    """The games of ``split`` under ALFWorld's data directory (``json_2.1.1/<split>``).

    Like ALFWorld's loader, games in ``movable``/``Sliced`` directories and games not marked
    ``solvable`` are left out; the task type comes from ``traj_data.json`` (else the task
    directory's name). Games are sorted by path, or, with ``order_file`` (MINT's
    ``gamefile_id.txt``: one ``<task dir>/<trial>`` per line), exactly those, in its order.
    """
    root = Path(data_dir)
    split_dir = root / "json_2.1.1" / split if (root / "json_2.1.1").is_dir() else root / split
    if not split_dir.is_dir():
        raise FileNotFoundError(
            f"no ALFWorld split at {split_dir}; run `alfworld-download` and pass its data dir"
        )
    games = sorted(split_dir.glob(f"*/*/{GAME_FILE}"))
    if order_file is not None:
        wanted = [line.strip() for line in Path(order_file).read_text().splitlines()]
        wanted = [w for w in wanted if w]
        by_id = {f"{g.parent.parent.name}/{g.parent.name}": g for g in games}
        missing = [w for w in wanted if w not in by_id]
        if missing:
            raise AlfworldDataError(
                f"{order_file} names {len(missing)} games not under {split_dir} "
                f"(first: {missing[0]}); point data_dir at the matching ALFWorld data"
            )
        games = [by_id[w] for w in wanted]
    tasks = []
    for game in games:
        trial_dir = game.parent
        if order_file is None and (
            "movable" in str(trial_dir) or "Sliced" in str(trial_dir) or not _solvable(game)
        ):
            continue
        task_dir, trial = trial_dir.parent.name, trial_dir.name
        tasks.append(
            AlfworldTask(
                task_id=f"{split}/{task_dir}/{trial}",
                instruction=task_dir,
                game_file=game,
                task_type=_task_type(game),
            )
        )
    return tasks


def _readable(entity_id: str) -> str:
    # ALFWorld's id escapes (an AI2-THOR id 'Drawer|-00.51|+00.47|-00.85' in PDDL-safe form).
    for code, char in (
        ("_bar_", "|"),
        ("_minus_", "-"),
        ("_plus_", "+"),
        ("_dot_", "."),
        ("_comma_", ","),
    ):
        entity_id = entity_id.replace(code, char)
    return entity_id


def alfred_display_names(entity_ids: Iterable[str]) -> dict[str, str]:
    """The names ALFWorld shows for a game's entity ids (its ``Demangler``, unshuffled).

    An id ``<type>_bar_<coordinates>`` becomes ``<type> <n>`` (``basin`` is appended when the
    id mentions one, so ``sink_bar_..._bar_sinkbasin`` is a ``sinkbasin``); the ``n`` of one
    type count down from the number of such ids as the ids ascend, as upstream assigns them.
    Ids without coordinates (``agent1``, type names) keep their text followed by a space.
    """
    ids = sorted(set(entity_ids))
    kinds: dict[str, str] = {}
    for entity in ids:
        if "_bar_" in entity:
            kind = entity.split("_bar_", 1)[0]
            kinds[entity] = kind + "basin" if "basin" in entity else kind
    remaining = Counter(kinds.values())
    names = {}
    for entity in ids:
        if entity in kinds:
            kind = kinds[entity]
            names[entity] = f"{kind} {remaining[kind]}"
            remaining[kind] -= 1
        else:
            names[entity] = f"{_readable(entity)} "
    return names


def mint_first_observation(text: str) -> str:
    """MINT's task prompt from a game's first observation: without its first paragraph."""
    return "\n".join(text.split("\n\n")[1:])


def mint_observation(text: str) -> str:
    """MINT's (and ReAct's) observation: a leading ``You arrive at loc N. `` removed."""
    if text.startswith("You arrive at loc "):
        return text[text.find(". ") + 2 :]
    return text


class AlfworldGameConfig(BaseModel):
    """``lemur/ALFWorld-v0``'s configuration: where the games are and how to play them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Field(description="ALFWorld data: the directory holding json_2.1.1/")
    split: str = "valid_unseen"
    order_file: Path | None = Field(None, description="MINT's gamefile_id.txt: games and order")
    mint: bool = Field(False, description="MINT's observation text and success rule")
    max_turns: int = Field(50, ge=1, description="ALFWorld's ReAct budget is 50 steps")


def _textworld_pddl() -> Any:
    try:
        import textworld
        from textworld.envs.pddl import PddlEnv  # noqa: F401 - imports fast_downward
        from textworld.envs.pddl import pddl as pddl_module
    except ImportError as err:
        raise ImportError(
            "AlfworldGameEnv needs TextWorld's PDDL engine: pip install 'textworld[pddl]' "
            "(fast-downward-textworld builds from source); the offline lemur/Household-v0 "
            "env needs neither"
        ) from err
    if pddl_module.fast_downward_missing:
        raise ImportError(
            "textworld is installed without its PDDL engine: pip install fast-downward-textworld"
        )
    return textworld


class AlfworldGameEnv(TextTaskEnv[AlfworldTask]):
    """ALFWorld's own games through TextWorld's PDDL engine; see the module docstring."""

    engine = "textworld PddlEnv (fast-downward-textworld)"
    isolation = "none (TextWorld game engine, no code execution)"

    def __init__(
        self,
        tasks: Sequence[AlfworldTask] | None = None,
        max_turns: int = 50,
        *,
        mint: bool = False,
        config: AlfworldGameConfig | Mapping[str, Any] | None = None,
    ) -> None:
        if config is not None:
            cfg = config if isinstance(config, AlfworldGameConfig) else AlfworldGameConfig(**config)
            tasks = alfworld_tasks(cfg.data_dir, cfg.split, order_file=cfg.order_file)
            max_turns, mint = cfg.max_turns, cfg.mint
        elif tasks is None:
            raise ValueError(
                "AlfworldGameEnv needs tasks=alfworld_tasks(...) or config={'data_dir': PATH} "
                "(ALFWorld data: the directory holding json_2.1.1/)"
            )
        self._tw = _textworld_pddl()
        super().__init__(tasks, max_turns)
        self.mint = mint
        self._game: Any = None
        self._admissible: list[str] = []
        self._won = False
        self._commands = 0

    def _start(self, task: AlfworldTask) -> str:
        self.close()
        from textworld.envs.pddl import PddlEnv

        game = PddlEnv(self._tw.EnvInfos(won=True, admissible_commands=True))
        try:
            game.load(str(task.game_file))
        except (OSError, json.JSONDecodeError, KeyError) as exc:
            raise AlfworldDataError(f"{task.game_file} is not a playable game: {exc}") from exc
        # ALFWorld's AlfredDemangler does this after load: the grammar prints info.name.
        names = alfred_display_names(game._entity_infos)
        for entity, info in game._entity_infos.items():
            info.name = names[entity]
        self._game = game
        self._commands = 0
        state = game.reset()
        self._read(state)
        text = str(state.feedback)
        return mint_first_observation(text) if self.mint else text

    def _read(self, state: Any) -> None:
        self._admissible = [str(c) for c in state["admissible_commands"] or []]
        self._won = bool(state["won"])

    def _info(self, **extra: Any) -> dict[str, Any]:
        info = super()._info(**extra)
        info["admissible_commands"] = list(self._admissible)
        info["won"] = self._won
        return info

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        command = action.strip()
        if command.lower().startswith("think:"):
            return "OK.", 0.0, False, {"action_executed": True, "env_steps": self._commands}
        state, _score, _done = self._game.step(command)
        self._commands += 1
        self._read(state)
        text = str(state.feedback)
        extra: dict[str, Any] = {"action_executed": True, "env_steps": self._commands}
        terminated = self._won
        if self.mint:
            text = mint_observation(text)
            # TextWorld's gym limit makes the game done at the 50th command; MINT's tool
            # reports done as success.
            capped = self._commands >= ALFWORLD_MAX_ENV_STEPS
            extra["mint_success"] = self._won or capped
            terminated = terminated or capped
        return text, float(self._won), terminated, extra

    def close(self) -> None:
        """Close the TextWorld game (idempotent)."""
        if self._game is not None:
            self._game.close()
            self._game = None
