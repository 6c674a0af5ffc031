"""Metrics over episode records: success rate with a Wilson score interval, success by
turn (paper Fig. 4), Δfeedback with a paired bootstrap (paper Table 6), micro averages (the
paper's "Micro Avg." columns), and exact-MINT success at each turn budget.

Every function takes plain ``EpisodeRecord``s, so it works on any run's ``episodes.jsonl``.
Bootstrap resampling uses a fixed seed: the same records give the same interval. A success rate
takes the Wilson interval instead of the bootstrap: at 0/20 or 20/20 every resample has the same
mean, so a percentile bootstrap claims a zero-width interval; Wilson's is 0-16.1% there.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from statistics import NormalDist

import numpy as np
from lemur_core import EpisodeRecord
from pydantic import BaseModel, ConfigDict

_BUDGET = re.compile(r"@k(\d+)$")


class Rate(BaseModel):
    """A success rate with its Wilson score confidence interval."""

    model_config = ConfigDict(frozen=True)

    n: int
    successes: int
    rate: float
    ci_low: float
    ci_high: float


def bootstrap_ci(
    values: Sequence[float], *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (``(nan, nan)`` when empty)."""
    if len(values) == 0:
        return (float("nan"), float("nan"))
    arr = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, len(arr), size=(resamples, len(arr)))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return (float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)))


def wilson_ci(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (``(nan, nan)`` when ``n`` is 0)."""
    if n == 0:
        return (float("nan"), float("nan"))
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 or n successes one end is exactly 0 or 1; the closed form leaves rounding there.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def success_rate(records: Iterable[EpisodeRecord], *, confidence: float = 0.95) -> Rate:
    """Share of successful episodes, with its Wilson score interval."""
    vals = [1.0 if r.success else 0.0 for r in records]
    lo, hi = wilson_ci(int(sum(vals)), len(vals), confidence=confidence)
    return Rate(
        n=len(vals),
        successes=int(sum(vals)),
        rate=float(np.mean(vals)) if vals else float("nan"),
        ci_low=lo,
        ci_high=hi,
    )


def success_by_turn(records: Sequence[EpisodeRecord], max_turns: int) -> list[float]:
    """Entry ``k-1``: share of episodes solved within ``k`` turns (cumulative, as Fig. 4)."""
    if not records:
        return [float("nan")] * max_turns
    solved_at = [r.solved_at_turn for r in records]
    return [
        sum(1 for s in solved_at if s is not None and s <= k) / len(records)
        for k in range(1, max_turns + 1)
    ]


class DeltaFeedback(BaseModel):
    """Paired comparison of a feedback run with its no-feedback baseline on the same tasks."""

    model_config = ConfigDict(frozen=True)

    n_pairs: int
    without: float
    with_feedback: float
    delta: float
    ci_low: float
    ci_high: float


def delta_feedback(
    baseline: Sequence[EpisodeRecord], feedback: Sequence[EpisodeRecord], **kw: float
) -> DeltaFeedback:
    """Δfeedback over tasks present in both runs (paired by ``task_id``), with a bootstrap CI
    of the paired differences."""
    base = {r.task_id: r.success for r in baseline}
    fb = {r.task_id: r.success for r in feedback}
    common = sorted(set(base) & set(fb))
    diffs = [float(fb[t]) - float(base[t]) for t in common]
    lo, hi = bootstrap_ci(diffs, **kw)  # type: ignore[arg-type]
    w = float(np.mean([base[t] for t in common])) if common else float("nan")
    f = float(np.mean([fb[t] for t in common])) if common else float("nan")
    return DeltaFeedback(
        n_pairs=len(common), without=w, with_feedback=f, delta=f - w, ci_low=lo, ci_high=hi
    )


def micro_average(groups: Iterable[Sequence[EpisodeRecord]]) -> float:
    """Successes over episodes pooled across benchmarks (the paper's micro average)."""
    pooled = [r.success for g in groups for r in g]
    return float(np.mean(pooled)) if pooled else float("nan")


def exact_mint_by_budget(records: Sequence[EpisodeRecord]) -> dict[int, float]:
    """Success per turn budget ``k`` from exact-MINT runs (episode ids ending in ``@k<k>``)."""
    by_k: dict[int, list[bool]] = defaultdict(list)
    for r in records:
        m = _BUDGET.search(r.episode_id)
        if m:
            by_k[int(m.group(1))].append(r.success)
    return {k: float(np.mean(v)) for k, v in sorted(by_k.items())}
