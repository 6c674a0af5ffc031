"""Execution-based scorers: HumanEval, MBPP, MultiPL-E, DS-1000, and Spider execution accuracy.

Programs are assembled exactly as the official harnesses assemble them (HumanEval:
``prompt + completion + test + check(entry_point)``; MBPP: code, setup, asserts; MultiPL-E:
``prompt + completion + tests``; DS-1000: ``code_context`` + ``test_execution(solution)``) and run
by :func:`lemur_bench.scorers.execution.run_check` in the sandbox, which passes a program only if
its tests ran to completion (an early ``sys.exit(0)`` fails) and discards output past its cap
instead of failing. Chat models answer with a
fenced block that restates the function: :func:`extract_code` takes that block, and a completion
that defines the entry point is appended after the prompt (Python lets the later definition win).
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from lemur_core import ScoreResult

from lemur_bench.scorers.execution import run_check, toolchain_available

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)


def extract_code(text: str, language: str | None = None) -> str:
    """The first fenced block (preferring ``language``), else ``text`` itself."""
    blocks = _FENCE.findall(text)
    if not blocks:
        return text
    if language:
        for lang, body in blocks:
            if lang.lower() in (language, language.lower()):
                return str(body)
    return str(blocks[0][1])


def humaneval_program(prompt: str, completion: str, test: str, entry_point: str) -> str:
    """The program HumanEval's checker runs for ``completion`` (see the module docstring)."""
    code = extract_code(completion, "python")
    if re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE):
        body = prompt + "\n    pass\n\n" + code
    else:
        body = prompt + completion
    return body + "\n" + test + "\n" + f"check({entry_point})"


def score_humaneval(
    prediction: str, reference: dict[str, Any], prompt: str, *, timeout: float = 10.0
) -> ScoreResult:
    """Pass/fail of a HumanEval completion by execution (only if ``check`` ran to the end)."""
    res = run_check(
        humaneval_program(prompt, prediction, reference["test"], reference["entry_point"]),
        timeout=timeout,
    )
    return ScoreResult(score=float(res.passed), correct=res.passed, details={"result": res.result})


def score_mbpp(prediction: str, reference: dict[str, Any]) -> ScoreResult:
    """Pass/fail of an MBPP program by its asserts."""
    code = extract_code(prediction, "python")
    program = "\n".join([reference.get("test_setup_code", "") or "", code, *reference["test_list"]])
    res = run_check(program)
    return ScoreResult(score=float(res.passed), correct=res.passed, details={"result": res.result})


def score_multipl_e(prediction: str, reference: dict[str, Any], prompt: str) -> ScoreResult:
    """Pass/fail of a MultiPL-E completion; a missing toolchain is an error the runner counts."""
    lang = str(reference["language"])
    if not toolchain_available(lang):
        raise RuntimeError(f"no toolchain for MultiPL-E language '{lang}' on this machine")
    code = extract_code(prediction, lang)
    body = code if code.lstrip().startswith(prompt.strip()[:20]) else prompt + code
    res = run_check(body + "\n" + str(reference["tests"]), lang)
    return ScoreResult(score=float(res.passed), correct=res.passed, details={"result": res.result})


def score_ds1000(prediction: str, reference: dict[str, Any]) -> ScoreResult:
    """Pass/fail of a DS-1000 solution via the problem's ``test_execution`` (and ``test_string``)."""
    code = extract_code(prediction, "python")
    ctx = str(reference["code_context"])
    program = ctx + f"\nsolution = {code!r}\ntest_execution(solution)\n"
    if "def test_string(" in ctx:
        program += "test_string(solution)\n"
    res = run_check(program, timeout=60)
    return ScoreResult(score=float(res.passed), correct=res.passed, details={"result": res.result})


def _rows(db: Path, query: str) -> list[tuple[Any, ...]] | None:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in con.execute(query).fetchall()]
    except sqlite3.Error:
        return None
    finally:
        con.close()


def score_spider(prediction: str, reference: dict[str, Any], db_root: Path) -> ScoreResult:
    """Spider execution accuracy: predicted and gold queries return the same rows (as a
    multiset; in order when the gold query has ORDER BY)."""
    db = db_root / "database" / reference["db_id"] / f"{reference['db_id']}.sqlite"
    if not db.exists():
        raise FileNotFoundError(f"Spider database {db} is missing (expected Spider's layout)")
    sql = extract_code(prediction, "sql").strip().rstrip(";")
    gold = _rows(db, reference["query"])
    got = _rows(db, sql)
    if got is None or gold is None:
        return ScoreResult(score=0.0, correct=False, details={"error": "query failed"})
    ordered = "order by" in reference["query"].lower()
    ok = got == gold if ordered else Counter(got) == Counter(gold)
    return ScoreResult(score=float(ok), correct=ok, details={"ordered": ordered})
