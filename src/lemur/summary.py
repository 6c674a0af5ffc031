"""The end-of-run summary: artifacts, corpus mixture, loss curves (PNG) and evaluation tables."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lemur_core import atomic_write_text
from lemur_core.stage import StageResult
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from lemur.eval_stage import EVAL_REPORT_KIND

if TYPE_CHECKING:
    from lemur.layout import Layout
    from lemur.recipe import Recipe


@dataclass(frozen=True)
class StageOutcome:
    """What happened to one stage in a run: its output directory, time and result."""

    stage: str
    path: Path
    seconds: float
    result: StageResult

    @property
    def status(self) -> str:
        """``reused`` (the stage's artifact already matched) or ``built``."""
        return "reused" if self.result.reused else "built"


def read_loss_curve(metrics_path: Path) -> list[tuple[int, float]]:
    """``(step, loss)`` pairs of a ``metrics.jsonl`` (lines without both keys are passed over)."""
    points: list[tuple[int, float]] = []
    if not metrics_path.exists():
        return points
    for line in metrics_path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (
            isinstance(row, dict)
            and isinstance(row.get("step"), int)
            and isinstance(row.get("loss"), int | float)
        ):
            points.append((row["step"], float(row["loss"])))
    return points


def plot_losses(curves: dict[str, list[tuple[int, float]]], out: Path) -> Path | None:
    """Plot each stage's training loss against its step into one PNG; ``None`` if no curve."""
    curves = {name: pts for name, pts in curves.items() if pts}
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.5), squeeze=False)
    for ax, (name, pts) in zip(axes[0], curves.items(), strict=True):
        ax.plot([s for s, _ in pts], [v for _, v in pts], lw=1.5)
        ax.set_title(f"{name} loss")
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy (nats/token)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def mixture_table(corpus_stats: dict[str, Any]) -> Table:
    """Paper-Table-8-like view of the corpus manifest: target vs realized share, epochs, removals."""
    table = Table(title="corpus mixture (paper Table 8 layout)")
    for col in ("source", "type", "target", "realized", "epochs", "tokens", "removed"):
        table.add_column(col, justify="right" if col not in ("source", "type") else "left")
    for src in corpus_stats.get("sources", []):
        removed = sum(int(v) for v in (src.get("removed") or {}).values())
        table.add_row(
            str(src.get("name")),
            str(src.get("type", "")),
            f"{100 * float(src.get('target_share', 0)):.2f}%",
            f"{100 * float(src.get('realized_share', 0)):.2f}%",
            f"{float(src.get('epochs', 0)):.2f}",
            f"{int(src.get('packed_tokens', 0)):,}",
            str(removed),
        )
    return table


def write_summary(
    recipe: Recipe, layout: Layout, outcomes: list[StageOutcome], console: Console
) -> Path:
    """Print the run summary and write it to ``workdir/summary.md``; returns that path.

    What is shown follows each artifact's kind: a corpus gets its mixture table, a stage that
    logged ``metrics.jsonl`` its loss curve, an evaluation report its tables."""
    console.rule("[bold]summary")
    lines = [
        f"# Lemur run '{recipe.name}'",
        "",
        "| stage | status | seconds | artifact |",
        "| --- | --- | --- | --- |",
    ]
    artifacts = Table(title="artifacts")
    for col in ("stage", "status", "seconds", "artifact"):
        artifacts.add_column(col)
    for o in outcomes:
        where = o.result.out_dir
        artifacts.add_row(o.stage, o.status, f"{o.seconds:.1f}", str(where))
        lines.append(f"| {o.stage} | {o.status} | {o.seconds:.1f} | `{where}` |")
    console.print(artifacts)

    for o in outcomes:
        if o.result.manifest.kind != "corpus":
            continue
        stats = o.result.manifest.stats
        console.print(mixture_table(stats))
        if "packing_efficiency" in stats:
            console.print(f"packing efficiency: {100 * float(stats['packing_efficiency']):.2f}%")
        lines += ["", "## Corpus mixture", ""]
        lines += ["| source | target | realized | epochs |", "| --- | --- | --- | --- |"]
        for src in stats.get("sources", []):
            lines.append(
                f"| {src.get('name')} | {100 * float(src.get('target_share', 0)):.2f}% | "
                f"{100 * float(src.get('realized_share', 0)):.2f}% | {float(src.get('epochs', 0)):.2f} |"
            )

    curves = {o.stage: read_loss_curve(o.path / "metrics.jsonl") for o in outcomes}
    plot = plot_losses(curves, layout.root / "loss.png")
    for name, pts in curves.items():
        if pts:
            console.print(
                f"{name} loss: {pts[0][1]:.3f} (step {pts[0][0]}) -> {pts[-1][1]:.3f} (step {pts[-1][0]})"
            )
    if plot is not None:
        console.print(f"loss curves: {plot}")
        lines += ["", "## Loss", "", f"![loss curves]({plot.name})"]

    for o in outcomes:
        if o.result.manifest.kind != EVAL_REPORT_KIND:
            continue
        for report in sorted(o.result.out_dir.glob("*.md")):
            text = report.read_text(encoding="utf-8")
            console.print(Markdown(text))
            lines += ["", text]
        console.print(f"evaluation report: {o.result.out_dir}")
    out = atomic_write_text(layout.root / "summary.md", "\n".join(lines) + "\n")
    console.print(f"summary: {out}")
    return out
