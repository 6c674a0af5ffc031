"""The batched episode loop: every live episode advances one turn per model call."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any, TypeVar

from lemur_core import ChatModel, EpisodeRecord, GenerationParams, Message
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from lemur_agents.feedback.base import FeedbackProvider, FeedbackResult
from lemur_agents.loop.context import token_counter
from lemur_agents.loop.episode import (
    Episode,
    TurnDraft,
    apply_output,
    close_turn,
    draft_turn,
    feedback_request,
    needs_feedback,
    note_completion_tokens,
    start_episode,
    step_env,
    to_record,
)
from lemur_agents.loop.eta import format_eta, turns_eta
from lemur_agents.loop.spec import EpisodeSpec, LoopConfig
from lemur_agents.models.base import BatchModelError, ModelEndpointError, run_sync

EpisodeCallback = Callable[[EpisodeRecord], None]
StopCheck = Callable[[], bool]
T = TypeVar("T")


class _TurnsETAColumn(ProgressColumn):
    """The ETA the run computed from its turns (``eta`` field), styled like rich's own."""

    def render(self, task: Task) -> Text:
        return Text(str(task.fields.get("eta", "-:--:--")), style="progress.remaining")


class _Run:
    """The parts of a run that do not depend on sync vs async."""

    def __init__(
        self,
        model: ChatModel,
        episodes: Sequence[EpisodeSpec],
        params: GenerationParams,
        config: LoopConfig,
        on_episode_end: EpisodeCallback | None,
    ) -> None:
        ids = [e.episode_id for e in episodes]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"episode ids must be unique; repeated: {dupes[:5]}")
        self.model = model
        self.params = params
        self.config = config
        self.on_episode_end = on_episode_end
        self.pending: deque[tuple[int, EpisodeSpec]] = deque(enumerate(episodes))
        self.live: list[tuple[int, Episode]] = []
        self.records: dict[int, EpisodeRecord] = {}
        self.count = token_counter(model)
        window = config.context_window or getattr(model, "context_window", None)
        budgets = [
            b
            for b in (
                window - params.max_new_tokens if window else None,
                config.max_history_tokens,
            )
            if b is not None
        ]
        self.budget = min(budgets) if budgets else None
        self.model_calls = 0
        self.total = len(episodes)
        self.clock: Callable[[], float] = time.monotonic
        self.started = self.clock()

    def admit(self, limit: int | None) -> None:
        """Start pending episodes while there is room (an env that fails to start ends now)."""
        while self.pending and (limit is None or len(self.live) < limit):
            index, spec = self.pending.popleft()
            self.live.append((index, start_episode(spec)))
        self.collect()

    def collect(self) -> None:
        """Move finished episodes out of ``live``, recording them and calling back."""
        still = []
        for index, episode in self.live:
            if episode.done:
                self.record(index, episode)
            else:
                still.append((index, episode))
        self.live = still

    def record(self, index: int, episode: Episode) -> None:
        """Record a finished episode and hand it to ``on_episode_end``."""
        record = to_record(episode, self.model.name)
        self.records[index] = record
        if self.on_episode_end is not None:
            self.on_episode_end(record)

    def prepare(self) -> list[TurnDraft]:
        """Prompts for every live episode; those that cannot fit end with ``context_limit``."""
        drafts = []
        for _, episode in self.live:
            draft = self.draft(episode)
            if draft is not None:
                drafts.append(draft)
        self.collect()
        return drafts

    def draft(self, episode: Episode) -> TurnDraft | None:
        """One episode's next prompt (``None``: it ended with ``context_limit``)."""
        return draft_turn(
            episode,
            budget=self.budget,
            count=self.count,
            allow_drop=self.config.drop_oldest_turns,
            max_new_tokens=self.params.max_new_tokens,
        )

    def apply_completions(self, drafts: list[TurnDraft], outputs: list[str | Exception]) -> None:
        # Backends that know their token usage expose it for the last call (one per prompt).
        note_completion_tokens(self.model, drafts)
        for (_, episode), draft, output in zip(self.live, drafts, outputs, strict=True):
            apply_output(episode, draft, output)

    def feedback_groups(self, drafts: list[TurnDraft]) -> list[tuple[FeedbackProvider, list[int]]]:
        groups: dict[int, tuple[FeedbackProvider, list[int]]] = {}
        for i, ((_, episode), draft) in enumerate(zip(self.live, drafts, strict=True)):
            provider = episode.spec.feedback
            if provider is not None and needs_feedback(episode, draft):
                groups.setdefault(id(provider), (provider, []))[1].append(i)
        return list(groups.values())

    def finish(self, drafts: list[TurnDraft], feedback: dict[int, FeedbackResult]) -> None:
        for i, ((_, episode), draft) in enumerate(zip(self.live, drafts, strict=True)):
            close_turn(episode, draft, feedback.get(i))
        self.collect()

    def abandon_live(self) -> None:
        """Close the envs of episodes that will not finish in this run (they get no record)."""
        for _, episode in self.live:
            if episode.env is not None:
                # Closing is best effort here: the episode gets no record anyway.
                with contextlib.suppress(Exception):
                    episode.env.close()
                episode.env = None
        self.live = []
        self.pending.clear()

    def results(self) -> list[EpisodeRecord]:
        return [self.records[i] for i in range(self.total) if i in self.records]

    def progress(self) -> Any:
        if not self.config.progress:
            return nullcontext(None)
        return Progress(
            TextColumn(escape(self.config.progress_label or "episodes")),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            # From turns, not episodes (lemur_agents.loop.eta): rich's own column would divide
            # by episodes finished, and show nothing until the first one ends.
            TextColumn("ETA"),
            _TurnsETAColumn(),
            TextColumn("{task.fields[stats]}"),
        )

    def eta_seconds(self) -> float | None:
        """Seconds left, from the rate turns complete and the turn budgets of what is left."""
        finished = [(r.max_turns, len(r.turns)) for r in self.records.values()]
        left = [(spec.max_turns, 0) for _, spec in self.pending]
        left += [(episode.spec.max_turns, len(episode.turns)) for _, episode in self.live]
        done = sum(p for _, p in finished) + sum(p for _, p in left)
        return turns_eta(self.clock() - self.started, done, left, finished)

    def fields(self) -> dict[str, Any]:
        """What the progress bar shows besides the count: counters and the ETA."""
        return {"stats": self.stats(), "eta": format_eta(self.eta_seconds())}

    def stats(self) -> str:
        """The counters under the bar: turns played, model requests and their retries and
        timeouts (when the backend counts them), so a slow or failing server is visible."""
        turns = sum(len(r.turns) for r in self.records.values())
        turns += sum(len(episode.turns) for _, episode in self.live)
        parts = [f"{turns} turns", f"{self.model_calls} rounds"]
        counters = (
            ("requests_sent", "requests"),
            ("retries", "retries"),
            ("timeouts", "timeouts"),
            ("hits", "cached"),
        )
        for attr, label in counters:
            value = getattr(self.model, attr, None)
            if isinstance(value, int):
                parts.append(f"{value} {label}")
        errors = sum(
            1 for r in self.records.values() if r.termination.value in ("model_error", "env_error")
        )
        if errors:
            parts.append(f"{errors} model/env errors")
        return " · ".join(parts)


