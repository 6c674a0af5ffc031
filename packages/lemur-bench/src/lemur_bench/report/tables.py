"""Paper-style tables (Markdown and HTML) from eval runs: one row per model, reference rows
from ``paper_reference.yaml`` below them.

* Table 3 — text (MMLU, BBH, GSM8K) and code (HumanEval, MBPP, Spider, MultiPL-E, DS-1000), with
  each group's average;
* Table 4 — MINT tool use, with the micro average;
* Table 5 — self-debugging (MINT HumanEval/MBPP, InterCode Bash/SQL, RoboCodeGen), micro average;
* Table 6 — MINT without / with simulated-user feedback and Δfeedback per task;
* Table 7 — exploration (InterCode-CTF, WebArena, ALFWorld).

A cell is the success rate in percent; ``–`` means the run did not include that task.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from lemur_bench.registry import TASKS, Suite


@dataclass(frozen=True)
class Table:
    """A rendered table: title, header, rows of cells, and notes."""

    key: str
    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str]


class RefRow(BaseModel):
    """A reference row: a published model's numbers, with the source they were read from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    source: str
    cells: dict[str, float]


class RefSource(BaseModel):
    """Where reference numbers come from: a description and a URL."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    url: str


class PaperReference(BaseModel):
    """``paper_reference.yaml``: the sources, and rows per table key (``table3`` ... ``table7``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sources: dict[str, RefSource]
    tables: dict[str, list[RefRow]]

    @model_validator(mode="after")
    def _sources_known(self) -> PaperReference:
        for key, rows in self.tables.items():
            for row in rows:
                if row.source not in self.sources:
                    raise ValueError(
                        f"{key} row '{row.model}' names source '{row.source}', which is not "
                        f"under sources: ({', '.join(self.sources)})"
                    )
        return self


def paper_reference() -> PaperReference:
    """The reference rows shipped with the package (validated)."""
    text = resources.files("lemur_bench.report").joinpath("paper_reference.yaml").read_text("utf-8")
    return PaperReference.model_validate(yaml.safe_load(text))


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _columns(suite: Suite, nl: bool = False) -> list[tuple[str, str]]:
    return [(t.name, t.column) for t in TASKS if suite in t.suites and (t.feedback == "nl") == nl]


def _avg(vals: list[float | None]) -> float | None:
    got = [v for v in vals if v is not None]
    return sum(got) / len(got) if got else None


def _with_refs(
    ref: PaperReference, key: str, header: list[str], rows: list[list[str]], notes: list[str]
) -> tuple[list[list[str]], list[str]]:
    """``rows`` followed by the reference rows of table ``key`` (labelled with their source),
    and ``notes`` followed by one line per source used. A reference cell whose column is not in
    ``header`` is an error, so a typo in the YAML cannot silently drop a number."""
    out, used = list(rows), []
    for r in ref.tables.get(key, []):
        unknown = sorted(set(r.cells) - set(header[1:]))
        if unknown:
            raise ValueError(
                f"paper_reference.yaml {key} row '{r.model}': unknown column(s) {unknown}; "
                f"the table's columns are {header[1:]}"
            )
        out.append(  # cells as published (their own precision), not re-rounded
            [f"{r.model} [{r.source}]"]
            + ["–" if r.cells.get(c) is None else str(r.cells[c]) for c in header[1:]]
        )
        if r.source not in used:
            used.append(r.source)
    notes = list(notes) + [
        f"[{name}] {ref.sources[name].text} ({ref.sources[name].url})" for name in used
    ]
    if used:
        notes.append("Reference rows are published numbers, not re-run here; '–' = not traced.")
    return out, notes


def run_label(summary: dict[str, Any]) -> str:
    """A run's row name: its model label, marked when the model wrote symbolic web actions
    (so the two runs of a Fig. 5 comparison are told apart)."""
    label = str(summary["model"])
    return f"{label} (symbolic actions)" if summary.get("representation") == "symbolic" else label


def build_tables(summaries: list[dict[str, Any]]) -> list[Table]:
    """Tables 3-7 for the runs whose ``summary.json`` contents are given (one per model)."""
    ref = paper_reference()
    out = []
    # Table 3
    text_cols, code_cols = _columns(Suite.TEXT), _columns(Suite.CODE)
    header = [
        "Model",
        *[c for _, c in text_cols],
        "Text avg",
        *[c for _, c in code_cols],
        "Code avg",
    ]
    rows = []
    for s in summaries:
        t = s["tasks"]
        tv = [t.get(n, {}).get("rate") for n, _ in text_cols]
        cv = [t.get(n, {}).get("rate") for n, _ in code_cols]
        rows.append([run_label(s), *map(_pct, tv), _pct(_avg(tv)), *map(_pct, cv), _pct(_avg(cv))])
    out.append(
        Table(
            "table3",
            "Table 3 — foundational abilities (text and code)",
            header,
            *_with_refs(ref, "table3", header, rows, ["Greedy decoding; pass@1 for code."]),
        )
    )
    for key, suite, title in (
        ("table4", Suite.TOOLS, "Table 4 — tool-augmented reasoning (MINT, 5 turns)"),
        ("table5", Suite.SELF_DEBUG, "Table 5 — self-debugging with environment feedback"),
        ("table7", Suite.EXPLORE, "Table 7 — exploration in partially observable environments"),
    ):
        cols = _columns(suite)
        if suite is Suite.TOOLS:
            cols = [
                (n, c)
                for n, c in cols
                if n.startswith("mint-") and n not in ("mint-humaneval", "mint-mbpp")
            ]
        header = ["Model", *[c for _, c in cols]]
        if suite is not Suite.EXPLORE:
            header.append("Micro Avg.")
        rows = []
        for s in summaries:
            cells = [_pct(s["tasks"].get(n, {}).get("rate")) for n, _ in cols]
            if suite is not Suite.EXPLORE:
                cells.append(_pct(s.get("micro_average", {}).get(suite.value)))
            rows.append([run_label(s), *cells])
        out.append(Table(key, title, header, *_with_refs(ref, key, header, rows, [])))
    nl_cols = _columns(Suite.NL_FEEDBACK, nl=True)
    header = ["Model"] + [f"{c} {part}" for _, c in nl_cols for part in ("w/o", "w/", "Δ")]
    rows = []
    for s in summaries:
        row = [run_label(s)]
        for name, _ in nl_cols:
            d = s.get("delta_feedback", {}).get(name)
            row += (
                ["–"] * 3
                if d is None
                else [_pct(d["without"]), _pct(d["with_feedback"]), f"{100 * d['delta']:+.1f}"]
            )
        rows.append(row)
    out.insert(
        3,
        Table(
            "table6",
            "Table 6 — with vs without simulated-user feedback (Δfeedback, paired)",
            header,
            *_with_refs(ref, "table6", header, rows, []),
        ),
    )
    return out


def to_markdown(table: Table) -> str:
    """The table as GitHub-flavoured Markdown with its notes."""
    lines = [
        f"### {table.title}",
        "",
        "| " + " | ".join(table.header) + " |",
        "|" + "|".join(" --- " for _ in table.header) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in table.rows]
    lines += ["", *[f"_{n}_" for n in table.notes], ""]
    return "\n".join(lines)


def to_html(table: Table) -> str:
    """The table as an HTML fragment."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in table.rows
    )
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in table.notes)
    return (
        f"<h3>{html.escape(table.title)}</h3><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>{notes}"
    )
