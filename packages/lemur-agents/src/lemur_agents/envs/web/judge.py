"""WebArena's LLM-judged string checks: ``fuzzy_match`` and ``ua_match``, with any chat model.

WebArena (``evaluation_harness/helper_functions.py``, Apache-2.0) asks GPT-4 two fixed questions:
``llm_fuzzy_match`` whether a student's answer is semantically equivalent to the reference
(verdict ``correct`` scores 1; ``incorrect`` or ``partially correct`` scores 0) and
``llm_ua_match`` whether an unachievable-task report refers to the annotated reason (``same``
1, ``different`` 0), both as one user turn after the system prompt "You are a helpful
assistant", greedy, at most 768 tokens. The questions below are this project's own wording of
those two questions (the same inputs, the same verdict words, read by the same rule), not
WebArena's text; a judge's verdicts can move with the wording, so docs/environments.md says how
far they were checked.

:class:`LLMJudge` asks them of the judge model the user names (any
:func:`~lemur_agents.models.load_model` spec), caches every reply on disk by (model, prompt),
and keeps the judgements of the current episode so a record can show them. A reply with no
verdict word is not guessed: it raises :class:`JudgeVerdictError`, and the task is reported
unscorable.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from lemur_core import ChatModel, GenerationParams, Message, Role

JudgeKind = Literal["fuzzy_match", "ua_match"]
JUDGE_SYSTEM_PROMPT = "You are a helpful assistant"
JUDGE_PARAMS = GenerationParams(max_new_tokens=768, temperature=0.0, top_p=1.0)


def fuzzy_match_prompt(question: str, reference: str, prediction: str) -> str:
    """The ``llm_fuzzy_match`` question for one reference answer: is the prediction
    semantically equivalent to the reference? Verdict words: correct / incorrect /
    partially correct."""
    return (
        "You are grading a student's answer to a question against a reference answer. The "
        "student may phrase the answer differently; judge only whether it means the same as "
        "the reference.\n"
        f"question: {question}\n"
        f"reference answer: {reference}\n"
        "(the string 'N/A' anywhere here stands for 'not achievable')\n"
        f"student answer: {prediction}\n"
        "End your judgement with one of: correct, incorrect, partially correct."
    )


def ua_match_prompt(question: str, reason: str, report: str) -> str:
    """The ``llm_ua_match`` question: does the agent's report of an unachievable task name the
    annotated reason, even implicitly? Verdict words: same / different."""
    return (
        "Task_1 cannot be completed, for the reason given in Reason_1. Someone attempted it "
        "and described the attempt in Report_1. Decide whether Report_1 points to Reason_1, "
        "even if only implicitly: answer same if it does, different if it does not.\n"
        f"Task_1 = {question}\n"
        f"Reason_1 = {reason}\n"
        f"Report_1 = {report}\n"
        "Answer [same] or [different]."
    )


class JudgeVerdictError(RuntimeError):
    """The judge's reply holds no verdict WebArena's rule can read."""


def read_verdict(kind: JudgeKind, reply: str) -> float:
    """WebArena's reading of a reply (lower-cased): fuzzy ``partially correct``/``incorrect``
    -> 0, else ``correct`` -> 1; ua ``different`` -> 0, else ``same`` -> 1."""
    text = reply.lower()
    if kind == "fuzzy_match":
        if "partially correct" in text or "incorrect" in text:
            return 0.0
        if "correct" in text:
            return 1.0
    else:
        if "different" in text:
            return 0.0
        if "same" in text:
            return 1.0
    raise JudgeVerdictError(f"the judge's {kind} reply has no verdict: {reply[:200]!r}")


@dataclass(frozen=True)
class Judgement:
    """One question put to the judge, its reply, the score read from it, and whether the
    reply came from the cache."""

    kind: JudgeKind
    judge_model: str
    prompt: str
    reply: str
    score: float
    cached: bool


class LLMJudge:
    """WebArena's judged checks over ``model``; replies cached in ``cache_path`` (JSON lines).

    Callable as a ``FuzzyJudge`` ``(intent, reference, prediction) -> score`` and with
    :meth:`ua_match` for unachievable tasks.
    """

    def __init__(self, model: ChatModel, cache_path: str | Path | None = None) -> None:
        self.model = model
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self._cache: dict[str, str] = self._load_cache()
        self.judgements: list[Judgement] = []

    @classmethod
    def from_spec(cls, spec: str, cache_path: str | Path | None = None) -> LLMJudge:
        """A judge over the model ``spec`` names (``openai:URL#MODEL``, ``scripted:FILE``...)."""
        from lemur_agents.models import load_model

        return cls(load_model(spec), cache_path)

    @property
    def name(self) -> str:
        """The judge model's name, as records show it."""
        return str(self.model.name)

    def _key(self, prompt: str) -> str:
        return hashlib.sha256(f"{self.name}\x00{prompt}".encode()).hexdigest()

    def _load_cache(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.cache_path is None or not self.cache_path.exists():
            return out
        for line in self.cache_path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                out[str(row["key"])] = str(row["reply"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut by a crash: that reply is asked again
        return out

    def _remember(self, key: str, reply: str) -> None:
        self._cache[key] = reply
        if self.cache_path is None:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"key": key, "judge_model": self.name, "reply": reply}) + "\n"
        with open(self.cache_path, "a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # concurrent episodes append whole lines
            fh.write(line)
            fh.flush()

    def ask(self, kind: JudgeKind, prompt: str) -> float:
        """Put ``prompt`` to the judge (or read its cached reply) and score the reply."""
        key = self._key(prompt)
        cached = key in self._cache
        if cached:
            reply = self._cache[key]
        else:
            conversation = [
                Message(role=Role.SYSTEM, content=JUDGE_SYSTEM_PROMPT),
                Message(role=Role.USER, content=prompt),
            ]
            reply = self.model.generate([conversation], JUDGE_PARAMS)[0]
            self._remember(key, reply)
        score = read_verdict(kind, reply)
        self.judgements.append(Judgement(kind, self.name, prompt, reply, score, cached))
        return score

    def __call__(self, intent: str, reference: str, prediction: str) -> float:
        """``fuzzy_match`` of one reference answer."""
        return self.ask("fuzzy_match", fuzzy_match_prompt(intent, reference, prediction))

    def ua_match(self, intent: str, reason: str, prediction: str) -> float:
        """``ua_match``: does the agent's report give the annotated reason?"""
        return self.ask("ua_match", ua_match_prompt(intent, reason, prediction))

    def take_judgements(self) -> list[dict[str, Any]]:
        """The judgements since the last call, as JSON-ready dicts (for an episode's info)."""
        out = [asdict(j) for j in self.judgements]
        self.judgements = []
        return out
