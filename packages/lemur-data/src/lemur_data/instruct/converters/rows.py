"""What a converter yields: a valid :class:`InstructExample` or a :class:`Rejected` row with a reason.

Every dropped row is counted by reason in the manifest (and listed in ``removed.jsonl``), never
silently lost; repairs that keep the row (a truncated tail, a dropped leading bot turn) are
counted in a ``fixes`` counter the converter is given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lemur_core import InstructExample, Message
from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class Rejected:
    """A source row (or example) that was dropped, and why."""

    row_id: str
    reason: str
    detail: str = ""


ConvertResult = InstructExample | Rejected
Row = Mapping[str, Any]
Fixes = Counter[str]


def make_example(row_id: str, source: str, messages: Iterable[Message]) -> ConvertResult:
    """Validate ``messages`` into an example, or a ``Rejected('invalid_example')`` saying why."""
    try:
        return InstructExample(id=row_id, source=source, messages=tuple(messages))
    except ValidationError as exc:
        first = exc.errors()[0]
        return Rejected(row_id, "invalid_example", str(first.get("msg", exc)))


def text_field(row: Row, key: str) -> str | None:
    """``row[key]`` when it is a string, else ``None`` (missing, null, or another type)."""
    value = row.get(key)
    return value if isinstance(value, str) else None


def row_identity(row: Any, fallback: str) -> str:
    """A stable id for a row: its ``id``/``message_id`` field when present, else ``fallback``."""
    if isinstance(row, Mapping):
        for key in ("id", "message_id", "conversation_id"):
            value = row.get(key)
            if isinstance(value, str | int) and str(value):
                return str(value)
    return fallback


def only_examples(results: Iterable[ConvertResult]) -> Iterator[InstructExample]:
    """The examples among ``results`` (for callers that count rejects elsewhere)."""
    for item in results:
        if isinstance(item, InstructExample):
            yield item
