"""WebArena's LLM-judged checks (fuzzy_match, ua_match) with a scripted judge model."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from lemur_agents.envs.web.evaluators import UnscorableTaskError, evaluate, string_score
from lemur_agents.envs.web.judge import (
    JUDGE_SYSTEM_PROMPT,
    LLMJudge,
    fuzzy_match_prompt,
    read_verdict,
    ua_match_prompt,
)
from lemur_agents.envs.web.tasks import WebArenaEval
from lemur_agents.models.scripted import ScriptedChatModel
from lemur_core import Conversation


def _spec(fuzzy: object, note: str | None = None) -> WebArenaEval:
    return WebArenaEval.model_validate(
        {
            "eval_types": ["string_match"],
            "reference_answers": {"fuzzy_match": fuzzy},
            "reference_url": "",
            "program_html": [],
            "string_note": note,
        }
    )


class _Grader:
    """A judge model that grades by a rule and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[Conversation] = []

    def __call__(self, conversation: Conversation) -> str:
        self.asked.append(conversation)
        prompt = conversation[-1].content
        if prompt.startswith("Task_1 cannot be completed"):
            return "[same]" if "out of stock" in prompt.split("Report_1 = ")[1] else "[different]"
        student = prompt.split("student answer: ")[1].split("\n")[0]
        if student == "twelve dollars and fifty cents":
            return "The answer is correct."
        if student == "about twelve dollars":
            return "partially correct"
        return "incorrect"


def test_fuzzy_match_scores_by_the_judges_verdict_and_caches_replies(tmp_path: Path) -> None:
    grader = _Grader()
    judge = LLMJudge(ScriptedChatModel(grader, name="grader"), cache_path=tmp_path / "j.jsonl")
    spec = _spec(["$12.50"])
    intent = "What is the price of the mug?"
    assert string_score(spec, "Twelve dollars and fifty cents", intent, judge) == 1.0
    assert string_score(spec, "about twelve dollars", intent, judge) == 0.0
    assert string_score(spec, "$3", intent, judge) == 0.0
    # WebArena's fixed prompt, after its system prompt; the judge sees the cleaned answer.
    first = grader.asked[0]
    assert first[0].content == JUDGE_SYSTEM_PROMPT
    assert first[1].content == fuzzy_match_prompt(
        intent, "$12.50", "twelve dollars and fifty cents"
    )
    records = judge.take_judgements()
    assert [r["score"] for r in records] == [1.0, 0.0, 0.0]
    assert records[0]["judge_model"] == "grader" and not records[0]["cached"]
    # A second judge over the same cache asks the model nothing.
    again = LLMJudge(ScriptedChatModel(grader, name="grader"), cache_path=tmp_path / "j.jsonl")
    asked = len(grader.asked)
    assert string_score(spec, "Twelve dollars and fifty cents", intent, again) == 1.0
    assert len(grader.asked) == asked and again.take_judgements()[0]["cached"]
    # Every listed reference must be judged correct (the scores multiply).
    assert string_score(_spec(["$12.50", "12.5"]), "about twelve dollars", intent, judge) == 0.0


def test_unachievable_tasks_follow_webarenas_na_then_ua_match_rule() -> None:
    grader = _Grader()
    judge = LLMJudge(ScriptedChatModel(grader, name="grader"))
    spec = _spec("N/A", note="the product is out of stock")
    intent = "Buy the red mug"
    assert string_score(spec, "N/A", intent, None) == 1.0  # no judge needed
    assert not grader.asked
    assert string_score(spec, "I cannot: it is out of stock", intent, judge) == 1.0
    assert grader.asked[-1][1].content == ua_match_prompt(
        intent, "the product is out of stock", "i cannot: it is out of stock"
    )
    assert string_score(spec, "done, bought it", intent, judge) == 0.0


def test_without_a_judge_judged_tasks_are_unscorable_not_failed() -> None:
    with pytest.raises(UnscorableTaskError, match="--judge-model"):
        string_score(_spec(["$12.50"]), "$12.50", "price?", None)
    with pytest.raises(UnscorableTaskError, match="ua_match"):
        string_score(_spec("N/A", note="x"), "no", "task", lambda i, r, p: 1.0)
    # A reply without a verdict word is not guessed either.
    mute = LLMJudge(ScriptedChatModel(lambda c: "I am not sure.", name="mute"))
    with pytest.raises(UnscorableTaskError, match="no verdict"):
        evaluate(
            _spec(["$12.50"]),
            answer="$12.50",
            page_url="",
            read_page=lambda u, s: "",
            intent="?",
            fuzzy_judge=mute,
        )


def test_verdicts_are_read_as_webarena_reads_them() -> None:
    assert read_verdict("fuzzy_match", "Correct.") == 1.0
    assert read_verdict("fuzzy_match", "It is partially correct") == 0.0
    assert read_verdict("fuzzy_match", "INCORRECT") == 0.0
    assert read_verdict("ua_match", "[same]") == 1.0
    assert read_verdict("ua_match", "[different]") == 0.0


def test_a_judge_from_a_scripted_spec_file(tmp_path: Path) -> None:
    script = tmp_path / "judge.yaml"
    script.write_text(
        yaml.safe_dump(
            {"scripts": [{"match": "student answer: $12.50", "completions": ["correct"]}]}
        )
    )
    judge = LLMJudge.from_spec(f"scripted:{script}")
    assert string_score(_spec(["12.50 dollars"]), "$12.50", "price?", judge) == 1.0
