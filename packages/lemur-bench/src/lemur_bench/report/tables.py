"""Paper-style tables (Markdown and HTML) from eval runs: one row per model, reference rows
from ``paper_reference.yaml`` below them (the paper's own, cited "Xu et al. 2024, Table N", and
leaderboard rows, labelled as such).

* Table 3 — text (MMLU, BBH, GSM8K) and code (HumanEval, MBPP, Spider, MultiPL-E, DS-1000), with
  each group's average and the average of all eight (the paper's "Avg");
* Table 4 — MINT tool use, with the micro average;
* Table 5 — self-debugging (MINT HumanEval/MBPP, InterCode Bash/SQL, RoboCodeGen), micro average;
* Table 6 — MINT without / with simulated-user feedback as the paper lays it out (reasoning,
  code generation, micro average, Δfeedback), then per task (``table6-tasks``);
* Table 7 — exploration (InterCode-CTF, WebArena, ALFWorld);
* Fig. 5 — WebArena by action representation (symbolic vs Python call), as a table.

A cell is the success rate in percent with ``±`` half its 95% CI and its n (``41.2 ±10.5
(n=80)``); ``–`` means the run did not include that task; a ``†``
marks a cell where most episodes ended in ``model_error`` or ``env_error`` (a failure of the
setup, not a measured rate). The evidence table gives every run's cells with their n, 95% CI and
how the episodes ended.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from lemur_bench.registry import TASKS, Suite, get_task

# A published cell: a number as printed, optionally marked with the paper's "*".
_PUBLISHED = re.compile(r"-?\d+(\.\d+)?\*?")


@dataclass(frozen=True)
class Table:
    """A rendered table: title, header, rows of cells, and notes."""

    key: str
    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str]


class RefRow(BaseModel):
    """A reference row: a published model's numbers, with the source they were read from.

    Cells are kept as printed (``"5.30"``, ``"2.22*"``); a number given unquoted in YAML is
    accepted and shown as Python prints it. ``note`` is printed under the table.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    source: str
    cells: dict[str, str]
    note: str | None = None

    @field_validator("cells", mode="before")
    @classmethod
    def _published_numbers(cls, cells: Any) -> Any:
        if not isinstance(cells, dict):
            return cells
        out = {}
        for column, value in cells.items():
            text = str(value).strip() if isinstance(value, (int, float, str)) else None
            if text is None or isinstance(value, bool) or not _PUBLISHED.fullmatch(text):
                raise ValueError(
                    f"cell '{column}' = {value!r} is not a published number: write it as "
                    'printed, e.g. "5.30" (a trailing "*" is kept)'
                )
            out[str(column)] = text
        return out


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


#: Terminations that say the setup failed rather than the model.
ERROR_TERMINATIONS = ("model_error", "env_error")
ERROR_MARK = "†"
ERROR_NOTE = (
    f"{ERROR_MARK} most episodes of this cell ended in model_error or env_error: a failure of the "
    "server or environment, not a measured rate (see the evidence table)"
)


def error_dominated(task: dict[str, Any] | None) -> bool:
    """Whether most of a task's episodes ended in ``model_error``/``env_error``."""
    if not task:
        return False
    ends = task.get("terminations") or {}
    errors = sum(int(ends.get(k, 0)) for k in ERROR_TERMINATIONS)
    total = sum(int(v) for v in ends.values()) or int(task.get("n") or 0)
    return total > 0 and 2 * errors > total


def _rate_cell(task: dict[str, Any] | None) -> str:
    """A task's rate in percent, marked when errors dominate it."""
    cell = _pct((task or {}).get("rate"))
    return cell + ERROR_MARK if error_dominated(task) else cell


def _task_cell(task: dict[str, Any] | None) -> str:
    """A paper-table cell: the rate, ``±`` half the width of its 95% CI and the episodes it
    rests on (``41.2 ±10.5 (n=80)``), so a 1-of-1 "100.0" cannot pass for a measurement;
    marked when errors dominate it. ``–`` when the run did not include the task."""
    if not task or task.get("rate") is None:
        return _rate_cell(task)
    lo, hi = (task.get("ci95") or [None, None])[:2]
    spread = "" if lo is None or hi is None else f" ±{50 * (float(hi) - float(lo)):.1f}"
    n = task.get("n")
    count = "" if n is None else f" (n={int(n)})"
    return f"{_pct(task['rate'])}{spread}{count}" + (ERROR_MARK if error_dominated(task) else "")


