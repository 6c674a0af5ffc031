"""One episode's state between turns, and the steps the runner applies to it."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import gymnasium as gym
from lemur_core import (
    ActionParseError,
    EpisodeRecord,
    Message,
    Role,
    TerminationReason,
    TurnRecord,
)

from lemur_agents.feedback.base import FeedbackRequest, FeedbackResult
from lemur_agents.loop.context import fit_history
from lemur_agents.loop.formats import ParsedAction
from lemur_agents.loop.spec import EpisodeSpec


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (env infos may hold numpy scalars, paths, objects)."""
    return json.loads(json.dumps(value, default=str))


def _versions() -> dict[str, str]:
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> dict[str, str]:
    # Reading package metadata parses files (~1 ms each): once per process, not per episode.
    out = {}
    for name in ("lemur-agents", "lemur-core", "gymnasium"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass
class TurnDraft:
    """A turn between the env step and the feedback: everything but the feedback."""

    prompt: tuple[Message, ...]
    raw_output: str
    prompt_tokens: int | None
    dropped_exchanges: int
    completion_tokens: int | None = None
    parsed: ParsedAction | None = None
    parse_error: str | None = None
    observation: str = ""
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    env_info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # env or model error that ends the episode
    error_reason: TerminationReason | None = None


@dataclass
class Episode:
    """Live state of one episode (see :func:`start_episode`)."""

    spec: EpisodeSpec
    env: gym.Env[Any, Any] | None
    head: list[Message]
    task_text: str = ""
    exchanges: list[tuple[Message, Message]] = field(default_factory=list)
    turns: list[TurnRecord] = field(default_factory=list)
    parse_failures: int = 0
    last_reward: float = 0.0
    last_info: dict[str, Any] = field(default_factory=dict)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    termination: TerminationReason | None = None
    success: bool = False
    error: str | None = None
    isolation: str | None = None  # what the env says runs model code, from any info seen

    def note_info(self, info: dict[str, Any]) -> None:
        """Remember the env's latest info (and its isolation level when it names one)."""
        self.last_info = info
        if isinstance(info.get("isolation"), str):
            self.isolation = info["isolation"]

    @property
    def done(self) -> bool:
        """Whether the episode has ended."""
        return self.termination is not None

    def end(
        self, reason: TerminationReason, *, success: bool = False, error: str | None = None
    ) -> None:
        """End the episode (once) and release its env."""
        if self.termination is not None:
            return
        self.termination, self.success, self.error = reason, success, error
        if self.env is not None:
            try:
                self.env.close()
            except Exception as exc:  # a failing close must not lose the finished episode
                self.error = self.error or f"env.close() failed: {exc}"
            self.env = None


def start_episode(spec: EpisodeSpec) -> Episode:
    """Make and reset the env; an env that fails here gives an ``env_error`` episode."""
    head: list[Message] = []
    if spec.system_prompt:
        head.append(Message(role=Role.SYSTEM, content=spec.system_prompt))
    head.extend(spec.prefix_messages)
    episode = Episode(spec=spec, env=None, head=head)
    try:
        if isinstance(spec.env, str):
            episode.env = gym.make(spec.env, **dict(spec.env_kwargs))
        else:
            episode.env = spec.env()
        observation, info = episode.env.reset(seed=spec.seed, options={"task_id": spec.task_id})
    except Exception as exc:
        episode.end(TerminationReason.ENV_ERROR, error=f"reset failed: {type(exc).__name__}: {exc}")
        return episode
    episode.note_info(_jsonable(info))
    episode.task_text = spec.task_template.format(observation=observation)
    episode.head.append(Message(role=Role.USER, content=episode.task_text))
    return episode


def draft_turn(
    episode: Episode,
    *,
    budget: int | None,
    count: Callable[[Sequence[Message]], int],
    allow_drop: bool,
    max_new_tokens: int,
) -> TurnDraft | None:
    """The next prompt of ``episode``; ``None`` when it cannot fit (the episode then ends
    with ``context_limit``)."""
    fitted = fit_history(
        episode.head, episode.exchanges, budget=budget, count=count, allow_drop=allow_drop
    )
    if fitted is None:
        episode.end(
            TerminationReason.CONTEXT_LIMIT,
            error=f"prompt does not fit {budget} tokens "
            f"(context window minus max_new_tokens={max_new_tokens})",
        )
        return None
    messages, dropped, tokens = fitted
    return TurnDraft(tuple(messages), "", tokens, dropped)


def apply_output(episode: Episode, draft: TurnDraft, output: str | Exception) -> None:
    """Put the model's answer (or its failure) into ``draft`` and parse it."""
    if isinstance(output, Exception):
        draft.error = f"model failed: {type(output).__name__}: {output}"
        draft.error_reason = TerminationReason.MODEL_ERROR
        return
    draft.raw_output = output
    parse_reply(episode, draft)


def close_turn(episode: Episode, draft: TurnDraft, answer: FeedbackResult | None) -> None:
    """End the turn: a model error ends the episode; a feedback failure (the env answered,
    the simulated user could not) ends it unfinished with the reason; else the turn is
    recorded and the episode goes on or ends by its termination rules."""
    if draft.error_reason is TerminationReason.MODEL_ERROR:
        episode.end(TerminationReason.MODEL_ERROR, error=draft.error)
        return
    if isinstance(answer, Exception):
        draft.error = f"feedback model failed: {type(answer).__name__}: {answer}"
        draft.error_reason = TerminationReason.MODEL_ERROR
        answer = None
    finish_turn(episode, draft, answer)


def note_completion_tokens(model: object, drafts: Sequence[TurnDraft]) -> None:
    """Copy the backend's ``last_completion_tokens`` of the call just made (one per prompt)
    into ``drafts``; read right after the call returns, before anything else awaits."""
    counts = getattr(model, "last_completion_tokens", None)
    if isinstance(counts, list) and len(counts) == len(drafts):
        for draft, count in zip(drafts, counts, strict=True):
            draft.completion_tokens = count if isinstance(count, int) else None


def parse_reply(episode: Episode, draft: TurnDraft) -> None:
    """Parse the model's reply into ``draft`` (a failure is recorded, not raised)."""
    try:
        draft.parsed = episode.spec.action_format.parse(draft.raw_output)
    except ActionParseError as exc:
        draft.parse_error = str(exc)
        draft.observation = episode.spec.parse_error_template.format(error=exc)


def step_env(episode: Episode, draft: TurnDraft) -> None:
    """Apply the parsed action to the env (the slow part; may run in a worker thread)."""
    if draft.parsed is None or episode.env is None:
        return
    try:
        observation, reward, terminated, truncated, info = episode.env.step(draft.parsed.env_action)
    except Exception as exc:
        draft.error = f"env.step failed: {type(exc).__name__}: {exc}"
        draft.error_reason = TerminationReason.ENV_ERROR
        return
    draft.observation = str(observation)
    draft.reward = float(reward)
    draft.terminated, draft.truncated = bool(terminated), bool(truncated)
    draft.env_info = _jsonable(info)


def needs_feedback(episode: Episode, draft: TurnDraft) -> bool:
    """Feedback follows a completed env step of an episode that goes on."""
    return (
        episode.spec.feedback is not None
        and draft.parsed is not None
        and draft.error is None
        and not (draft.terminated or draft.truncated)
        and len(episode.turns) + 1 < episode.spec.max_turns
    )


def feedback_request(episode: Episode, draft: TurnDraft) -> FeedbackRequest:
    """What the episode's feedback provider sees for this turn."""
    return FeedbackRequest(
        episode_id=episode.spec.episode_id,
        task=episode.task_text,
        history=draft.prompt,
        raw_output=draft.raw_output,
        observation=draft.observation,
        reward=draft.reward,
        reference=episode.spec.reference,
    )


def finish_turn(episode: Episode, draft: TurnDraft, feedback: str | None) -> None:
    """Record the turn, extend the history, and decide whether the episode ends."""
    spec = episode.spec
    info: dict[str, Any] = dict(draft.env_info)
    if draft.dropped_exchanges:
        info["history_dropped_exchanges"] = draft.dropped_exchanges
    if draft.error:
        info["error"] = draft.error
    episode.turns.append(
        TurnRecord(
            index=len(episode.turns),
            prompt=draft.prompt,
            raw_output=draft.raw_output,
            parsed_action=draft.parsed.env_action if draft.parsed else None,
            action_representations=draft.parsed.representations if draft.parsed else {},
            parse_error=draft.parse_error,
            observation=draft.observation,
            reward=draft.reward,
            feedback=feedback,
            prompt_tokens=draft.prompt_tokens,
            completion_tokens=draft.completion_tokens,
            info=info,
        )
    )
    if draft.error_reason is not None:
        episode.end(draft.error_reason, error=draft.error)
        return
    if draft.parse_error is not None:
        episode.parse_failures += 1
        if episode.parse_failures > spec.parse_failure_budget:
            episode.end(TerminationReason.PARSE_FAILURE_BUDGET)
            return
    else:
        episode.last_reward = draft.reward
        episode.note_info(draft.env_info)
    if draft.terminated:
        success = bool(draft.env_info.get("success", draft.reward >= 1.0))
        episode.end(
            TerminationReason.SOLVED if success else TerminationReason.SUBMITTED, success=success
        )
        return
    if draft.truncated or len(episode.turns) >= spec.max_turns:
        episode.end(TerminationReason.MAX_TURNS)
        return
    message = (
        draft.observation
        if draft.parse_error is not None
        else spec.observation_template.format(observation=draft.observation)
    )
    if feedback:
        message = spec.feedback_template.format(message=message, feedback=feedback)
    episode.exchanges.append(
        (
            Message(role=Role.ASSISTANT, content=draft.raw_output),
            Message(role=Role.USER, content=message),
        )
    )


def to_record(episode: Episode, model_name: str) -> EpisodeRecord:
    """The finished episode as lemur-core's ``EpisodeRecord``.

    ``score`` is ``info["score"]`` of the last env step when the env reports one, else that
    step's reward (InterCode-style envs score the final state, not a sum over turns).
    """
    spec = episode.spec
    assert episode.termination is not None, "to_record needs a finished episode"
    info: dict[str, Any] = {"parse_failures": episode.parse_failures, **_jsonable(dict(spec.info))}
    if episode.error:
        info["error"] = episode.error
    score = episode.last_info.get("score", episode.last_reward)
    return EpisodeRecord(
        episode_id=spec.episode_id,
        benchmark=spec.benchmark or spec.env_id or "custom",
        task_id=spec.task_id,
        env_id=spec.env_id,
        model=model_name,
        seed=spec.seed,
        max_turns=spec.max_turns,
        turns=tuple(episode.turns),
        termination=episode.termination,
        success=episode.success,
        score=float(score) if isinstance(score, int | float) else 0.0,
        feedback_mode=spec.feedback.name if spec.feedback is not None else None,
        config_sha256=spec.config_sha256,
        data_sha256=spec.data_sha256,
        package_versions=_versions(),
        sandbox_isolation=episode.isolation,
        started_at=episode.started_at,
        finished_at=datetime.now(UTC),
        info=info,
    )
