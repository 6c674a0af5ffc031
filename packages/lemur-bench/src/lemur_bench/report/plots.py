"""Plots of the paper's figures from eval runs (matplotlib, Agg backend, PNG files).

* Fig. 4 — success rate by turn (cumulative) for a multi-turn task, one line per model;
* Fig. 5 — success with symbolic vs Python-call action representations, grouped bars per model,
  for any environment whose runs were made with both representations (the report adds the
  paper's own Fig. 5 bars beside them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from lemur_bench.report.tables import run_label


def plot_success_by_turn(summaries: list[dict[str, Any]], task: str, out: Path) -> Path | None:
    """Fig. 4 for ``task``; ``None`` when no run has it. Axes: whole turns, 0-100 %."""
    series = [
        (run_label(s), s["tasks"][task]["success_by_turn"]) for s in summaries if task in s["tasks"]
    ]
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for model, ys in series:
        xs = list(range(1, len(ys) + 1))
        ax.plot(xs, [100 * (y or 0.0) for y in ys], marker="o", label=model)
    ax.set_xlabel("turn")
    ax.set_ylabel("success rate (%)")
    # Whole turns on x, and the full 0-100 % on y: an all-zero run must not zoom in to 0-0.04.
    turns = max(len(ys) for _, ys in series)
    ax.set_xticks(range(1, turns + 1))
    ax.set_xlim(0.5, turns + 0.5)
    ax.set_ylim(0, 100)
    ax.set_title(f"Success by turn — {task}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_action_representation(
    rates: dict[str, dict[str, float]], env: str, out: Path
) -> Path | None:
    """Fig. 5: ``rates[model][representation]`` (``symbolic``/``python``) as grouped bars."""
    if not rates:
        return None
    reps = ["symbolic", "python"]
    models = list(rates)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(models)), 3.5))
    width = 0.38
    for j, rep in enumerate(reps):
        xs = [i + (j - 0.5) * width for i in range(len(models))]
        ax.bar(xs, [100 * rates[m].get(rep, 0.0) for m in models], width, label=rep)
    # Reference rows carry long labels ("Lemur-70B-Chat [Xu et al. 2024, Fig. 5]"): wrap them.
    ax.set_xticks(range(len(models)), [m.replace(" [", "\n[") for m in models], fontsize=6)
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, max(10.0, *(100 * v for r in rates.values() for v in r.values())) * 1.1)
    ax.set_title(f"Action representation — {env}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
