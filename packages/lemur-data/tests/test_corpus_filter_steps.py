"""The quality and decontamination filters as datatrove ``BaseFilter`` steps: what they yield,
the per-reason counters the corpus manifest reads, and the optional rejected-documents writer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datatrove.data import Document
from lemur_data.corpus.config import CodeFilterConfig, TextFilterConfig
from lemur_data.corpus.filters import DecontamFilter, QualityFilter
from lemur_data.decontam import Decontaminator

# datatrove's JsonlWriter (the rejected-documents writer) needs orjson, not yet a dependency.
pytest.importorskip("orjson")

GOOD_CODE = "\n".join(
    f"def handler_{i}(request, response):\n    return request.value + response.count * {i}\n"
    for i in range(8)
)
GOOD_TEXT = (
    "The library provides a set of tools that make it easy to work with the files of a project. "
    "It is used by many people and it has been tested with care over the years to be reliable. "
) * 3

PROMPT = (
    "def has_close_elements(numbers, threshold): check if in given list of numbers "
    "are any two numbers closer to each other than given threshold"
)


def _doc(i: int, text: str, kind: str = "code") -> Document:
    return Document(
        text=text, id=f"d{i}", metadata={"type": kind, "source": "src", "language": "en"}
    )


def _docs() -> list[Document]:
    return [
        _doc(0, GOOD_CODE),
        _doc(1, "x = 1\n"),
        _doc(2, GOOD_TEXT, kind="text"),
        _doc(3, "too few words\n", kind="text"),
    ]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_quality_filter_keeps_passing_docs_counts_reasons_and_writes_rejected(
    tmp_path: Path,
) -> None:
    plain = QualityFilter(CodeFilterConfig(), TextFilterConfig())
    kept_plain = [d.id for d in plain.run(iter(_docs()), rank=0)]
    step = QualityFilter(CodeFilterConfig(), TextFilterConfig(), str(tmp_path / "rej"))
    kept = [d.id for d in step.run(iter(_docs()), rank=0)]
    assert kept == kept_plain == ["d0", "d2"]
    counts = {k: v.total for k, v in step.stats.stats.items()}
    assert counts["removed/src/too_short"] == 1
    assert counts["removed/src/too_few_words"] == 1
    assert counts["dropped_too_short"] == 1 and counts["dropped"] == 2
    rows = _rows(tmp_path / "rej" / "00000.jsonl")
    assert [(r["id"], r["metadata"]["filter_reason"]) for r in rows] == [
        ("d1", "too_short"),
        ("d3", "too_few_words"),
    ]


def test_decontam_filter_logs_hits_per_task_and_writes_rejected(tmp_path: Path) -> None:
    deco = Decontaminator({"he/0": PROMPT})
    step = DecontamFilter(deco, str(tmp_path / "hits"), str(tmp_path / "rej"))
    dirty = _doc(9, "# copied\n" + PROMPT.upper())
    assert [d.id for d in step.run(iter([_doc(0, GOOD_CODE), dirty]), rank=0)] == ["d0"]
    # The same instance running the next task starts an empty hit log.
    assert [d.id for d in step.run(iter([_doc(1, GOOD_CODE)]), rank=1)] == ["d1"]
    hits = _rows(tmp_path / "hits" / "00000.jsonl")
    assert hits and {(h["doc_id"], h["item_id"]) for h in hits} == {("d9", "he/0")}
    assert (tmp_path / "hits" / "00001.jsonl").read_text() == ""
    assert step.stats.stats["removed/src/decontaminated"].total == 1
    rejected = _rows(tmp_path / "rej" / "00000.jsonl")
    assert [(r["id"], r["metadata"]["filter_reason"]) for r in rejected] == [
        ("d9", "decontaminated")
    ]
