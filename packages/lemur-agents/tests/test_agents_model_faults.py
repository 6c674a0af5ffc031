"""The OpenAI-compatible client, the loop and the simulated user against a real loopback server
that misbehaves (lemur_agents.models.loopback_server): what a flaky server does is retried, what
retrying cannot fix fails at once with the fix, and one failed request costs no other answer."""

from __future__ import annotations

import re
import time
from typing import Any

import gymnasium as gym
import pytest
from gymnasium import spaces
from lemur_agents.feedback import FeedbackRequest, SimulatedUserFeedback
from lemur_agents.loop import CodeBlockFormat, EpisodeSpec, arun_episodes, run_episodes
from lemur_agents.models import (
    BatchModelError,
    ModelEndpointError,
    ModelError,
    OpenAIChatModel,
)
from lemur_agents.models.loopback_server import FAULTS, Fault, FaultPlan, LoopbackServer
from lemur_core import GenerationParams, Message, Role, TerminationReason


def _echo(messages: list[dict[str, str]], body: dict[str, Any]) -> str:
    last = messages[-1]["content"]
    if "poison" in last:
        raise ModelError("this conversation is refused")
    return f"echo {last}"


def _client(server: LoopbackServer, **kwargs: Any) -> OpenAIChatModel:
    defaults: dict[str, Any] = {"timeout": 0.5, "max_retries": 3, "backoff_seconds": 0.01}
    return OpenAIChatModel(server.url, server.served_model, **{**defaults, **kwargs})


def _ask(*texts: str) -> list[list[Message]]:
    return [[Message(role=Role.USER, content=t)] for t in texts]


@pytest.mark.parametrize("fault", FAULTS)
def test_each_server_fault_is_retried_until_the_answer_comes(fault: Fault) -> None:
    plan = FaultPlan(rate=1.0, faults=(fault,), repeats=2, hang_seconds=1.0)
    with LoopbackServer(_echo, plan=plan) as server:
        model = _client(server)
        assert model.generate(_ask("q"), GenerationParams()) == ["echo q"]
        assert server.stats[fault] == 2 and server.completions == 1
        assert model.retries == 2


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_that_persists_is_a_model_error_after_a_bounded_number_of_attempts(
    fault: Fault,
) -> None:
    with LoopbackServer(_echo, plan=FaultPlan(always=fault, hang_seconds=1.0)) as server:
        model = _client(server, max_retries=2)
        with pytest.raises(ModelError, match="failed after 3 attempts") as info:
            model.generate(_ask("q"), GenerationParams())
        assert not isinstance(info.value, ModelEndpointError)
        assert server.requests == 3


def test_rate_limits_wait_for_retry_after_not_the_backoff() -> None:
    plan = FaultPlan(rate=1.0, faults=("rate_limit",), repeats=1, retry_after_seconds=0.3)
    with LoopbackServer(_echo, plan=plan) as server:
        model = _client(server, backoff_seconds=0.0)
        started = time.monotonic()
        assert model.generate(_ask("q"), GenerationParams()) == ["echo q"]
        assert time.monotonic() - started >= 0.3


def test_a_wrong_model_name_fails_at_once_naming_the_served_models() -> None:
    with LoopbackServer(_echo, served_model="lemur-70b") as server:
        model = OpenAIChatModel(server.url, "lemur-7b", max_retries=5, backoff_seconds=0.01)
        with pytest.raises(ModelEndpointError, match=r"no model 'lemur-7b'.*serves lemur-70b"):
            model.generate(_ask("q"), GenerationParams())
        assert server.requests == 1


def test_refused_credentials_fail_at_once_naming_the_key() -> None:
    with LoopbackServer(_echo, api_key="sk-right") as server:
        model = _client(server, api_key="sk-wrong", max_retries=5)
        with pytest.raises(ModelEndpointError, match="OPENAI_API_KEY"):
            model.generate(_ask("q"), GenerationParams())
        assert server.requests == 1


def test_a_failed_request_keeps_the_other_answers_of_its_batch() -> None:
    with LoopbackServer(_echo) as server:
        model = _client(server)
        with pytest.raises(BatchModelError) as info:
            model.generate(_ask("a", "poison", "c"), GenerationParams())
        outputs = info.value.outputs
        assert outputs[0] == "echo a" and outputs[2] == "echo c"
        assert isinstance(outputs[1], ModelError) and "refused" in str(outputs[1])
        assert server.requests == 3  # a 400 is not retried


