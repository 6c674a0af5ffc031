"""Reports over eval runs: ``write_report(run_dirs, out_dir)`` writes ``report.md``,
``report.html`` (paper Tables 3-7, one row per run, reference rows beside them) and the plots
(Fig. 4 success by turn for every multi-turn task present, Fig. 5 action representations when
runs of both representations exist). ``write_viewer`` writes the trajectory viewer.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from lemur_core import atomic_write_text

from lemur_bench.registry import get_task
from lemur_bench.report.plots import plot_action_representation, plot_success_by_turn
from lemur_bench.report.tables import build_tables, paper_reference, to_html, to_markdown
from lemur_bench.report.viewer import write_viewer

FIG4_DEFAULT = "intercode-sql"
FIG5_DEFAULT = "webarena"

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px;"
    "text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}"
    ".note{color:#666;font-size:.85em}img{max-width:480px;margin:1em}"
)


def load_summary(run_dir: Path) -> dict[str, Any]:
    """``summary.json`` of a run, with a clear error when the run is unfinished or not one."""
    from lemur_bench.run_dir import files_dir

    run_dir = files_dir(Path(run_dir))  # an unfinished run's files are in its scratch dir
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{run_dir} has no summary.json: it is not an eval run, or the run did not finish "
            "(run `lemur-bench run` again with the same arguments to complete it)"
        )
    summary = dict(json.loads(path.read_text(encoding="utf-8")))
    cfg = (
        json.loads((Path(run_dir) / "run_config.json").read_text(encoding="utf-8"))
        if (Path(run_dir) / "run_config.json").exists()
        else {}
    )
    summary["representation"] = cfg.get("action_representation", "python")
    return summary


def write_report(run_dirs: list[Path], out_dir: Path) -> list[Path]:
    """Write the report of ``run_dirs`` (one per model) into ``out_dir``; return the files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summaries = [load_summary(Path(d)) for d in run_dirs]
    tables = build_tables(summaries)
    written: list[Path] = []
    figures: list[Path] = []
    multi = sorted(
        {n for s in summaries for n in s["tasks"] if get_task(n).multi_turn and "-nl" not in n}
    )
    for task in [FIG4_DEFAULT, *[m for m in multi if m != FIG4_DEFAULT]]:
        fig = plot_success_by_turn(summaries, task, out / f"fig4_success_by_turn_{task}.png")
        if fig is not None:
            figures.append(fig)
    rates: dict[str, dict[str, float]] = {}
    for s in summaries:
        r = s["tasks"].get(FIG5_DEFAULT, {}).get("rate")
        if r is not None:
            rates.setdefault(s["model"], {})[s["representation"]] = r
    if any(len(v) == 2 for v in rates.values()):
        # The paper's own Fig. 5 bars beside the runs' (its numbers are percentages).
        for row in paper_reference().tables.get("fig5", []):
            rates[f"{row.model} [{row.source}]"] = {
                "symbolic": float(row.cells["Symbolic"].rstrip("*")) / 100,
                "python": float(row.cells["Python call"].rstrip("*")) / 100,
            }
        fig = plot_action_representation(
            rates, FIG5_DEFAULT, out / "fig5_action_representation.png"
        )
        if fig is not None:
            figures.append(fig)
    skipped = {s["model"]: s.get("skipped_tasks", {}) for s in summaries}
    unfinished = _unfinished(summaries)
    md = ["# Lemur benchmark report", ""]
    if unfinished:
        # Partial numbers must never pass for finished ones: say so before any table.
        md += ["## Unfinished runs", ""] + [f"- {line}" for line in unfinished] + [""]
    md += [to_markdown(t) for t in tables]
    md += ["## Figures", ""] + [f"![{f.stem}]({f.name})" for f in figures] + [""]
    md += ["## Skipped tasks", ""] + (
        [
            f"- {model}: {name} — {why}"
            for model, items in skipped.items()
            for name, why in items.items()
        ]
        or ["none"]
    )
    written.append(atomic_write_text(out / "report.md", "\n".join(md) + "\n"))
    body = "".join(
        f"<p class='note'><b>unfinished:</b> {html.escape(line)}</p>" for line in unfinished
    )
    body += "".join(to_html(t) for t in tables)
    body += "<h2>Figures</h2>" + "".join(
        f"<img src='{html.escape(f.name)}' alt='{html.escape(f.stem)}'>" for f in figures
    )
    skipped_items = [
        f"<li>{html.escape(model)}: {html.escape(name)} — {html.escape(why)}</li>"
        for model, items in skipped.items()
        for name, why in items.items()
    ]
    body += "<h2>Skipped tasks</h2>" + (
        f"<ul>{''.join(skipped_items)}</ul>" if skipped_items else "<p class='note'>none</p>"
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Lemur benchmark report</title>"
        f"<style>{_CSS}</style></head><body><h1>Lemur benchmark report</h1>{body}</body></html>"
    )
    written.append(atomic_write_text(out / "report.html", page))
    return written + figures


def _unfinished(summaries: list[dict[str, Any]]) -> list[str]:
    """One line per run whose planned episodes did not all finish (lemur-bench run's status)."""
    lines = []
    for s in summaries:
        status = s.get("status") or {}
        if status and not status.get("complete", True):
            lines.append(
                f"{s['model']}: {status['finished']} of {status['planned']} planned episodes "
                f"finished ({status['model_errors']} model_error, {status['missing']} not run); "
                "its rates cover the finished episodes only — re-run it to complete"
            )
    return lines


__all__ = ["load_summary", "write_report", "write_viewer"]
