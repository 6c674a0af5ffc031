"""The episode loop's continuous schedule: each episode asks for its next turn on its own."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from lemur_agents.loop import LoopConfig, arun_episodes, run_episodes
from lemur_agents.models import ModelError, ScriptedChatModel
from lemur_core import Conversation, EpisodeRecord, GenerationParams, TerminationReason

# The round-schedule tests' guessing env and helpers, loaded from their file (importlib mode
# keeps test modules out of sys.path).
_spec_file = Path(__file__).with_name("test_agents_loop.py")
_loader = importlib.util.spec_from_file_location("_agents_loop_cases", _spec_file)
assert _loader is not None and _loader.loader is not None
cases: Any = importlib.util.module_from_spec(_loader)
sys.modules["_agents_loop_cases"] = cases
_loader.loader.exec_module(cases)

CONTINUOUS = LoopConfig(schedule="continuous")


def _strip(r: EpisodeRecord) -> dict[str, Any]:
    return r.model_dump(exclude={"started_at", "finished_at"})


def _mixed(conversation: Conversation) -> str:
    # Termination paths: solved, given up, env crash, max turns.
    task = cases._task(conversation)
    turn = cases._turn(conversation)
    if task == 1:
        return "give up"
    if task == 2:
        return "crash"
    if task == 3:
        return "guess 99"
    return f"```\nguess {turn}\n```"


class _TimedModel(ScriptedChatModel):
    """Answers each conversation after a delay that depends on its task; counts how many
    requests are in flight at once."""

    def __init__(self, delays: dict[int, float], fail_task: int | None = None) -> None:
        super().__init__(cases._counting_guesser)
        self.delays = delays
        self.fail_task = fail_task
        self.in_flight = 0
        self.most_in_flight = 0

    async def agenerate(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[str]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            task = cases._task(conversations[0])
            await asyncio.sleep(self.delays.get(task, 0.0))
            if task == self.fail_task:
                raise ModelError("the server failed for this conversation")
            return self.generate(conversations, params)
        finally:
            self.in_flight -= 1


def test_records_are_the_same_as_in_rounds() -> None:
    specs = [cases._spec(i, max_turns=5) for i in range(12)]
    rounds = run_episodes(ScriptedChatModel(_mixed), specs)
    model = ScriptedChatModel(_mixed)
    continuous = run_episodes(model, specs, config=CONTINUOUS, max_live_episodes=5)
    assert [_strip(r) for r in continuous] == [_strip(r) for r in rounds]
    reasons = {r.termination for r in continuous}
    assert {
        TerminationReason.SOLVED,
        TerminationReason.SUBMITTED,
        TerminationReason.ENV_ERROR,
        TerminationReason.MAX_TURNS,
    } <= reasons
    # One conversation per call: as many calls as turns played.
    assert model.batch_sizes == [1] * sum(len(r.turns) for r in continuous)


def test_a_fast_episode_does_not_wait_for_a_slow_one() -> None:
    # t0's one request takes 0.4 s; t3 needs 4 turns of 10 ms. In rounds t3 would finish
    # after t0 (its first turn waits for t0's answer); here it finishes first.
    model = _TimedModel({0: 0.4, 3: 0.01})
    order: list[str] = []
    specs = [cases._spec(0), cases._spec(3)]
    asyncio.run(
        arun_episodes(
            model, specs, config=CONTINUOUS, on_episode_end=lambda r: order.append(r.episode_id)
        )
    )
    assert order == ["ep3", "ep0"]


def test_live_episodes_bound_the_requests_in_flight() -> None:
    model = _TimedModel({i: 0.01 for i in range(4)})
    records = asyncio.run(
        arun_episodes(
            model, [cases._spec(i) for i in range(12)], config=CONTINUOUS, max_live_episodes=3
        )
    )
    assert model.most_in_flight == 3
    assert [r.episode_id for r in records] == [f"ep{i}" for i in range(12)]
    assert all(r.success for r in records)


def test_a_model_error_ends_only_its_episode() -> None:
    model = _TimedModel({}, fail_task=2)
    records = run_episodes(model, [cases._spec(i) for i in range(4)], config=CONTINUOUS)
    by_task = {r.task_id: r for r in records}
    assert by_task["t2"].termination is TerminationReason.MODEL_ERROR
    assert "server failed" in str(by_task["t2"].info["error"])
    assert all(by_task[t].success for t in ("t0", "t1", "t3"))


def test_should_stop_starts_no_new_turn_and_keeps_finished_records() -> None:
    finished: list[str] = []
    closed: list[bool] = []

    class Tracked(cases.GuessEnv):
        def close(self) -> None:
            closed.append(True)

    model = _TimedModel({i: 0.01 for i in range(4)})
    specs = [cases._spec(i, env=Tracked) for i in range(8)]
    records = run_episodes(
        model,
        specs,
        config=CONTINUOUS,
        max_live_episodes=4,
        on_episode_end=lambda r: finished.append(r.episode_id),
        should_stop=lambda: len(finished) >= 1,
    )
    assert [r.episode_id for r in records] == finished
    assert 1 <= len(records) < 4
    assert len(closed) == 4  # no episode started after the stop; every started env closed


def test_feedback_is_asked_per_episode_and_shown_next_turn() -> None:
    provider = cases._HintProvider()
    specs = [cases._spec(i, task_id=f"t{i}", feedback=provider) for i in range(3)]
    records = run_episodes(ScriptedChatModel(cases._counting_guesser), specs, config=CONTINUOUS)
    assert provider.calls == [1, 1, 1]  # t1 after turn 1, t2 after turns 1 and 2
    second_prompt = records[2].turns[1].prompt[-1].content
    assert "Expert feedback:" in second_prompt and "env said higher" in second_prompt


def test_backend_token_counts_are_recorded_per_turn() -> None:
    class Counting(ScriptedChatModel):
        async def agenerate(
            self, conversations: Sequence[Conversation], params: GenerationParams
        ) -> list[str]:
            texts = self.generate(conversations, params)
            await asyncio.sleep(0)
            self.last_completion_tokens = [len(t) for t in texts]
            return texts

    records = run_episodes(
        Counting(cases._counting_guesser), [cases._spec(i) for i in range(4)], config=CONTINUOUS
    )
    for record in records:
        assert [t.completion_tokens for t in record.turns] == [
            len(t.raw_output) for t in record.turns
        ]


@pytest.mark.parametrize("schedule", ["rounds", "continuous"])
def test_a_bug_in_the_loop_is_raised_not_swallowed(schedule: str) -> None:
    class Broken(ScriptedChatModel):
        def count_tokens(self, conversation: Conversation) -> int:
            raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        run_episodes(
            Broken(cases._counting_guesser),
            [cases._spec(i) for i in range(3)],
            config=LoopConfig(schedule=schedule, context_window=64),  # type: ignore[arg-type]
        )


def test_the_progress_bar_shows_turns_and_an_eta(capsys: pytest.CaptureFixture[str]) -> None:
    config = LoopConfig(schedule="continuous", progress=True, progress_label="cont")
    records = run_episodes(
        ScriptedChatModel(cases._counting_guesser),
        [cases._spec(i) for i in range(4)],
        config=config,
    )
    shown = " ".join(capsys.readouterr().out.split())
    turns = sum(len(r.turns) for r in records)
    assert "cont" in shown and "ETA" in shown and f"{turns} turns" in shown, shown


class _ThreadNotingEnv(cases.GuessEnv):  # type: ignore[name-defined,misc]
    """The guessing env, noting the thread of every reset and step."""

    threads: ClassVar[list[str]] = []

    def reset(self, **kwargs: Any) -> Any:
        type(self).threads.append(threading.current_thread().name)
        return super().reset(**kwargs)

    def step(self, action: str) -> Any:
        type(self).threads.append(threading.current_thread().name)
        return super().step(action)


@pytest.mark.parametrize("schedule", ["rounds", "continuous"])
def test_an_inline_env_is_made_and_stepped_on_the_loop_thread_with_the_same_records(
    schedule: str,
) -> None:
    config = LoopConfig(schedule=schedule)  # type: ignore[arg-type]
    threaded = [cases._spec(i, env=_ThreadNotingEnv, max_turns=5) for i in range(8)]
    inline = [cases._spec(i, env=_ThreadNotingEnv, max_turns=5, inline_env=True) for i in range(8)]

    def play(specs: list[Any]) -> tuple[list[dict[str, Any]], set[str]]:
        _ThreadNotingEnv.threads = []

        async def main() -> tuple[list[EpisodeRecord], str]:
            records = await arun_episodes(
                ScriptedChatModel(_mixed), specs, config=config, max_live_episodes=3
            )
            return records, threading.current_thread().name

        records, loop_thread = asyncio.run(main())
        seen = set(_ThreadNotingEnv.threads)
        return [_strip(r) for r in records], {"loop" if t == loop_thread else t for t in seen}

    threaded_records, threaded_seen = play(threaded)
    inline_records, inline_seen = play(inline)
    assert inline_records == threaded_records
    # Steps (and, in the continuous schedule, resets) of an ordinary env leave the loop thread.
    assert "loop" not in threaded_seen
    expected = {"loop"} if schedule == "continuous" else {"loop", "lemur-envs_0"}
    assert inline_seen == expected
