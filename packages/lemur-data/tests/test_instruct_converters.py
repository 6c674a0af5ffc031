"""Every converter on fixture rows in its source's published schema, malformed rows included."""

from __future__ import annotations

from collections import Counter

from lemur_core import InstructExample, Role
from lemur_data.instruct.converters import (
    Rejected,
    convert_evol_codealpaca,
    convert_oasst1,
    convert_openorca,
    convert_sharegpt,
)
from lemur_data.instruct.steps import split_by_token_budget


def _oasst(mid, parent, role, text, rank=None, tree="t1", lang="en", deleted=False):
    return {"message_id": mid, "parent_id": parent, "user_id": "u", "created_date": "2023-02-05T00:00:00", "text": text,
            "role": role, "lang": lang, "review_count": 3, "review_result": True, "deleted": deleted, "rank": rank,
            "synthetic": False, "model_name": None, "detoxify": None, "message_tree_id": tree, "tree_state": "ready_for_export",
            "emojis": None, "labels": None}  # fmt: skip


def test_oasst1_thread_follows_best_ranked_reply_and_counts_bad_rows() -> None:
    rows = [
        _oasst("p1", None, "prompter", "What is a list?"),
        _oasst("a2", "p1", "assistant", "second best", rank=1),
        _oasst("a1", "p1", "assistant", "A list is an ordered sequence.", rank=0),
        _oasst("p2", "a1", "prompter", "And a tuple?"),
        _oasst("a3", "p2", "assistant", "An immutable sequence.", rank=0),
        _oasst("a4", "p2", "assistant", "deleted reply", rank=1, deleted=True),
        _oasst("x1", "missing", "assistant", "orphan"),
        {"message_id": "bad", "role": "robot", "text": "?"},
        _oasst("q1", None, "prompter", "Hola?", tree="t2", lang="es"),
    ]
    results = list(convert_oasst1(rows, "oasst1", Counter()))
    examples = [r for r in results if isinstance(r, InstructExample)]
    reasons = Counter(r.reason for r in results if isinstance(r, Rejected))
    assert [m.content for m in examples[0].messages] == [
        "What is a list?",
        "A list is an ordered sequence.",
        "And a tuple?",
        "An immutable sequence.",
    ]
    assert examples[0].id == "oasst1/en/t1"
    assert reasons == Counter(
        {"deleted_message": 1, "orphan_message": 1, "malformed_row": 1, "no_assistant_reply": 1}
    )


def test_oasst1_language_selection_keeps_thread_language() -> None:
    rows = [
        _oasst("p", None, "prompter", "Hallo?", lang="de"),
        _oasst("a", "p", "assistant", "Hallo!", rank=0),
    ]
    assert isinstance(next(iter(convert_oasst1(rows, "o", Counter(), ["en"]))), Rejected)
    assert next(iter(convert_oasst1(rows, "o", Counter(), ["de"]))).id == "oasst1/de/t1"  # type: ignore[union-attr]


def test_openorca_system_question_response_and_malformed() -> None:
    rows = [
        {"id": "flan.1", "system_prompt": "You are helpful.", "question": "2+2?", "response": "4"},
        {"id": "flan.2", "system_prompt": "", "question": "Hi", "response": "Hello"},
        {"id": "flan.3", "system_prompt": "", "question": "Hi"},
        {"id": "flan.4", "system_prompt": "", "question": " ", "response": "x"},
        "not an object",
    ]
    out = list(convert_openorca(rows, "orca", Counter()))
    assert [m.role for m in out[0].messages] == [Role.SYSTEM, Role.USER, Role.ASSISTANT]  # type: ignore[union-attr]
    assert [m.role for m in out[1].messages] == [Role.USER, Role.ASSISTANT]  # type: ignore[union-attr]
    assert [r.reason for r in out[2:]] == ["malformed_row", "empty_turn", "malformed_row"]  # type: ignore[union-attr]


def test_evol_codealpaca_appends_input_and_rejects_missing_output() -> None:
    rows = [
        {"instruction": "Sort it.", "input": "[3,1]", "output": "[1,3]"},
        {"instruction": "x"},
        {"instruction": "", "output": "y"},
    ]
    out = list(convert_evol_codealpaca(rows, "evol", Counter()))
    assert out[0].messages[0].content == "Sort it.\n\n[3,1]"  # type: ignore[union-attr]
    assert [r.reason for r in out[1:]] == ["malformed_row", "empty_turn"]  # type: ignore[union-attr]


def test_sharegpt_cleans_html_and_repairs_or_rejects_broken_turns() -> None:
    html = ('<div><p>Use <code>sorted</code>:</p><pre><div class="x"><span>python</span><button>Copy code</button></div>'
            '<div><code class="!whitespace-pre hljs language-python">print(sorted([3, 1]))\n</code></div></pre></div>')  # fmt: skip
    rows = [
        {"id": "a", "conversations": [{"from": "gpt", "value": "Hi! How can I help?"}, {"from": "human", "value": "Sort a list?"},
                                      {"from": "gpt", "value": html}, {"from": "gpt", "value": "again"}]},
        {"id": "b", "conversations": [{"from": "human", "value": "x"}, {"from": "robot", "value": "y"}]},
        {"id": "c", "conversations": [{"from": "human", "value": "only a question"}]},
        {"id": "d", "conversations": "oops"},
        {"id": "e", "conversations": [{"from": "human", "value": ""}, {"from": "gpt", "value": "x"}]},
    ]  # fmt: skip
    fixes: Counter[str] = Counter()
    out = list(convert_sharegpt(rows, "sharegpt", fixes))
    first = out[0]
    assert isinstance(first, InstructExample)
    assert [m.role for m in first.messages] == [Role.USER, Role.ASSISTANT]
    assert first.messages[1].content == "Use `sorted`:\n\n```python\nprint(sorted([3, 1]))\n```"
    assert (
        fixes["sharegpt_leading_assistant_dropped"] == 1
        and fixes["sharegpt_cut_at_non_alternating_turn"] == 1
    )
    assert [r.reason for r in out[1:]] == [
        "unknown_role",
        "no_assistant_reply",
        "malformed_row",
        "empty_conversation",
    ]  # type: ignore[union-attr]


def test_split_by_token_budget_keeps_whole_rounds_under_budget() -> None:
    rows = [{"id": "l", "conversations": [x for i in range(6) for x in (
        {"from": "human", "value": f"question {i} " + "w " * 10}, {"from": "gpt", "value": f"answer {i} " + "w " * 20})]}]  # fmt: skip
    ex = next(iter(convert_sharegpt(rows, "s", Counter())))
    assert isinstance(ex, InstructExample)
    parts = split_by_token_budget(ex, 70, lambda t: len(t.split()), Counter())
    assert len(parts) == 3 and all(
        sum(len(m.content.split()) for m in p.messages) <= 70 for p in parts
    )
    assert [m for p in parts for m in p.messages] == list(ex.messages)
    assert parts[1].id == "s/l#part1"
