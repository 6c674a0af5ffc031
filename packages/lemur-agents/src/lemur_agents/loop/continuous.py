"""The continuous schedule: every live episode makes its own model request as soon as its
previous turn is done, instead of waiting for the round's slowest episode.

For a server that batches requests itself (vLLM's and TGI's continuous batching, any
OpenAI-compatible endpoint) this is what keeps it full: in rounds, one model call per round
over every live episode, each round waits for its slowest request and then the harness's own
work for all of them (prompts, cache, parsing, env steps, records) runs while no request is in
flight. Here that work for one episode overlaps the other episodes' requests, so at
``max_live_episodes`` live episodes the run approaches ``max_live_episodes`` requests always in
flight. Each turn does what a round does for that episode, in the same order (fit the
history, one model call, parse, env step, feedback, finish), so an episode's record is the
same under both schedules for a model that answers each conversation the same way; only
the grouping of calls differs (a call holds one conversation here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from lemur_agents.loop.episode import (
    Episode,
    apply_output,
    close_turn,
    feedback_request,
    needs_feedback,
    note_completion_tokens,
    start_episode,
)
from lemur_agents.models.base import BatchModelError

if TYPE_CHECKING:
    from lemur_agents.loop.runner import _Run as RunState

EnvCall = Callable[..., Awaitable[Any]]
StopCheck = Callable[[], bool]


async def play_continuously(
    run: RunState,
    *,
    max_live_episodes: int | None,
    should_stop: StopCheck | None,
    in_env_thread: EnvCall,
    step: Callable[[Episode, Any], Awaitable[None]],
    on_progress: Callable[[], None],
) -> None:
    """Play ``run.pending`` with at most ``max_live_episodes`` live, each at its own pace.

    Envs are made and closed through ``in_env_thread`` and stepped through ``step`` (the
    async loop's thread rules); records go through ``run.record``. When ``should_stop()``
    turns true, no episode starts and no turn begins; live episodes are abandoned by the
    caller (closed without a record).
    """
    workers = max_live_episodes or max(1, len(run.pending))

    def stopping() -> bool:
        return should_stop is not None and should_stop()

    async def turn(episode: Episode) -> None:
        draft = run.draft(episode)
        if draft is None:
            return  # context_limit: it has ended
        try:
            outputs: list[Any] = list(await run.model.agenerate([draft.prompt], run.params))
            note_completion_tokens(run.model, [draft])  # before anything else awaits
        except BatchModelError as exc:  # a one-prompt batch: its one outcome
            outputs = list(exc.outputs[:1]) or [exc]
        except Exception as exc:
            outputs = [exc]
        run.model_calls += 1
        apply_output(episode, draft, outputs[0])
        await step(episode, draft)
        answer = None
        provider = episode.spec.feedback
        if provider is not None and needs_feedback(episode, draft):
            try:
                answer = (await provider.afeedback([feedback_request(episode, draft)]))[0]
            except Exception as exc:
                answer = exc
        # close_turn may end the episode, closing its env: a thread-affine env (Playwright's
        # browser) is closed in the thread that made it; any other here, without a thread hop
        # (two GIL hand-offs; a fifth of a one-turn episode's CPU time in the runner's harness).
        env = episode.env.unwrapped if episode.env is not None else None
        if getattr(env, "thread_affine", False):
            await in_env_thread(close_turn, episode, draft, answer)
        else:
            close_turn(episode, draft, answer)

    async def worker() -> None:
        while run.pending and not stopping():
            index, spec = run.pending.popleft()
            # An inline env (EpisodeSpec.inline_env) is made here: the hop to the env thread
            # and back left this slot without a request in flight for up to two switch
            # intervals of the GIL.
            episode = (
                start_episode(spec) if spec.inline_env else await in_env_thread(start_episode, spec)
            )
            slot = (index, episode)
            run.live.append(slot)
            try:
                while not episode.done and not stopping():
                    await turn(episode)
                    on_progress()
            finally:
                if episode.done:
                    run.live.remove(slot)
                    run.record(index, episode)
                    on_progress()
            if not episode.done:
                return  # stopping: the caller closes what is still live

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        # A bug (or a cancellation) in one worker stops them all: none is left running.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