def _after_failure(
    exc: Exception, prompts: list[tuple[Message, ...]]
) -> list[str | Exception] | None:
    """What a failed batched call still tells, per prompt; ``None``: retry one by one."""
    if isinstance(exc, BatchModelError) and len(exc.outputs) == len(prompts):
        return list(exc.outputs)  # the answers that came are kept (and already cached)
    if isinstance(exc, ModelEndpointError) or len(prompts) == 1:
        return [exc] * len(prompts)
    return None


def _failed_feedback(exc: Exception, n: int) -> list[FeedbackResult]:
    return [exc] * n


def _generate_each(
    model: ChatModel, prompts: list[tuple[Message, ...]], params: GenerationParams
) -> list[str | Exception]:
    # The batched call failed and did not say which prompt failed: retry one by one so that
    # one bad conversation (too long for the server, say) ends only its own episode.
    outputs: list[str | Exception] = []
    for prompt in prompts:
        try:
            outputs.append(model.generate([prompt], params)[0])
        except Exception as exc:
            outputs.append(exc)
    return outputs


def run_episodes(
    model: ChatModel,
    episodes: Sequence[EpisodeSpec],
    params: GenerationParams | None = None,
    *,
    config: LoopConfig | None = None,
    on_episode_end: EpisodeCallback | None = None,
    max_live_episodes: int | None = None,
    should_stop: StopCheck | None = None,
) -> list[EpisodeRecord]:
    """Play ``episodes`` to the end and return their records, in input order.

    Each round makes exactly one ``model.generate`` call over every live episode (at most
    ``max_live_episodes`` at a time; more start as others finish), then steps each env,
    asks feedback providers once per provider, and ends episodes by their termination reason.
    ``on_episode_end`` receives each record as soon as its episode ends (persist it there).
    A batched call that fails for some prompts (:class:`BatchModelError`) keeps the others'
    answers; only a batch failure that names no prompt is retried one prompt at a time. A
    feedback provider's failure ends only the episodes it was asked about (``model_error``).
    When ``should_stop()`` turns true (checked before each round) the run ends early: live
    episodes are closed without a record, and only the finished episodes' records return.
    """
    if config is not None and config.schedule == "continuous":
        return run_sync(
            arun_episodes(
                model,
                episodes,
                params,
                config=config,
                on_episode_end=on_episode_end,
                max_live_episodes=max_live_episodes,
                should_stop=should_stop,
            )
        )
    run = _Run(
        model, episodes, params or GenerationParams(), config or LoopConfig(), on_episode_end
    )
    try:
        with run.progress() as progress:
            task = (
                progress.add_task("episodes", total=run.total, **run.fields()) if progress else None
            )
            while run.pending or run.live:
                if should_stop is not None and should_stop():
                    break
                run.admit(max_live_episodes)
                drafts = run.prepare()
                if not run.live:
                    continue
                prompts = [d.prompt for d in drafts]
                run.model_calls += 1
                try:
                    outputs: list[str | Exception] = list(model.generate(prompts, run.params))
                except Exception as exc:
                    known = _after_failure(exc, prompts)
                    outputs = (
                        known if known is not None else _generate_each(model, prompts, run.params)
                    )
                run.apply_completions(drafts, outputs)
                for (_, episode), draft in zip(run.live, drafts, strict=True):
                    step_env(episode, draft)
                feedback: dict[int, FeedbackResult] = {}
                for provider, indices in run.feedback_groups(drafts):
                    requests = [feedback_request(run.live[i][1], drafts[i]) for i in indices]
                    try:
                        answers = list(provider.feedback(requests))
                    except Exception as exc:
                        answers = _failed_feedback(exc, len(indices))
                    feedback.update(zip(indices, answers, strict=True))
                run.finish(drafts, feedback)
                if progress is not None and task is not None:
                    progress.update(task, completed=len(run.records), **run.fields())
    finally:
        run.abandon_live()
    return run.results()


