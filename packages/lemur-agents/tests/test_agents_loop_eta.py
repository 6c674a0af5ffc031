"""The progress bar's ETA comes from turns completed and the turn budgets of what is left."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from lemur_agents.loop import LoopConfig
from lemur_agents.loop.episode import step_env
from lemur_agents.loop.eta import format_eta, turns_eta, turns_expected
from lemur_agents.loop.runner import _Run
from lemur_agents.models import ScriptedChatModel
from lemur_core import GenerationParams

_spec_file = Path(__file__).with_name("test_agents_loop.py")
_loader = importlib.util.spec_from_file_location("_agents_loop_cases_eta", _spec_file)
assert _loader is not None and _loader.loader is not None
cases: Any = importlib.util.module_from_spec(_loader)
sys.modules["_agents_loop_cases_eta"] = cases
_loader.loader.exec_module(cases)


def test_without_finished_episodes_every_budget_counts_in_full() -> None:
    # 10 turns in 5 s = 2 turns/s; a pending episode may play 5, a live one 5 - 2 more.
    assert turns_expected([(5, 0), (5, 2)], []) == 8
    assert turns_eta(5.0, 10, [(5, 0), (5, 2)], []) == 4.0


def test_finished_episodes_scale_the_budgets_left() -> None:
    # Finished ones used 6 of 20 turns (30%): a pending 10-turn episode is expected to play 3;
    # a live one that already played 5 is expected to play no more.
    assert turns_expected([(10, 0), (10, 5)], [(10, 2), (10, 4)]) == 3.0


def test_no_estimate_before_a_turn_completes_and_the_format() -> None:
    assert turns_eta(30.0, 0, [(5, 0)], []) is None
    assert format_eta(None) == "-:--:--"
    assert format_eta(3725.4) == "1:02:05"
    assert turns_eta(3.0, 6, [], [(5, 1)]) == 0.0  # nothing left


def test_a_run_reports_the_eta_of_its_turns_not_its_episodes() -> None:
    model = ScriptedChatModel(cases._counting_guesser)
    specs = [cases._spec(i) for i in range(4)]  # tasks t0..t3, 6 turns each
    run = _Run(model, specs, GenerationParams(), LoopConfig(), None)
    now = [100.0]
    run.clock, run.started = (lambda: now[0]), 100.0
    assert run.fields()["eta"] == "-:--:--"
    run.admit(2)
    drafts = run.prepare()
    run.apply_completions(drafts, list(model.generate([d.prompt for d in drafts], run.params)))
    for (_, episode), draft in zip(run.live, drafts, strict=True):
        step_env(episode, draft)
    run.finish(drafts, {})
    now[0] = 104.0
    # t0 was solved in 1 of its 6 turns, t1 goes on: 2 turns in 4 s. Expected left: the two
    # pending ones 6 * 1/6 = 1 turn each, t1 none beyond the one it played: 2 turns = 4 s.
    assert len(run.records) == 1 and len(run.live) == 1
    assert run.eta_seconds() == 4.0
    assert run.fields()["eta"] == "0:00:04"