class _EchoEnv(gym.Env[str, str]):
    """Task ``tK``: solved by answering ``echo K``; any other answer ends unsolved."""

    def __init__(self) -> None:
        self.observation_space = spaces.Text(200)
        self.action_space = spaces.Text(200)
        self.task = ""

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self.task = (options or {})["task_id"]
        return f"say {self.task}", {}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        ok = action.strip() == f"echo say {self.task}"
        return ("right" if ok else "wrong"), float(ok), True, False, {"success": ok}


def _episodes(*tasks: str) -> list[EpisodeSpec]:
    return [
        EpisodeSpec(
            episode_id=t,
            env=_EchoEnv,
            task_id=t,
            max_turns=1,
            action_format=CodeBlockFormat(("text",), bare_fallback=True),
        )
        for t in tasks
    ]


@pytest.mark.parametrize("run", [run_episodes, arun_episodes])
def test_the_loop_ends_only_the_episode_whose_request_failed(run: Any) -> None:
    import asyncio

    with LoopbackServer(_echo) as server:
        model = _client(server)
        episodes = _episodes("t1", "poison", "t3")
        records = (
            asyncio.run(run(model, episodes)) if run is arun_episodes else run(model, episodes)
        )
        by_id = {r.episode_id: r for r in records}
        assert by_id["t1"].success and by_id["t3"].success
        assert by_id["poison"].termination is TerminationReason.MODEL_ERROR
        assert "refused" in by_id["poison"].info["error"]
        # One batched round: nobody was asked again one by one.
        assert server.requests == 3


def test_should_stop_ends_the_run_before_the_next_round() -> None:
    with LoopbackServer(_echo) as server:
        model = _client(server)
        ended: list[str] = []
        records = run_episodes(
            model,
            _episodes("t1", "t2", "t3", "t4"),
            on_episode_end=lambda r: ended.append(r.episode_id),
            max_live_episodes=1,
            should_stop=lambda: len(ended) >= 2,
        )
        assert [r.episode_id for r in records] == ["t1", "t2"] == ended
        assert server.requests == 2


class _TalkEnv(gym.Env[str, str]):
    """Two turns: the first answer is always wrong, so feedback is asked for."""

    def __init__(self) -> None:
        self.observation_space = spaces.Text(200)
        self.action_space = spaces.Text(200)
        self.turn = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self.turn = 0
        return f"task {(options or {})['task_id']}", {}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.turn += 1
        return "not yet", 0.0, self.turn >= 2, False, {"success": False}


def _feedback_answer(messages: list[dict[str, str]], body: dict[str, Any]) -> str:
    text = messages[-1]["content"]
    if "Your feedback to the student" in text:
        if "task bad" in text:
            raise ModelError("the simulated user is down")
        return "Check the units."
    return "an attempt"


def test_a_failed_feedback_request_ends_only_its_episode_with_the_reason() -> None:
    with LoopbackServer(_feedback_answer) as server:
        model = _client(server)
        user = SimulatedUserFeedback(_client(server))
        episodes = [
            EpisodeSpec(
                episode_id=t,
                env=_TalkEnv,
                task_id=t,
                max_turns=2,
                action_format=CodeBlockFormat(("text",), bare_fallback=True),
                feedback=user,
                reference="42",
            )
            for t in ("good", "bad")
        ]
        by_id = {r.episode_id: r for r in run_episodes(model, episodes)}
        assert by_id["good"].termination is TerminationReason.SUBMITTED
        assert by_id["good"].turns[0].feedback == "Check the units."
        bad = by_id["bad"]
        assert bad.termination is TerminationReason.MODEL_ERROR
        assert re.search(r"feedback model failed.*simulated user is down", bad.info["error"])
        assert len(bad.turns) == 1  # the agent's turn is kept


def test_simulated_user_returns_the_error_in_the_failed_requests_slot() -> None:
    with LoopbackServer(_feedback_answer) as server:
        user = SimulatedUserFeedback(_client(server))
        requests = [
            FeedbackRequest(
                episode_id=t,
                task=f"task {t}",
                history=(),
                raw_output="x",
                observation="y",
                reward=0.0,
                reference="42",
            )
            for t in ("good", "bad")
        ]
        answers = user.feedback(requests)
        assert answers[0] == "Check the units."
        assert isinstance(answers[1], ModelError)
