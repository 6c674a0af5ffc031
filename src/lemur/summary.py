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


def read_loss_curve(metrics_path: Path, key: str = "loss") -> list[tuple[int, float]]:
    """``(step, value)`` pairs of ``key`` in a ``metrics.jsonl`` (``loss`` for training,
    ``heldout_loss`` for the held-out evaluation); lines without both keys are passed over."""
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
            and isinstance(row.get(key), int | float)
        ):
            points.append((row["step"], float(row[key])))
    return points


def plot_losses(
    curves: dict[str, list[tuple[int, float]]],
    out: Path,
    *,
    heldout: dict[str, list[tuple[int, float]]] | None = None,
    references: dict[str, dict[str, float]] | None = None,
) -> Path | None:
    """Plot each stage's training loss against its step into one PNG; ``None`` if no curve.

    ``heldout`` adds a stage's held-out loss as a second line, ``references`` horizontal lines
    (label -> nats/token, e.g. the corpus's unigram and bigram cross-entropies)."""
    curves = {name: pts for name, pts in curves.items() if pts}
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heldout, references = heldout or {}, references or {}
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.5), squeeze=False)
    for ax, (name, pts) in zip(axes[0], curves.items(), strict=True):
        ax.plot([s for s, _ in pts], [v for _, v in pts], lw=1.5, label="train")
        held = heldout.get(name) or []
        if held:
            ax.plot(
                [s for s, _ in held], [v for _, v in held], "o-", lw=1.5, ms=3, label="held-out"
            )
        for (label, value), style in zip(
            references.get(name, {}).items(), ("--", ":", "-."), strict=False
        ):
            ax.axhline(value, color="gray", ls=style, lw=1, label=f"{label} {value:.2f}")
        ax.set_title(f"{name} loss")
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy (nats/token)")
        ax.grid(alpha=0.3)
        if held or references.get(name):
            ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def corpus_references(corpus_stats: dict[str, Any]) -> dict[str, float]:
    """The corpus manifest's reference lines: ``{"unigram": nats, "bigram": nats}`` (empty for
    a corpus built before they were recorded)."""
    ref = corpus_stats.get("reference") or {}
    return {
        label: float(ref[key])
        for label, key in (("unigram", "unigram_nats"), ("bigram", "bigram_nats"))
        if isinstance(ref.get(key), int | float)
    }


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


SAMPLE_PROMPTS = 3
"""Held-out instruction prompts the fine-tuned model answers in the summary."""


def _cell(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def sft_samples(outcomes: list[StageOutcome], console: Console) -> list[str]:
    """Greedy replies of the SFT model to held-out instruction prompts, printed beside them;
    the summary's Markdown lines (none when the run has no SFT or instruct stage)."""
    by_stage = {o.stage: o for o in outcomes}
    if "sft" not in by_stage or "instruct" not in by_stage:
        return []
    from lemur.samples import greedy_replies, heldout_prompts

    prompts = heldout_prompts(by_stage["instruct"].result.out_dir, SAMPLE_PROMPTS)
    replies = greedy_replies(by_stage["sft"].result.out_dir, prompts)
    table = Table(title="SFT model: greedy replies to held-out prompts")
    for col in ("prompt", "reply", "reference"):
        table.add_column(col, overflow="fold")
    lines = ["", "## SFT samples (greedy, held-out prompts)", ""]
    lines += ["| prompt | reply | reference |", "| --- | --- | --- |"]
    for r in replies:
        cells = [_cell(r.prompt), _cell(r.reply) or "(empty)", _cell(r.reference)]
        table.add_row(*cells)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    console.print(table)
    return lines


def compliance_table(eval_stats: dict[str, Any], console: Console) -> list[str]:
    """Per model and benchmark, the share of replies that parsed into an action or answer."""
    from lemur.samples import format_compliance

    per_model = {
        str(name): format_compliance(Path(run))
        for name, run in zip(eval_stats.get("models", []), eval_stats.get("runs", []), strict=False)
    }
    benchmarks = sorted({b for counts in per_model.values() for b in counts})
    if not benchmarks:
        return []
    table = Table(title="replies in the expected format (parsed action or answer / replies)")
    table.add_column("model")
    for b in benchmarks:
        table.add_column(b, justify="right")
    lines = ["", "## Replies in the expected format", ""]
    lines += ["| model | " + " | ".join(benchmarks) + " |", "|---" * (len(benchmarks) + 1) + "|"]
    for name, counts in per_model.items():
        cells = []
        for b in benchmarks:
            ok, n = counts.get(b, (0, 0))
            cells.append(f"{ok}/{n} ({100 * ok / n:.0f}%)" if n else "no format check")
        table.add_row(name, *cells)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    console.print(table)
    return lines


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
    heldout = {o.stage: read_loss_curve(o.path / "metrics.jsonl", "heldout_loss") for o in outcomes}
    # The corpus's n-gram lines belong on the curve of the stage trained on that corpus.
    refs = next(
        (corpus_references(o.result.manifest.stats) for o in outcomes if o.stage == "corpus"), {}
    )
    references = {o.stage: refs for o in outcomes if o.stage == "pretrain" and refs}
    plot = plot_losses(curves, layout.root / "loss.png", heldout=heldout, references=references)
    for name, pts in curves.items():
        if pts:
            console.print(
                f"{name} loss: {pts[0][1]:.3f} (step {pts[0][0]}) -> {pts[-1][1]:.3f} (step {pts[-1][0]})"
            )
        if held := heldout.get(name):
            against = ", ".join(f"{k} {v:.3f}" for k, v in references.get(name, {}).items())
            line = f"{name} held-out loss: {held[0][1]:.3f} (step {held[0][0]}) -> {held[-1][1]:.3f} (step {held[-1][0]})"
            if against:
                line += f"; corpus reference lines: {against}"
            console.print(line)
            lines += ["", line]
    if plot is not None:
        console.print(f"loss curves: {plot}")
        lines += ["", "## Loss", "", f"![loss curves]({plot.name})"]

    lines += sft_samples(outcomes, console)

    for o in outcomes:
        if o.result.manifest.kind != EVAL_REPORT_KIND:
            continue
        lines += compliance_table(o.result.manifest.stats, console)
        for report in sorted(o.result.out_dir.glob("*.md")):
            text = report.read_text(encoding="utf-8")
            console.print(Markdown(text))
            lines += ["", text]
        console.print(f"evaluation report: {o.result.out_dir}")
    out = atomic_write_text(layout.root / "summary.md", "\n".join(lines) + "\n")
    console.print(f"summary: {out}")
    return out