#: The note under every table whose cells carry a CI and an n.
CELL_NOTE = (
    "Cells: success % ±half the width of its 95% CI (Wilson score interval) and the number of "
    "episodes (n); averages are means of the task rates."
)


def _mark_note(rows: list[list[str]], notes: list[str]) -> list[str]:
    """``notes`` and the note of every mark a cell of ``rows`` carries."""
    marks = ((STAND_IN_MARK, STAND_IN_NOTE), (ERROR_MARK, ERROR_NOTE))
    return [*notes, *(note for mark, note in marks if any(mark in c for r in rows for c in r))]


def _cell_note(rows: list[list[str]]) -> list[str]:
    """:data:`CELL_NOTE` when a cell of ``rows`` carries an n (a table of '–' needs none)."""
    return [CELL_NOTE] if any("(n=" in c for r in rows for c in r) else []


def evidence_table(summaries: list[dict[str, Any]]) -> Table:
    """Every run's cells with their evidence: n, success %, 95% CI, how episodes ended."""
    header = ["Model", "Task", "n", "Success %", "95% CI", "Terminations"]
    rows = []
    for s in summaries:
        for name, t in s["tasks"].items():
            lo, hi = (t.get("ci95") or [None, None])[:2]
            ci = "–" if lo is None or hi is None else f"[{100 * lo:.1f}, {100 * hi:.1f}]"
            ends = t.get("terminations") or {}
            ended = ", ".join(f"{k} {v}" for k, v in sorted(ends.items(), key=lambda kv: -kv[1]))
            rows.append([run_label(s), name, str(t.get("n", 0)), _rate_cell(t), ci, ended or "–"])
    notes = ["95% CI: Wilson score interval of the success rate over the n episodes of the cell."]
    title = "Evidence — n, CI and terminations per cell"
    return Table("evidence", title, header, rows, _mark_note(rows, notes))


#: Cells of a task played on an offline stand-in rather than the benchmark's own data.
STAND_IN_MARK = " ‡"
STAND_IN_NOTE = (
    "‡ played on lemur-agents' offline Household stand-in (lemur/Household-v0), not ALFWorld's "
    "games: not comparable with the paper's column. Pass --tasks-dir with ALFWorld's games "
    "(MINT's data/processed) to play the 134 real ones."
)
_STAND_INS = {"lemur/Household-v0"}


