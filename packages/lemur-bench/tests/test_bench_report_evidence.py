"""Reports show their evidence: n, CI and terminations per cell, error-dominated cells marked,
skipped tasks listed (HTML too); the viewer shows why an episode ended, the gold answer and
replies cut at max_new_tokens."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from lemur_bench import write_report, write_viewer
from lemur_bench.cli import app
from lemur_bench.fixtures import SCRIPT_NAME
from lemur_bench.report.tables import ERROR_MARK, build_tables, error_dominated, to_markdown
from lemur_bench.summary import summarize
from lemur_core import (
    EpisodeRecord,
    Message,
    Role,
    TerminationReason,
    TurnRecord,
    atomic_write_text,
)
from typer.testing import CliRunner


def _rec(bench: str, task: str, end: TerminationReason, tokens: int = 5) -> EpisodeRecord:
    turn = TurnRecord(
        index=0,
        prompt=(Message(role=Role.USER, content=f"task {task}"),),
        raw_output="answer",
        completion_tokens=tokens,
        info={"error": "ConnectError: refused"} if end is TerminationReason.MODEL_ERROR else {},
    )
    solved = end is TerminationReason.SOLVED
    return EpisodeRecord(
        episode_id=f"{bench}/{task}",
        benchmark=bench,
        task_id=task,
        model="m",
        max_turns=5,
        turns=(turn,),
        success=solved,
        score=float(solved),
        termination=end,
        info={"error": "model failed: ConnectError"}
        if end is TerminationReason.MODEL_ERROR
        else {},
    )


def _embedded(page: str) -> list[dict]:
    found = re.search(r'id="data" type="application/json">(.*?)</script>', page, re.S)
    assert found is not None
    return list(json.loads(found[1]))


def _summary(records: list[EpisodeRecord]) -> dict:
    return summarize(
        records,
        skipped={"webarena": "no site URLs"},
        data_sha256={},
        config={"model": "m", "suite": "all"},
    )


def test_error_dominated_cells_are_marked_and_every_cell_has_n_ci_and_terminations(
    tmp_path: Path,
) -> None:
    errored = [_rec("mint-gsm8k", str(i), TerminationReason.MODEL_ERROR) for i in range(3)]
    records = [*errored, _rec("mint-gsm8k", "9", TerminationReason.MAX_TURNS)]
    records += [_rec("mmlu", "a", TerminationReason.SOLVED)]
    summary = _summary(records)
    assert error_dominated(summary["tasks"]["mint-gsm8k"])
    assert not error_dominated(summary["tasks"]["mmlu"])
    tables = {t.key: t for t in build_tables([summary])}
    table4 = to_markdown(tables["table4"])
    # Wilson intervals: 0/4 is [0, 49.0], 1/1 is [20.7, 100].
    assert f"| m | 0.0 ±24.5 (n=4){ERROR_MARK} |" in table4 and "model_error or env_error" in table4
    evidence = to_markdown(tables["evidence"])
    assert re.search(
        r"\| m \| mint-gsm8k \| 4 \| 0\.0† \| \[0\.0, 49\.0\] \| model_error 3, max_turns 1 \|",
        evidence,
    ), evidence
    assert "| m | mmlu | 1 | 100.0 | [20.7, 100.0] | solved 1 |" in evidence
    run = tmp_path / "run"
    run.mkdir()
    atomic_write_text(run / "summary.json", json.dumps(summary))
    write_report([run], tmp_path / "report")
    page = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "Skipped tasks" in page and "webarena — no site URLs" in page
    assert "Evidence" in page


def test_the_viewer_shows_the_error_the_gold_answer_and_truncation(tmp_path: Path) -> None:
    records = [
        _rec("mint-gsm8k", "0", TerminationReason.MODEL_ERROR),
        _rec("mint-gsm8k", "1", TerminationReason.MAX_TURNS, tokens=64),
    ]
    page = write_viewer(
        records, tmp_path / "v.html", gold={("mint-gsm8k", "1"): "42"}, max_new_tokens=64
    ).read_text(encoding="utf-8")
    data = _embedded(page)
    by_id = {e["task_id"]: e for e in data}
    assert by_id["1"]["_gold"] == "42" and by_id["0"]["_gold"] is None
    assert by_id["1"]["turns"][0]["_truncated"] and not by_id["0"]["turns"][0]["_truncated"]
    assert by_id["0"]["info"]["error"] == "model failed: ConnectError"
    assert "why it ended" in page and "reply cut at max_new_tokens" in page
    assert "model/env error" in page  # the outcome filter


def test_lemur_bench_view_embeds_the_gold_answers_of_the_runs_data(
    fixtures: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = ["run", "--suite", "gsm8k", "--model", f"scripted:{fixtures / SCRIPT_NAME}"]
    assert (
        CliRunner().invoke(app, [*args, "--out", str(out), "--tasks-dir", str(fixtures)]).exit_code
        == 0
    )
    result = CliRunner().invoke(app, ["view", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "viewer.html").read_text(encoding="utf-8")
    data = _embedded(page)
    assert data and all(e["_gold"] for e in data), [e.get("_gold") for e in data]


def test_fig4_axes_are_whole_turns_and_the_full_percent_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.pyplot as plt
    from lemur_bench.report import plots

    summary = {"model": "m", "tasks": {"intercode-sql": {"success_by_turn": [0.0, 0.0, 0.0]}}}
    seen: dict[str, object] = {}
    close = plt.close

    def keep(fig: object) -> None:  # read the axes before the figure is closed
        ax = fig.axes[0]  # type: ignore[attr-defined]
        seen["ylim"], seen["xticks"] = ax.get_ylim(), list(ax.get_xticks())
        close(fig)  # type: ignore[arg-type]

    monkeypatch.setattr(plots.plt, "close", keep)
    assert plots.plot_success_by_turn([summary], "intercode-sql", tmp_path / "f.png")
    assert seen["ylim"] == (0.0, 100.0)
    assert seen["xticks"] == [1.0, 2.0, 3.0]


def test_paper_table_cells_carry_their_ci_and_n_as_the_summary_gives_them() -> None:
    from lemur_bench.report.tables import CELL_NOTE

    task = {"n": 80, "rate": 0.4125, "ci95": [0.30, 0.5125], "terminations": {"solved": 33}}
    summary = {"model": "m", "tasks": {"mmlu": task, "humaneval": {**task, "n": 1}}}
    table3 = next(t for t in build_tables([summary]) if t.key == "table3")
    row = dict(zip(table3.header, table3.rows[0], strict=True))
    assert row["MMLU"] == "41.2 ±10.6 (n=80)"  # half of [30.0, 51.2]
    assert row["HumanEval"].endswith("(n=1)")  # a 1-of-1 cell says so
    assert row["BBH"] == "–"  # not run: no n to show
    assert CELL_NOTE in table3.notes
    md = to_markdown(table3)
    assert "| m | 41.2 ±10.6 (n=80) |" in md
