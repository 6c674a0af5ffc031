"""Regenerate the measured-results table of docs/benchmarks.md from harness ``--json`` files.

    uv run python benchmarks/render_docs.py benchmarks/results/*.json

Rewrites only the part of the page between ``<!-- results:begin -->`` and
``<!-- results:end -->``: one row per figure (ours, the peer's, the ratio with above 1 meaning
lemur is ahead, the load average when the harness started, the command that produced it).
``--check`` exits non-zero when the page is not what the files would give (for CI).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def _number(x: float | None) -> str:
    if x is None:
        return "—"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def _command(run: dict[str, Any]) -> str:
    """The harness's command line without its own ``--json PATH``."""
    words = run["command"].split()
    out, skip = [], False
    for w in words:
        if skip:
            skip = False
            continue
        if w == "--json":
            skip = True
            continue
        if w.startswith("--json="):
            continue
        out.append(w)
    return " ".join(out)


def table(runs: list[dict[str, Any]]) -> str:
    """The markdown table of every figure of ``runs``."""
    lines = [
        "| figure | lemur | peer | peer's | ratio (>1: lemur ahead) | load at start (1 min) / CPUs | measured | command |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in sorted(runs, key=lambda r: r["harness"]):
        machine = run["machine"]
        load = f"{machine['load_average'][0]:.1f} / {machine['cpu_count']}"
        for fig in run["figures"]:
            ratio = f"{fig['ratio']:.2f}x" if fig.get("ratio") is not None else "—"
            lines.append(
                f"| {fig['name']} ({fig['metric']}) | {_number(fig['ours'])} "
                f"| {fig.get('peer') or '—'} | {_number(fig.get('peers'))} | {ratio} | {load} "
                f"| {run['started'][:16].replace('T', ' ')} | `{_command(run)}` |"
            )
    return "\n".join(lines)


def render(page: str, runs: list[dict[str, Any]]) -> str:
    """``page`` with its marked section replaced by the table of ``runs``."""
    if BEGIN not in page or END not in page:
        raise ValueError(f"{DOCS} has no '{BEGIN}' ... '{END}' section; add the two markers")
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table(runs)}\n{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="results JSON files (--json output)")
    parser.add_argument("--docs", type=Path, default=DOCS, help="page to rewrite")
    parser.add_argument("--check", action="store_true", help="only check the page is current")
    args = parser.parse_args()
    runs = []
    for path in args.files:
        try:
            run = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            sys.exit(f"{path}: not a readable results file ({exc}); re-run its harness with --json")
        if not isinstance(run, dict) or not str(run.get("schema", "")).startswith(
            "lemur-benchmark-results/"
        ):
            sys.exit(f"{path}: not a --json file of a benchmarks/ harness (no 'schema' field)")
        runs.append(run)
    try:
        page = args.docs.read_text(encoding="utf-8")
        new = render(page, runs)
    except (OSError, ValueError) as exc:
        sys.exit(str(exc))
    if args.check:
        if new != page:
            sys.exit(
                f"{args.docs} is out of date; run: uv run python benchmarks/render_docs.py ..."
            )
        return
    tmp = args.docs.with_name(f".{args.docs.name}.tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, args.docs)
    print(f"{args.docs}: {sum(len(r['figures']) for r in runs)} figures from {len(runs)} files")


if __name__ == "__main__":
    main()