def _played_on_stand_in(task: dict[str, Any] | None) -> bool:
    return task is not None and bool(set(task.get("env_ids", ())) & _STAND_INS)


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
            [f"{r.model} [{r.source}]"] + [r.cells.get(c, "–") for c in header[1:]]
        )
        if r.source not in used:
            used.append(r.source)
    row_notes = [
        f"{r.model} [{r.source}]: {r.note}" for r in ref.tables.get(key, []) if r.note is not None
    ]
    notes = (
        list(notes)
        + row_notes
        + [f"[{name}] {ref.sources[name].text} ({ref.sources[name].url})" for name in used]
    )
    if used:
        notes.append(
            "Reference rows are published numbers, not re-run here; '–' = not published there."
        )
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
        "Avg",
    ]
    rows = []
    for s in summaries:
        t = s["tasks"]
        tv = [t.get(n, {}).get("rate") for n, _ in text_cols]
        cv = [t.get(n, {}).get("rate") for n, _ in code_cols]
        rows.append(
            [
                run_label(s),
                *[_task_cell(t.get(n)) for n, _ in text_cols],
                _pct(_avg(tv)),
                *[_task_cell(t.get(n)) for n, _ in code_cols],
                _pct(_avg(cv)),
                _pct(_avg(tv + cv)),
            ]
        )
    out.append(
        Table(
            "table3",
            "Table 3 — foundational abilities (text and code)",
            header,
            *_with_refs(
                ref,
                "table3",
                header,
                rows,
                _mark_note(rows, ["Greedy decoding; pass@1 for code.", *_cell_note(rows)]),
            ),
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
            cells = [
                _task_cell(t) + (STAND_IN_MARK if _played_on_stand_in(t) else "")
                for t in (s["tasks"].get(n) for n, _ in cols)
            ]
            if suite is not Suite.EXPLORE:
                cells.append(_pct(s.get("micro_average", {}).get(suite.value)))
            rows.append([run_label(s), *cells])
        out.append(
            Table(
                key,
                title,
                header,
                *_with_refs(ref, key, header, rows, _mark_note(rows, _cell_note(rows))),
            )
        )
    out.insert(3, _table6(ref, summaries))
    out.insert(4, _table6_tasks(ref, summaries))
    out.append(_fig5(ref, summaries))
    if any(s.get("mint_recorded") for s in summaries):
        out.append(_mint_recorded(summaries))
    out.append(evidence_table(summaries))
    return out


def _mint_recorded(summaries: list[dict[str, Any]]) -> Table:
    """Runs imported from MINT's results: our success rate (in the run's scoring mode) beside
    the rate MINT itself recorded for the same replies."""
    rows = []
    for s in summaries:
        for name, theirs in sorted((s.get("mint_recorded") or {}).items()):
            ours = s["tasks"].get(name, {})
            rows.append(
                [
                    run_label(s),
                    name,
                    str(s.get("scoring_mode", "mint")),
                    str(ours.get("n", "")),
                    _pct(ours.get("rate")),
                    _pct(theirs),
                ]
            )
    return Table(
        "mint_recorded",
        "MINT recorded runs — our SR beside MINT's recorded SR",
        ["Model", "Task", "Scoring mode", "n", "SR (ours)", "MINT recorded SR"],
        rows,
        ["Imported with `lemur-bench import mint`, re-judged with `lemur-bench rescore`."],
    )


_T6_GROUPS = (("Reasoning", Suite.TOOLS), ("Code Gen.", Suite.SELF_DEBUG), ("Micro Avg.", None))


def _pooled(deltas: list[dict[str, Any]], field: str) -> float | None:
    """The micro average of ``field`` over feedback tasks (weighted by their paired episodes)."""
    n = sum(int(d.get("n_pairs", 0)) for d in deltas)
    if n == 0:
        return None
    return sum(float(d[field]) * int(d["n_pairs"]) for d in deltas) / n


def _table6(ref: PaperReference, summaries: list[dict[str, Any]]) -> Table:
    """Table 6 as the paper lays it out: success without and with feedback per category
    (reasoning = MINT's tool-use tasks, code generation = MINT HumanEval/MBPP), their micro
    average, and Δfeedback of the micro average."""
    header = ["Model"] + [f"{g} {part}" for g, _ in _T6_GROUPS for part in ("w/o", "w/")]
    header.append("Δfeedback")
    rows = []
    for s in summaries:
        deltas = s.get("delta_feedback", {})
        row = [run_label(s)]
        micro: dict[str, float | None] = {}
        for _, suite in _T6_GROUPS:
            group = [
                d
                for d in deltas.values()
                if suite is None or suite in get_task(str(d["baseline"])).suites
            ]
            for field in ("without", "with_feedback"):
                value = _pooled(group, field)
                row.append(_pct(value))
                if suite is None:
                    micro[field] = value
        w, f = micro.get("without"), micro.get("with_feedback")
        row.append("–" if w is None or f is None else f"{100 * (f - w):+.1f}")
        rows.append(row)
    notes = [
        "Reasoning: MINT GSM8K, MATH, TheoremQA, HotpotQA, MMLU; Code Gen.: MINT HumanEval, MBPP."
    ]
    return Table(
        "table6",
        "Table 6 — with vs without simulated-user feedback (MINT)",
        header,
        *_with_refs(ref, "table6", header, rows, notes),
    )


def _table6_tasks(ref: PaperReference, summaries: list[dict[str, Any]]) -> Table:
    """Table 6 per task: without, with feedback and Δfeedback (paired by task id)."""
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
    return Table(
        "table6-tasks",
        "Table 6 per task — with vs without simulated-user feedback (Δfeedback, paired)",
        header,
        *_with_refs(ref, "table6-tasks", header, rows, []),
    )


def _fig5(ref: PaperReference, summaries: list[dict[str, Any]]) -> Table:
    """Fig. 5's numbers: WebArena success per model with symbolic and Python-call actions."""
    header = ["Model", "Symbolic", "Python call"]
    by_model: dict[str, dict[str, dict[str, Any]]] = {}
    for s in summaries:
        if "webarena" in s["tasks"]:
            rep = str(s.get("representation", "python"))
            by_model.setdefault(str(s["model"]), {})[rep] = s["tasks"]["webarena"]
    rows = [
        [model, _task_cell(reps.get("symbolic")), _task_cell(reps.get("python"))]
        for model, reps in by_model.items()
    ]
    return Table(
        "fig5",
        "Fig. 5 — WebArena success by action representation",
        header,
        *_with_refs(ref, "fig5", header, rows, _mark_note(rows, _cell_note(rows))),
    )


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
