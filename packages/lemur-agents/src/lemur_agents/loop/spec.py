"""What to run: one :class:`EpisodeSpec` per episode, one :class:`LoopConfig` per run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym
from lemur_core import Message
from pydantic import BaseModel, ConfigDict, Field

from lemur_agents.feedback.base import FeedbackProvider
from lemur_agents.loop.formats import ActionFormat, RawTextFormat

EnvFactory = Callable[[], gym.Env[Any, Any]]


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode: which env and task, how the model is prompted and how it acts.

    ``env`` is a registered gymnasium id (made with ``env_kwargs``) or a zero-argument factory.
    The first user message is ``task_template`` filled with the reset observation;
    later ones ``observation_template`` (plus ``feedback_template`` when a provider answers).
    ``prefix_messages`` (few-shot turns) go between the system prompt and the task.
    ``reference`` is given to feedback providers only, never to the model. ``info``,
    ``config_sha256`` and ``data_sha256`` are copied into the episode's record (a runner pins
    its task config and data there). ``inline_env`` says the env never blocks (it scores text
    in microseconds: no subprocess, sandbox, browser or network): the async loop then makes,
    steps and closes it on its own thread instead of hopping to a worker thread and back
    (two GIL hand-offs per call, each up to the interpreter's 5 ms switch interval while the
    loop thread is busy, during which the episode has no request in flight).
    """

    episode_id: str
    env: str | EnvFactory
    task_id: str
    benchmark: str | None = None
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    max_turns: int = 10
    system_prompt: str | None = None
    prefix_messages: tuple[Message, ...] = ()
    task_template: str = "{observation}"
    observation_template: str = "Observation:\n{observation}"
    feedback_template: str = "{message}\n\nExpert feedback:\n{feedback}"
    parse_error_template: str = (
        "Your last reply could not be parsed as an action: {error}\nPlease answer again."
    )
    action_format: ActionFormat = field(default_factory=RawTextFormat)
    parse_failure_budget: int = 3
    feedback: FeedbackProvider | None = None
    reference: Any = None
    info: Mapping[str, Any] = field(default_factory=dict)
    config_sha256: str | None = None
    data_sha256: str | None = None
    inline_env: bool = False

    def __post_init__(self) -> None:
        if self.max_turns < 1:
            raise ValueError(f"EpisodeSpec.max_turns must be >= 1, got {self.max_turns}")
        if self.parse_failure_budget < 0:
            raise ValueError("EpisodeSpec.parse_failure_budget must be >= 0")
        if not self.episode_id:
            raise ValueError("EpisodeSpec.episode_id must be non-empty")

    @property
    def env_id(self) -> str | None:
        """The gymnasium id when ``env`` is one."""
        return self.env if isinstance(self.env, str) else None


class LoopConfig(BaseModel):
    """How the loop runs, for every episode of a run (frozen; YAML-loadable).

    ``context_window`` overrides the model's own ``context_window``; ``max_history_tokens``
    is a softer budget below it. When a prompt (plus ``max_new_tokens``) does not fit, the
    oldest agent/env exchanges after the task are dropped if ``drop_oldest_turns`` (and the
    turn records say how many); when even the system prompt, examples, task and latest
    exchange do not fit, the episode ends with ``context_limit`` before the call.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    context_window: int | None = Field(default=None, ge=16)
    max_history_tokens: int | None = Field(default=None, ge=16)
    drop_oldest_turns: bool = True
    max_parallel_env_steps: int = Field(default=8, ge=1, description="async loop only")
    schedule: Literal["rounds", "continuous"] = Field(
        default="rounds",
        description="rounds: one batched model call per round over every live episode (local "
        "batched backends); continuous: each episode requests its next turn as soon as its "
        "last one is done (servers that batch themselves: OpenAI-compatible endpoints)",
    )
    progress: bool = False
    progress_label: str | None = Field(
        default=None, description="the progress bar's title (a run's label, not its raw spec)"
    )

    @classmethod
    def tiny(cls) -> LoopConfig:
        """The tiny recipe's settings: small CPU models with 2k-token windows, so history is
        trimmed at 1536 prompt tokens, with a progress bar."""
        return cls(max_history_tokens=1536, drop_oldest_turns=True, progress=True)
