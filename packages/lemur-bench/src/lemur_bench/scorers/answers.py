"""Answer extraction and matching for the single-turn text benchmarks: GSM8K's final number,
MMLU's option letter, BBH's target. (MINT's answer checks, with their scoring modes, are in
:mod:`lemur_bench.scorers.mint_answers`.)
"""

from __future__ import annotations

import math
import re
from typing import Any

from lemur_core import ScoreResult

_NUM = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")


def _to_float(text: str) -> float | None:
    try:
        value = float(text.replace(",", "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def extract_final_number(text: str) -> str | None:
    """GSM8K-style answer: the number after 'answer is', else the last number in ``text``."""
    tail = re.split(r"answer is", text, flags=re.IGNORECASE)
    scope = tail[-1] if len(tail) > 1 else text
    nums = _NUM.findall(scope) or _NUM.findall(text)
    if not nums:
        return None
    pick = nums[0] if len(tail) > 1 else nums[-1]
    return pick.replace(",", "").rstrip(".")


def score_numeric_exact(prediction: str, reference: Any) -> ScoreResult:
    """GSM8K: the extracted number equals the reference number exactly."""
    got = extract_final_number(prediction)
    ref = _to_float(str(reference))
    val = _to_float(got) if got is not None else None
    ok = val is not None and ref is not None and val == ref
    return ScoreResult(score=float(ok), correct=ok, details={"extracted": got})


_LETTER_PATTERNS = (
    re.compile(r"answer is\s*\(?([A-J])\)?", re.IGNORECASE),
    re.compile(r"answer\s*:\s*\(?([A-J])\)?", re.IGNORECASE),
    re.compile(r"^\s*\(?([A-J])\)?(?:[.):\s]|$)"),
    re.compile(r"\b([A-J])\b"),
)


def extract_option(text: str) -> str | None:
    """The option letter a reply chooses ('The answer is (B)', 'Answer: B', 'B. ...')."""
    for pat in _LETTER_PATTERNS:
        match = pat.search(text)
        if match:
            return match.group(1).upper()
    return None


def score_option_match(prediction: str, reference: Any) -> ScoreResult:
    """MMLU: the chosen letter equals the reference letter."""
    got = extract_option(prediction)
    ok = got is not None and got == str(reference).strip().upper()
    return ScoreResult(score=float(ok), correct=ok, details={"extracted": got})


def _bbh_norm(text: str) -> str:
    return " ".join(text.strip().strip(".").lower().split())


def score_bbh_match(prediction: str, reference: Any) -> ScoreResult:
    """BBH: the text after the last 'the answer is' (CoT) equals the target, normalized."""
    parts = re.split(r"answer is", prediction, flags=re.IGNORECASE)
    got = parts[-1] if len(parts) > 1 else (prediction.strip().splitlines() or [""])[-1]
    ok = _bbh_norm(got) == _bbh_norm(str(reference))
    return ScoreResult(score=float(ok), correct=ok, details={"extracted": got.strip()})