async def arun_episodes(
    model: ChatModel,
    episodes: Sequence[EpisodeSpec],
    params: GenerationParams | None = None,
    *,
    config: LoopConfig | None = None,
    on_episode_end: EpisodeCallback | None = None,
    max_live_episodes: int | None = None,
    should_stop: StopCheck | None = None,
) -> list[EpisodeRecord]:
    """Async twin of :func:`run_episodes`: ``await model.agenerate`` once per round, env steps
    in worker threads (``config.max_parallel_env_steps`` at a time) except for envs marked
    ``thread_affine`` (stepped in the one thread where envs are made and closed), feedback via
    ``afeedback``. Same records, same callback and ``should_stop`` contract."""
    run = _Run(
        model, episodes, params or GenerationParams(), config or LoopConfig(), on_episode_end
    )
    gate = asyncio.Semaphore(run.config.max_parallel_env_steps)
    loop = asyncio.get_running_loop()
    # Envs are made, ended and closed in one thread without an event loop, and thread-affine
    # envs are stepped there too: Playwright's sync browser (the web env) refuses to run inside
    # an asyncio loop and cannot be driven from another thread than the one that made it.
    env_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lemur-envs")

    async def in_env_thread(fn: Callable[..., T], *args: Any) -> T:
        return await loop.run_in_executor(env_thread, fn, *args)

    async def step(episode: Episode, draft: TurnDraft) -> None:
        if episode.spec.inline_env:  # never blocks: no thread hop (see EpisodeSpec)
            step_env(episode, draft)
            return
        env = episode.env.unwrapped if episode.env is not None else None
        if getattr(env, "thread_affine", False):
            await in_env_thread(step_env, episode, draft)
            return
        async with gate:
            await asyncio.to_thread(step_env, episode, draft)

    try:
        with run.progress() as progress:
            task = (
                progress.add_task("episodes", total=run.total, **run.fields()) if progress else None
            )
            if run.config.schedule == "continuous":
                from lemur_agents.loop.continuous import play_continuously

                shown = [0.0]

                def on_progress() -> None:
                    # Called after every turn: the counters walk every record, so at most
                    # ten refreshes a second (the bar redraws at 10 Hz anyway).
                    now = time.monotonic()
                    if progress is not None and task is not None and now - shown[0] >= 0.1:
                        shown[0] = now
                        progress.update(task, completed=len(run.records), **run.fields())

                await play_continuously(
                    run,
                    max_live_episodes=max_live_episodes,
                    should_stop=should_stop,
                    in_env_thread=in_env_thread,
                    step=step,
                    on_progress=on_progress,
                )
                if progress is not None and task is not None:
                    progress.update(task, completed=len(run.records), **run.fields())
            while run.pending or run.live:
                if should_stop is not None and should_stop():
                    break
                await in_env_thread(run.admit, max_live_episodes)
                drafts = run.prepare()
                if not run.live:
                    continue
                prompts = [d.prompt for d in drafts]
                run.model_calls += 1
                try:
                    outputs: list[str | Exception] = list(
                        await model.agenerate(prompts, run.params)
                    )
                except Exception as exc:
                    known = _after_failure(exc, prompts)
                    outputs = (
                        known
                        if known is not None
                        else await asyncio.to_thread(_generate_each, model, prompts, run.params)
                    )
                await in_env_thread(run.apply_completions, drafts, outputs)
                await asyncio.gather(
                    *(step(ep, d) for (_, ep), d in zip(run.live, drafts, strict=True))
                )
                feedback: dict[int, FeedbackResult] = {}
                for provider, indices in run.feedback_groups(drafts):
                    requests = [feedback_request(run.live[i][1], drafts[i]) for i in indices]
                    try:
                        answers = list(await provider.afeedback(requests))
                    except Exception as exc:
                        answers = _failed_feedback(exc, len(indices))
                    feedback.update(zip(indices, answers, strict=True))
                await in_env_thread(run.finish, drafts, feedback)
                if progress is not None and task is not None:
                    progress.update(task, completed=len(run.records), **run.fields())
    finally:
        await in_env_thread(run.abandon_live)
        env_thread.shutdown(wait=True)
    return run.results()
