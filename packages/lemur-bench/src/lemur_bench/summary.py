"""``summary.json`` of an eval run: per-task metrics, Δfeedback pairs, micro averages per suite."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

from lemur_core import EpisodeRecord

from lemur_bench.metrics import (
    delta_feedback,
    exact_mint_by_budget,
    micro_average,
    success_by_turn,
    success_rate,
)
from lemur_bench.registry import Suite, get_task


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else x


def _unscorable(record: EpisodeRecord) -> bool:
    return bool(record.turns and record.turns[-1].info.get("unscorable"))


def summarize(
    records: list[EpisodeRecord],
    *,
    skipped: dict[str, str],
    data_sha256: dict[str, str],
    config: dict[str, Any],
) -> dict[str, Any]:
    """The run's summary (see the module docstring); NaN becomes ``null``."""
    by_task: dict[str, list[EpisodeRecord]] = defaultdict(list)
    for r in records:
        by_task[r.benchmark].append(r)
    tasks: dict[str, Any] = {}
    main: dict[str, list[EpisodeRecord]] = {}
    unscorable: dict[str, int] = {}
    for name, recs in by_task.items():
        spec = get_task(name)
        budget = [r for r in recs if "@k" not in r.episode_id]
        main[name] = budget or [r for r in recs if r.episode_id.endswith(f"@k{spec.max_turns}")]
        # An episode its env could not score (WebArena's judged checks without --judge-model)
        # is counted apart, never as a failure.
        scored = [r for r in main[name] if not _unscorable(r)]
        unscorable[name] = len(main[name]) - len(scored)
        main[name] = scored
        rate = success_rate(main[name])
        tasks[name] = {
            "title": spec.title,
            "column": spec.column,
            "suites": [s.value for s in spec.suites if s is not Suite.ALL],
            "metric": spec.metric,
            "n": rate.n,
            "successes": rate.successes,
            "rate": _finite(rate.rate),
            "ci95": [_finite(rate.ci_low), _finite(rate.ci_high)],
            "max_turns": spec.max_turns,
            "success_by_turn": [_finite(x) for x in success_by_turn(main[name], spec.max_turns)],
            "terminations": dict(Counter(r.termination.value for r in main[name])),
            "mean_turns": sum(len(r.turns) for r in main[name]) / max(1, len(main[name])),
            "sandbox_isolation": sorted({r.sandbox_isolation or "unknown" for r in main[name]}),
            # Which environment played the task (ALFWorld: its real games or the stand-in).
            "env_ids": sorted({r.env_id for r in main[name]}),
            "data_sha256": data_sha256.get(name),
        }
        if unscorable[name]:
            tasks[name]["unscorable"] = unscorable[name]
        exact = exact_mint_by_budget(recs)
        if exact:
            tasks[name]["exact_mint_by_budget"] = {str(k): v for k, v in exact.items()}
    deltas = {}
    for name in main:
        base = get_task(name).baseline
        if base is not None and base in main:
            d = delta_feedback(main[base], main[name])
            deltas[name] = {**d.model_dump(), "baseline": base}
    micro = {}
    for suite in (Suite.TOOLS, Suite.SELF_DEBUG, Suite.EXPLORE, Suite.TEXT, Suite.CODE):
        groups = [
            recs
            for name, recs in main.items()
            if suite in get_task(name).suites and get_task(name).feedback != "nl"
        ]
        if groups:
            micro[suite.value] = _finite(micro_average(groups))
    return {
        "model": config.get("model"),
        "suite": config.get("suite"),
        "n_episodes": len(records),
        "tasks": tasks,
        "delta_feedback": deltas,
        "micro_average": micro,
        "skipped_tasks": skipped,
    }
