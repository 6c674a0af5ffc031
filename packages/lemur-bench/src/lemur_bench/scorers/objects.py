"""Scorers as objects: each implements lemur-core's ``Scorer`` protocol (``name``,
``score(prediction, reference)``) and knows how to read its reference off a task.

A :class:`TaskScorer` adds two things a benchmark runner needs: ``reference_of(task)`` builds
the reference the scorer compares against (some need more than ``task.reference``: MINT's MMLU
its options, TheoremQA its answer type, HumanEval the prompt, Spider the database directory),
and ``with_mode(mode)`` gives the same scorer in another scoring mode (``mint`` or
``corrected``; scorers that have no MINT quirks return themselves). Options live on the object,
so a :class:`~lemur_bench.registry.TaskSpec` holds the scorer itself, never a key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lemur_core import Scorer, ScoreResult

from lemur_bench.scorers.answers import (
    score_bbh_match,
    score_numeric_exact,
    score_option_match,
)
from lemur_bench.scorers.code import (
    score_ds1000,
    score_humaneval,
    score_mbpp,
    score_multipl_e,
    score_spider,
)
from lemur_bench.scorers.mint_answers import (
    ScoringMode,
    check_mode,
    mint_options,
    score_mint_choice,
    score_mint_reasoning,
    score_mint_theoremqa,
)
from lemur_bench.scorers.mint_code import score_mint_code

if TYPE_CHECKING:  # the loaders import the registry, which imports these scorers
    from lemur_bench.loaders.base import BenchTask


@runtime_checkable
class TaskScorer(Scorer, Protocol):
    """A lemur-core ``Scorer`` that reads its reference off a task and has scoring modes."""

    name: str
    mode: ScoringMode

    def score(self, prediction: str, reference: Any) -> ScoreResult: ...

    def reference_of(self, task: BenchTask, *, data_root: Path | None = None) -> Any: ...

    def with_mode(self, mode: ScoringMode) -> TaskScorer: ...


@dataclass(frozen=True)
class Prompted:
    """A reference together with the task prompt (HumanEval, MultiPL-E, MINT code)."""

    reference: Any
    prompt: str


@dataclass(frozen=True)
class Choices:
    """MINT MMLU: the reference letter and the options MINT read from the prompt."""

    answer: str
    options: dict[str, str]


@dataclass(frozen=True)
class Typed:
    """MINT TheoremQA: the reference value and its answer type."""

    answer: Any
    answer_type: str | None


@dataclass(frozen=True)
class WithDatabase:
    """Spider: the reference query and the directory holding ``database/``."""

    reference: Any
    data_root: Path


@dataclass
class _ModeScorer:
    """Shared plumbing: a name, a scoring mode, ``with_mode`` and the plain reference.

    Not frozen, because lemur-core's ``Scorer`` protocol declares ``name`` a plain attribute;
    ``with_mode`` returns a copy, so a registered scorer is never changed in place."""

    name: str = ""
    mode: ScoringMode = "mint"

    def with_mode(self, mode: ScoringMode) -> TaskScorer:
        """This scorer in ``mode``."""
        return replace(self, mode=check_mode(mode))  # type: ignore[return-value]

    def reference_of(self, task: BenchTask, *, data_root: Path | None = None) -> Any:
        """``task.reference``."""
        return task.reference

    def score_task(
        self, prediction: str, task: BenchTask, *, data_root: Path | None = None
    ) -> ScoreResult:
        """``score(prediction, reference_of(task))``."""
        return self.score(prediction, self.reference_of(task, data_root=data_root))  # type: ignore[attr-defined,no-any-return]


@dataclass
class FunctionScorer(_ModeScorer):
    """A mode-independent scorer wrapping a ``check(prediction, reference)`` function."""

    check: Callable[[str, Any], ScoreResult] = score_numeric_exact
    needs_prompt: bool = False

    def with_mode(self, mode: ScoringMode) -> TaskScorer:
        """Itself: these checks have no MINT quirks (the mode is only recorded)."""
        return replace(self, mode=check_mode(mode))

    def reference_of(self, task: BenchTask, *, data_root: Path | None = None) -> Any:
        """``task.reference``, with the prompt when the check needs it."""
        return Prompted(task.reference, task.prompt) if self.needs_prompt else task.reference

    def score(self, prediction: str, reference: Any) -> ScoreResult:
        """The wrapped check's verdict."""
        return self.check(prediction, reference)


