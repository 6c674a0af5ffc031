"""What every Lemur environment shares: text spaces, task selection on reset, info keys.

Each environment is a :class:`gymnasium.Env` whose observations and actions are strings.
``reset(seed=..., options={"task_id": ...})`` selects a task deterministically: by id when
given, otherwise by the env's seeded generator, so two resets with the same seed see the same
task. Every ``info`` dict names the engine that executes actions and the isolation level of
whatever runs model-written code (``info["engine"]``, ``info["isolation"]``).
"""

from __future__ import annotations

import copy
import functools
import string
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import gymnasium as gym
from gymnasium import spaces
from pydantic import BaseModel, ConfigDict, Field

# spaces.Text defaults to alphanumerics; real observations hold spaces, punctuation and any
# Unicode a database or web page contains. The whole Basic Multilingual Plane minus controls
# and surrogates covers them; other characters (emoji) are replaced on the way out.
_BMP_PRINTABLE = "".join(chr(c) for c in range(0xA0, 0xD800)) + "".join(
    chr(c) for c in range(0xE000, 0xFFFE)
)
TEXT_CHARSET: str = string.printable + _BMP_PRINTABLE
_ALLOWED = frozenset(TEXT_CHARSET)
MAX_OBSERVATION_CHARS = 200_000
MAX_ACTION_CHARS = 4_000


@functools.cache
def _text_space_prototype(max_length: int, charset: str) -> spaces.Text:
    return spaces.Text(max_length=max_length, min_length=0, charset=charset)


def text_space(max_length: int, charset: str = TEXT_CHARSET) -> spaces.Text:
    """A text space wide enough for real observations (see the module docstring).

    Building a Text space over ~63k characters takes ~80 ms, so every env gets a shallow copy
    of one cached prototype: the immutable charset tables are shared, the generator is not.
    """
    space = copy.copy(_text_space_prototype(max_length, charset))
    space._np_random = None  # type: ignore[assignment]  # each copy seeds its own on first use
    return space


def to_observation(text: str, limit: int = MAX_OBSERVATION_CHARS) -> str:
    """Make ``text`` a member of the observation space: characters outside the charset become
    ``?`` and the text is cut to ``limit`` characters."""
    if not all(ch in _ALLOWED for ch in text):
        text = "".join(ch if ch in _ALLOWED else "?" for ch in text)
    return text[:limit]


class EnvTask(BaseModel):
    """The fields every task of every environment has."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str = Field(min_length=1)
    instruction: str = Field(description="what the agent is asked to do, as the agent sees it")


TaskT = TypeVar("TaskT", bound=EnvTask)


class UnknownTaskError(KeyError):
    """``reset(options={"task_id": ...})`` named a task the environment does not have."""


class TextTaskEnv(gym.Env[str, str], Generic[TaskT]):
    """Base of every Lemur env: a fixed task list, text spaces, deterministic task selection.

    Subclasses implement :meth:`_start` (set up the episode for a task and return the first
    observation) and :meth:`_act` (one action -> observation, reward, terminated, info).
    Truncation at ``max_turns`` is handled here so that every env counts turns the same way.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium's convention
    engine: str = "python"
    isolation: str = "none"

    def __init__(self, tasks: Sequence[TaskT], max_turns: int) -> None:
        if not tasks:
            raise ValueError(
                f"{type(self).__name__} needs at least one task; pass tasks=... "
                "(each env module has load_tasks(path) and fixture_tasks())"
            )
        ids = [t.task_id for t in tasks]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"duplicate task ids {dupes[:5]}: every task_id must be unique")
        if max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}")
        self.tasks: tuple[TaskT, ...] = tuple(tasks)
        self._by_id = {t.task_id: t for t in self.tasks}
        self.max_turns = max_turns
        self.observation_space = text_space(MAX_OBSERVATION_CHARS)
        self.action_space = text_space(MAX_ACTION_CHARS)
        self.task: TaskT | None = None
        self.turn = 0
        self._done = False

    # -- gymnasium API ------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Start an episode on ``options["task_id"]`` or, without one, a task drawn from the
        seeded generator; return the first observation and info."""
        super().reset(seed=seed)
        task_id = (options or {}).get("task_id")
        if task_id is None:
            task = self.tasks[int(self.np_random.integers(len(self.tasks)))]
        else:
            key = str(task_id)
            if key not in self._by_id:
                sample = ", ".join(list(self._by_id)[:5])
                raise UnknownTaskError(
                    f"unknown task_id {key!r} for {type(self).__name__}; "
                    f"known ids start with: {sample}"
                )
            task = self._by_id[key]
        self.task = task
        self.turn = 0
        self._done = False
        observation = self._start(task)
        return to_observation(observation), self._info(task_id=task.task_id)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Apply one text action; truncate when ``max_turns`` actions have been taken. The last
        step's info says ``success`` (reward 1, unless the env decides otherwise)."""
        if self.task is None:
            raise RuntimeError("call reset() before step()")
        if self._done:
            raise RuntimeError("the episode has ended; call reset() to start another")
        self.turn += 1
        observation, reward, terminated, extra = self._act(str(action))
        truncated = not terminated and self.turn >= self.max_turns
        self._done = terminated or truncated
        info = self._info(task_id=self.task.task_id, turn=self.turn, **extra)
        if self._done:
            # The episode loop reads this to tell "solved" from "submitted" / "max_turns".
            info.setdefault("success", float(reward) >= 1.0)
        return to_observation(observation), float(reward), bool(terminated), truncated, info

    # -- for subclasses -------------------------------------------------------------------

    def _start(self, task: TaskT) -> str:
        raise NotImplementedError

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        raise NotImplementedError

    def _info(self, **extra: Any) -> dict[str, Any]:
        # A fresh dict on every call: gymnasium's checker rejects infos that share objects.
        return {"engine": self.engine, "isolation": self.isolation, **extra}

    @property
    def task_ids(self) -> list[str]:
        """Ids of every task this env can be reset to, in load order."""
        return [t.task_id for t in self.tasks]
