"""WebArena's evaluators: string match, URL match, page-content (``program_html``) checks.

Semantics follow WebArena's ``evaluation_harness/evaluators.py``: answers are cleaned
(stripped, surrounding quotes removed, lower-cased); ``exact_match`` compares cleaned strings;
``must_include`` needs every reference phrase inside the prediction (a phrase may list
alternatives joined by `` |OR| `` in page checks); URL match ("GOLD in PRED") needs a reference
base path inside the page's and every reference query value among the page's; the scores of
the evaluators a task lists are multiplied. ``fuzzy_match`` is judged by a language model in
WebArena: pass ``fuzzy_judge`` (an :class:`~lemur_agents.envs.web.judge.LLMJudge`, or any
``(intent, reference, prediction) -> score``) to score it; without one such a task is reported
unscorable rather than guessed. As upstream, the judge sees the cleaned (lower-cased) answer, and
a ``fuzzy_match`` of ``"N/A"`` (an unachievable task) scores 1 for the answer ``N/A`` and
otherwise *replaces* the score by the judge's ``ua_match`` of the answer against the task's
``string_note`` (the annotated reason).
"""

from __future__ import annotations

import re
import urllib.parse
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from lemur_agents.envs.web.judge import JudgeVerdictError
from lemur_agents.envs.web.tasks import WebArenaEval

FuzzyJudge = Callable[[str, str, str], float]  # (intent, reference, prediction) -> 0..1


class UnscorableTaskError(RuntimeError):
    """The task needs something this evaluator cannot provide (an LLM judge, a site helper)."""


def clean_answer(answer: str) -> str:
    """WebArena's answer normalisation: strip, drop surrounding quotes, lower-case."""
    answer = answer.strip()
    if len(answer) >= 2 and answer[0] == answer[-1] and answer[0] in "'\"":
        answer = answer[1:-1]
    return answer.lower()


def exact_match(reference: str, prediction: str) -> float:
    """1.0 when the cleaned strings are equal."""
    return float(clean_answer(reference) == clean_answer(prediction))


def must_include(reference: str, prediction: str, tokenize: bool = False) -> float:
    """1.0 when the cleaned reference occurs in the cleaned prediction.

    With ``tokenize`` a one-character reference must be a whole token of the prediction
    (so "3" is not found in "13"), as WebArena does for single-phrase answers.
    """
    ref, pred = clean_answer(reference), clean_answer(prediction)
    if tokenize and len(ref) == 1:
        return float(ref in re.findall(r"\w+|[^\w\s]", pred))
    return float(ref in pred)


def _judged(ask: Callable[[str, str, str], float], *args: str) -> float:
    try:
        return float(ask(*args))
    except JudgeVerdictError as err:
        raise UnscorableTaskError(str(err)) from err


def string_score(
    spec: WebArenaEval, answer: str, intent: str, fuzzy_judge: FuzzyJudge | None = None
) -> float:
    """Score the agent's final answer against ``spec.reference_answers``."""
    refs = spec.reference_answers or {}
    score = 1.0
    for kind, value in refs.items():
        if kind == "exact_match":
            score *= exact_match(str(value), answer)
        elif kind == "must_include":
            phrases = value if isinstance(value, list) else [value]
            for phrase in phrases:
                score *= must_include(str(phrase), answer, tokenize=len(phrases) == 1)
        elif kind == "fuzzy_match":
            pred = clean_answer(answer)
            if value == "N/A":
                score *= exact_match("N/A", answer)
                if score != 1:
                    ua_match = getattr(fuzzy_judge, "ua_match", None)
                    if ua_match is None:
                        raise UnscorableTaskError(
                            "an unachievable task's answer other than N/A needs the LLM "
                            "judge's ua_match (WebArena uses GPT-4); pass --judge-model"
                        )
                    reason = spec.string_note or ""
                    score = _judged(ua_match, intent, reason, pred)
            else:
                if fuzzy_judge is None:
                    raise UnscorableTaskError(
                        "fuzzy_match needs an LLM judge (WebArena uses GPT-4); pass --judge-model"
                    )
                phrases = value if isinstance(value, list) else [value]
                for phrase in phrases:
                    score *= _judged(fuzzy_judge, intent, str(phrase), pred)
        else:
            raise UnscorableTaskError(f"unknown reference answer kind {kind!r}")
    return score


def _clean_url(url: str) -> str:
    return str(url).rstrip("/")


def _parse_url(url: str) -> tuple[str, dict[str, list[str]]]:
    parsed = urllib.parse.urlparse(url)
    return parsed.netloc + parsed.path, urllib.parse.parse_qs(parsed.query)


def url_score(spec: WebArenaEval, page_url: str) -> float:
    """WebArena's URL match with the "GOLD in PRED" rule (its only rule)."""
    rule = spec.url_note or "GOLD in PRED"
    if rule != "GOLD in PRED":
        raise UnscorableTaskError(f"unknown url_note {rule!r}")
    refs = [_clean_url(u) for u in spec.reference_url.split(" |OR| ")]
    ref_paths: list[str] = []
    ref_queries: dict[str, set[str]] = defaultdict(set)
    for ref in refs:
        path, ref_params = _parse_url(ref)
        ref_paths.append(path)
        for key, params in ref_params.items():
            ref_queries[key].update(params)
    pred_path, pred_params = _parse_url(_clean_url(page_url))
    # As upstream: a reference path counts when it is a substring of the page's path.
    base = float(any(ref in pred_path for ref in ref_paths))
    query_score = 1.0
    for key, values in ref_queries.items():
        query_score *= float(any(v in pred_params.get(key, []) for v in values))
    return base * query_score


def program_html_score(spec: WebArenaEval, read_page: Callable[[str, str], str]) -> float:
    """Check page contents: for each target, ``read_page(url, locator)`` returns the selected
    text (``url`` may be ``"last"`` for the current page; an empty locator means the whole
    page's HTML) and its ``required_contents`` must match."""
    score = 1.0
    for target in spec.program_html:
        locator = str(target.get("locator", ""))
        if locator.startswith("func:") or "func:" in str(target.get("url", "")):
            raise UnscorableTaskError(
                f"program_html helper {locator or target.get('url')!r} queries a WebArena "
                "site's backend; it runs only against a WebArena deployment's helpers"
            )
        selected = read_page(str(target.get("url", "last")), locator)
        required: dict[str, Any] = target.get("required_contents", {})
        if "exact_match" in required:
            score *= exact_match(str(required["exact_match"]), selected)
        for phrase in required.get("must_include", []) or []:
            alternatives = str(phrase).split(" |OR| ")
            score *= float(any(must_include(alt, selected) for alt in alternatives))
    return score


def evaluate(
    spec: WebArenaEval,
    *,
    answer: str,
    page_url: str,
    read_page: Callable[[str, str], str],
    intent: str = "",
    fuzzy_judge: FuzzyJudge | None = None,
) -> float:
    """The product of the scores of every evaluator in ``spec.eval_types``."""
    score = 1.0
    for kind in spec.eval_types:
        if kind == "string_match":
            score *= string_score(spec, answer, intent, fuzzy_judge)
        elif kind == "url_match":
            score *= url_score(spec, page_url)
        elif kind == "program_html":
            score *= program_html_score(spec, read_page)
        else:
            raise UnscorableTaskError(f"unknown eval type {kind!r}")
    return score