def _humaneval(prediction: str, ref: Prompted) -> ScoreResult:
    return score_humaneval(prediction, ref.reference, ref.prompt)


def _multipl_e(prediction: str, ref: Prompted) -> ScoreResult:
    return score_multipl_e(prediction, ref.reference, ref.prompt)


@dataclass
class SpiderScorer(_ModeScorer):
    """Spider execution accuracy against the task's SQLite database."""

    name: str = "sql_execution"

    def reference_of(self, task: BenchTask, *, data_root: Path | None = None) -> Any:
        """The gold query with the database directory (``ValueError`` without one)."""
        if data_root is None:
            raise ValueError("the Spider scorer needs data_root (the directory holding database/)")
        return WithDatabase(task.reference, data_root)

    def score(self, prediction: str, reference: Any) -> ScoreResult:
        """Same rows as the gold query."""
        return score_spider(prediction, reference.reference, reference.data_root)


@dataclass
class MintAnswerScorer(_ModeScorer):
    """MINT GSM8K / MATH / HotpotQA (``ReasoningTask``)."""

    name: str = "mint_answer"

    def score(self, prediction: str, reference: Any) -> ScoreResult:
        """MINT's verdict in this scorer's mode."""
        return score_mint_reasoning(prediction, reference, self.mode)


@dataclass
class MintChoiceScorer(_ModeScorer):
    """MINT MMLU (``MultipleChoiceTask``)."""

    name: str = "mint_choice"

    def reference_of(self, task: BenchTask, *, data_root: Path | None = None) -> Choices:
        """The reference letter and the options (logged ones, else read from the prompt)."""
        options = task.metadata.get("options") or mint_options(task.prompt)
        return Choices(str(task.reference), dict(options))

    def score(self, prediction: str, reference: Any) -> ScoreResult:
        """MINT's verdict in this scorer's mode."""
        return score_mint_choice(prediction, reference.answer, reference.options, self.mode)


@dataclass
class MintTheoremqaScorer(_ModeScorer):
    """MINT TheoremQA (``TheoremqaTask``)."""

    name: str = "mint_theoremqa"

    def reference_of(self, task: BenchTask, *, data_root: Path | None = None) -> Typed:
        """The reference value and its answer type."""
        return Typed(task.reference, task.metadata.get("answer_type"))

    def score(self, prediction: str, reference: Any) -> ScoreResult:
        """MINT's verdict in this scorer's mode."""
        return score_mint_theoremqa(prediction, reference.answer, reference.answer_type, self.mode)


@dataclass
class MintCodeScorer(_ModeScorer):
    """MINT HumanEval / MBPP: the solution runs with the task's test code."""

    name: str = "mint_code"

    def reference_of(self, task: BenchTask, *, data_root: Path | None = None) -> Prompted:
        """MINT's reference (the test code) with the prompt (for ``corrected`` imports)."""
        return Prompted(task.reference, task.prompt)

    def score(self, prediction: str, reference: Any) -> ScoreResult:
        """MINT's verdict in this scorer's mode."""
        ref = reference if isinstance(reference, Prompted) else Prompted(reference, "")
        return score_mint_code(prediction, str(ref.reference), prompt=ref.prompt, mode=self.mode)


SCORERS: dict[str, TaskScorer] = {
    s.name: s
    for s in (
        FunctionScorer("option_match", check=lambda p, r: score_option_match(p, r)),
        FunctionScorer("bbh_match", check=lambda p, r: score_bbh_match(p, r)),
        FunctionScorer("numeric_exact", check=lambda p, r: score_numeric_exact(p, r)),
        FunctionScorer("humaneval_exec", check=_humaneval, needs_prompt=True),
        FunctionScorer("mbpp_exec", check=lambda p, r: score_mbpp(p, r)),
        FunctionScorer("multipl_e_exec", check=_multipl_e, needs_prompt=True),
        FunctionScorer("ds1000_exec", check=lambda p, r: score_ds1000(p, r)),
        SpiderScorer(),
        MintAnswerScorer(),
        MintChoiceScorer(),
        MintTheoremqaScorer(),
        MintCodeScorer(),
    )
}


def get_scorer(name: str, mode: ScoringMode = "mint") -> TaskScorer:
    """The registered scorer ``name`` in ``mode``; ``KeyError`` naming the known ones."""
    try:
        scorer = SCORERS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(SCORERS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise KeyError(f"unknown scorer '{name}'{hint}; known: {', '.join(SCORERS)}") from None
    return scorer.with_mode(mode)
