"""The progress line tells the truth about the server: the run's label, turns, requests,
retries and timeouts, not only whole episodes."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import pytest
from gymnasium import spaces
from lemur_agents.loop import CodeBlockFormat, EpisodeSpec, LoopConfig, run_episodes
from lemur_agents.models import OpenAIChatModel
from lemur_agents.models.loopback_server import FaultPlan, LoopbackServer


class _SayEnv(gym.Env[str, str]):
    """Solved by answering ``ok``."""

    def __init__(self) -> None:
        self.observation_space = spaces.Text(200)
        self.action_space = spaces.Text(200)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        return "say ok", {}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        ok = action.strip() == "ok"
        return ("right" if ok else "wrong"), float(ok), True, False, {"success": ok}


def test_progress_shows_the_label_turns_requests_retries_and_timeouts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Requests hang past the client's timeout until the plan's faults are spent; retries answer.
    plan = FaultPlan(rate=1.0, faults=("hang",), repeats=1, hang_seconds=1.5)
    with LoopbackServer(lambda messages, body: "ok", plan=plan) as server:
        model = OpenAIChatModel(
            server.url, server.served_model, timeout=0.5, max_retries=2, backoff_seconds=0.01
        )
        episodes = [
            EpisodeSpec(
                episode_id=f"e{i}",
                env=_SayEnv,
                task_id=str(i),
                max_turns=1,
                action_format=CodeBlockFormat(("text",), bare_fallback=True),
            )
            for i in range(2)
        ]
        records = run_episodes(
            model, episodes, config=LoopConfig(progress=True, progress_label="lemur-tiny on sql")
        )
    assert all(r.success for r in records)
    shown = " ".join(capsys.readouterr().out.split())
    assert "lemur-tiny on sql" in shown, shown
    assert model.timeouts >= 1 and model.retries >= model.timeouts  # the fault happened
    assert "2 turns" in shown, shown
    for count, label in (
        (model.requests_sent, "requests"),
        (model.retries, "retries"),
        (model.timeouts, "timeouts"),
    ):
        assert f"{count} {label}" in shown, shown
