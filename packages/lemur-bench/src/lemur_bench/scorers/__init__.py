"""Scorers: objects implementing lemur-core's ``Scorer`` protocol, registered by name.

``SCORERS`` maps each name to its scorer (every one of them exists and scores); a
:class:`~lemur_bench.registry.TaskSpec` holds the scorer object itself, or ``None`` when the
environment's reward decides (InterCode, RoboCodeGen, ALFWorld, WebArena). ``get_scorer(name,
mode)`` gives a scorer in a scoring mode (``mint`` reproduces MINT's code, ``corrected`` fixes
its quirks; see :mod:`lemur_bench.scorers.mint_answers`), and :func:`score` scores a prediction
for a task in one call.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lemur_core import ScoreResult

from lemur_bench.scorers.mint_answers import SCORING_MODES, ScoringMode, check_mode
from lemur_bench.scorers.objects import SCORERS, TaskScorer, get_scorer
from lemur_bench.scorers.passk import mean_pass_at_k, pass_at_k

if TYPE_CHECKING:
    from lemur_bench.loaders.base import BenchTask


def score(
    scorer: str | TaskScorer,
    prediction: str,
    task: BenchTask,
    *,
    data_root: Path | None = None,
    scoring_mode: ScoringMode = "mint",
) -> ScoreResult:
    """Score ``prediction`` for ``task`` with ``scorer`` (an object or a registered name)."""
    obj = get_scorer(scorer, scoring_mode) if isinstance(scorer, str) else scorer
    return obj.score(prediction, obj.reference_of(task, data_root=data_root))


__all__ = [
    "SCORERS",
    "SCORING_MODES",
    "ScoringMode",
    "TaskScorer",
    "check_mode",
    "get_scorer",
    "mean_pass_at_k",
    "pass_at_k",
    "score",
]
