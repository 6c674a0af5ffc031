"""ShareGPT-format conversations (ShareGPT, winglian/chatlogs-en-cleaned) -> messages.

Published schema: ``{"id": ..., "conversations": [{"from": "human"|"gpt"|..., "value": str}]}``.
Roles: ``human``/``user`` -> user; ``gpt``/``chatgpt``/``bing``/``bard``/``assistant``/``model`` ->
assistant; ``system`` -> system (first position only). Values are cleaned from HTML
(:func:`lemur_data.instruct.converters.markup.html_to_markdown`).

Repairs (counted in ``fixes``): leading assistant turns are dropped (the log began with a
greeting); the conversation is cut before the first empty or non-alternating turn; a trailing
user turn without a reply is dropped. A conversation with nothing usable left is rejected with
the reason. Splitting a long conversation into parts under a token budget is a step of the
build (:class:`lemur_data.instruct.steps.SplitByTokenBudget`), for every source.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from lemur_core import Message, Role

from lemur_data.instruct.converters.markup import html_to_markdown
from lemur_data.instruct.converters.rows import (
    ConvertResult,
    Fixes,
    Rejected,
    Row,
    make_example,
    row_identity,
)

_ROLES = {
    "human": Role.USER,
    "user": Role.USER,
    "gpt": Role.ASSISTANT,
    "chatgpt": Role.ASSISTANT,
    "bing": Role.ASSISTANT,
    "bard": Role.ASSISTANT,
    "assistant": Role.ASSISTANT,
    "model": Role.ASSISTANT,
    "system": Role.SYSTEM,
}


def _turns(row: Row) -> list[tuple[str, str]] | str:
    """(role name, value) pairs, or the reason the row is malformed."""
    conv = row.get("conversations", row.get("conversation", row.get("items")))
    if not isinstance(conv, list):
        return "needs a list field 'conversations'"
    turns = []
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict):
            return f"turn {i} is not an object"
        who, value = turn.get("from", turn.get("role")), turn.get("value", turn.get("content"))
        if not isinstance(who, str) or not isinstance(value, str):
            return f"turn {i} needs string fields 'from' and 'value'"
        turns.append((who.strip().lower(), value))
    return turns


def convert_sharegpt(rows: Iterable[Row], source: str, fixes: Fixes) -> Iterator[ConvertResult]:
    """Yield cleaned user/assistant conversations (see module docstring), or ``Rejected`` with
    ``malformed_row``, ``unknown_role``, ``empty_conversation`` or ``no_assistant_reply``."""
    for index, row in enumerate(rows):
        row_id = f"{source}/{row_identity(row, str(index))}"
        if not isinstance(row, dict):
            yield Rejected(row_id, "malformed_row", "row is not an object")
            continue
        turns = _turns(row)
        if isinstance(turns, str):
            yield Rejected(row_id, "malformed_row", turns)
            continue
        unknown = sorted({who for who, _ in turns if who not in _ROLES})
        if unknown:
            yield Rejected(row_id, "unknown_role", ", ".join(unknown))
            continue
        messages: list[Message] = []
        for position, (who, value) in enumerate(turns):
            role = _ROLES[who]
            content = html_to_markdown(value)
            if content != value.strip():
                fixes["sharegpt_markup_cleaned"] += 1
            if role is Role.SYSTEM:
                if position == 0 and content:
                    messages.append(Message(role=role, content=content))
                    continue
                fixes["sharegpt_cut_at_misplaced_system"] += 1
                break
            body = [m for m in messages if m.role is not Role.SYSTEM]
            if not body and role is Role.ASSISTANT:
                fixes["sharegpt_leading_assistant_dropped"] += 1
                continue
            if not content:
                fixes["sharegpt_cut_at_empty_turn"] += 1
                break
            expected = Role.USER if not body or body[-1].role is Role.ASSISTANT else Role.ASSISTANT
            if role is not expected:
                fixes["sharegpt_cut_at_non_alternating_turn"] += 1
                break
            messages.append(Message(role=role, content=content))
        if messages and messages[-1].role is Role.USER:
            messages.pop()
            fixes["sharegpt_trailing_user_dropped"] += 1
        if not any(m.role is Role.ASSISTANT for m in messages):
            had_reply = any(_ROLES[who] is Role.ASSISTANT for who, _ in turns)
            yield Rejected(row_id, "empty_conversation" if had_reply else "no_assistant_reply")
            continue
        yield make_example(row_id, source, messages)
