"""Reports: paper-style tables and figures from runs; the trajectory viewer in headless Chromium;
metrics against properties and numpy."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from lemur_bench import write_report, write_viewer
from lemur_bench.metrics import (
    bootstrap_ci,
    delta_feedback,
    micro_average,
    success_by_turn,
    success_rate,
)
from lemur_bench.report.tables import PaperReference, build_tables, paper_reference
from lemur_bench.summary import summarize
from lemur_core import (
    EpisodeRecord,
    Message,
    Role,
    TerminationReason,
    TurnRecord,
    atomic_write_text,
)

CHROMIUM = Path("/usr/bin/chromium")
PAPER_TABLES = Path(__file__).resolve().parents[3].parent / "shared" / "paper" / "TABLES.md"


def _rec(bench: str, task: str, turns: int, success: bool, model: str = "m") -> EpisodeRecord:
    ts = tuple(
        TurnRecord(
            index=i,
            prompt=(Message(role=Role.USER, content=f"solve </script> {task}"),),
            raw_output=f'type(id=3, content="x", press_enter_after=True) #{i}',
            parsed_action="type [3] [x] [1]",
            action_representations={
                "python": 'type(id=3, content="x", press_enter_after=True)',
                "symbolic": "type [3] [x] [1]",
            },
            observation=f"obs {i} <b>not bold</b>",
            reward=1.0 if success and i == turns - 1 else 0.0,
        )
        for i in range(turns)
    )
    return EpisodeRecord(
        episode_id=f"{bench}/{task}",
        benchmark=bench,
        task_id=task,
        model=model,
        max_turns=10,
        turns=ts,
        success=success,
        score=float(success),
        termination=TerminationReason.SOLVED if success else TerminationReason.MAX_TURNS,
        started_at=datetime.now(UTC),
    )


def _run_dir(tmp: Path, name: str, records: list[EpisodeRecord]) -> Path:
    import json

    d = tmp / name
    d.mkdir()
    summary = summarize(
        records,
        skipped={"webarena": "no site"},
        data_sha256={},
        config={"model": name, "suite": "all"},
    )
    atomic_write_text(d / "summary.json", json.dumps(summary))
    atomic_write_text(d / "episodes.jsonl", "".join(r.model_dump_json() + "\n" for r in records))
    return d


def _records(model: str, solved_at: list[int | None]) -> list[EpisodeRecord]:
    out = [
        _rec("intercode-sql", str(i), s or 10, s is not None, model)
        for i, s in enumerate(solved_at)
    ]
    out += [_rec("mint-gsm8k", "0", 2, True, model), _rec("mint-gsm8k-nl", "0", 1, True, model)]
    out += [_rec("mmlu", "a", 1, True, model), _rec("mmlu", "b", 1, False, model)]
    return out


def test_report_has_paper_tables_one_row_per_model_and_the_figures(tmp_path: Path) -> None:
    a = _run_dir(tmp_path, "lemur-tiny", _records("lemur-tiny", [1, 3, None, None]))
    b = _run_dir(tmp_path, "smollm2", _records("smollm2", [2, 2, 2, None]))
    files = write_report([a, b], tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    for title in ("Table 3", "Table 4", "Table 5", "Table 6", "Table 7"):
        assert title in md
    # MMLU column first; each cell with its CI half-width and n (1 of 2 solved)
    assert re.search(r"\| lemur-tiny \| 50\.0 ±\d+\.\d \(n=2\) \|", md)
    assert re.search(r"\| smollm2 \| 50\.0 ±\d+\.\d \(n=2\) \|", md)
    # Reference rows carry their source, and the source is spelled out under the table.
    assert (
        "| Lemur-70B-Chat [Xu et al. 2024, Table 3] | 65.3 | 61.9 | 66.3 | – | 61.0 | 55.5 |" in md
    )
    assert "[Xu et al. 2024, Table 3] Xu et al. 2024, Lemur: Harmonizing" in md
    assert "[mint-leaderboard] Leaderboard, not the paper" in md
    fig4 = tmp_path / "report" / "fig4_success_by_turn_intercode-sql.png"
    assert fig4 in files and fig4.read_bytes()[:4] == b"\x89PNG"
    assert "<table>" in (tmp_path / "report" / "report.html").read_text()


def test_report_of_an_unfinished_run_says_how_to_finish_it(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    with pytest.raises(FileNotFoundError, match="run `lemur-bench run` again"):
        write_report([tmp_path / "r"], tmp_path / "out")


def test_success_by_turn_is_cumulative_and_ends_at_the_success_rate() -> None:
    recs = _records("m", [1, 3, None, None])[:4]
    curve = success_by_turn(recs, 10)
    assert curve[0] == 0.25 and curve[2] == 0.5 and curve[-1] == 0.5
    assert all(x <= y for x, y in itertools.pairwise(curve))


def test_bootstrap_ci_brackets_the_mean_and_is_deterministic() -> None:
    vals = [1.0] * 30 + [0.0] * 70
    lo, hi = bootstrap_ci(vals)
    assert lo < float(np.mean(vals)) < hi
    assert (lo, hi) == bootstrap_ci(vals)


def test_success_rate_interval_is_scipys_wilson_interval_and_not_empty_at_zero() -> None:
    stats = pytest.importorskip("scipy.stats")
    for n in (1, 5, 20, 80):
        for k in range(n + 1):
            recs = _records("m", [1] * k + [None] * (n - k))[:n]
            rate = success_rate(recs)
            ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
            assert (rate.successes, rate.n) == (k, n)
            assert rate.ci_low == pytest.approx(ref.low, abs=1e-12)
            assert rate.ci_high == pytest.approx(ref.high, abs=1e-12)
    none_of_20 = success_rate(_records("m", [None] * 20)[:20])
    assert none_of_20.ci_low == 0.0 and none_of_20.ci_high > 0.15


def test_delta_feedback_pairs_by_task_and_micro_average_pools() -> None:
    base = [_rec("t", "1", 1, False), _rec("t", "2", 1, True), _rec("t", "3", 1, False)]
    fb = [_rec("t", "1", 1, True), _rec("t", "2", 1, True), _rec("t", "9", 1, True)]
    d = delta_feedback(base, fb)
    assert d.n_pairs == 2 and d.delta == pytest.approx(0.5)
    assert micro_average([base, fb[:1]]) == pytest.approx(2 / 4)


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)"
)
def test_viewer_loads_in_headless_chromium_and_shows_every_turn(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    records = _records("m", [1, 3, None])
    page_path = write_viewer(records, tmp_path / "viewer.html")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-background-networking"]
        )
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_path.as_uri())
        assert page.locator("details.ep").count() == len(records)
        stats = page.locator("#stats").inner_text()
        assert f"of {len(records)} episodes" in stats
        page.locator("details.ep").first.locator("summary").click()
        # Both action representations and escaped observations (no HTML injection).
        assert page.locator("pre.action").count() == 2 * sum(len(r.turns) for r in records)
        assert "<b>not bold</b>" in page.locator("pre.obs").first.inner_text()
        page.select_option("#outcome", "1")
        assert page.locator("details.ep").count() == sum(r.success for r in records)
        browser.close()
    assert not errors


def test_every_shipped_reference_cell_lands_in_a_column_of_its_table() -> None:
    ref = paper_reference()
    tables = {t.key: t for t in build_tables([])}
    for key, rows in ref.tables.items():
        table = tables[key]  # a reference table key that no table has would fail here
        for r in rows:
            shown = next(row for row in table.rows if row[0] == f"{r.model} [{r.source}]")
            for column, value in r.cells.items():
                assert shown[table.header.index(column)] == str(value)  # as published


def test_reference_rows_name_a_known_source() -> None:
    data = paper_reference().model_dump()
    data["tables"]["table3"][0]["source"] = "my memory"
    with pytest.raises(ValueError, match="names source 'my memory', which is not under sources"):
        PaperReference.model_validate(data)


def test_paper_rows_cite_the_table_they_come_from() -> None:
    ref = paper_reference()
    cited = {"table3": "Table 3", "table4": "Table 4", "table5": "Table 5", "table6": "Table 6"}
    cited |= {"table7": "Table 7", "fig5": "Fig. 5"}
    for key, rows in ref.tables.items():
        for r in rows:
            if r.source.startswith("Xu et al."):
                assert r.source == f"Xu et al. 2024, {cited[key]}", (key, r.model)
            else:
                assert ref.sources[r.source].text.startswith("Leaderboard, not the paper")


def _published_rows(markdown: str, heading: str) -> dict[str, list[str]]:
    section = markdown.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|")
    ]
    width = 2 if heading.startswith("Table 6") else 1  # Table 6: one row per model and feedback
    return {"|".join(r[:width]): r for r in rows[2:]}


@pytest.mark.shared_data
def test_every_number_of_the_papers_tables_3_to_7_and_fig5_is_a_reference_cell() -> None:
    if not PAPER_TABLES.exists():
        pytest.skip(f"{PAPER_TABLES} is absent")
    md = PAPER_TABLES.read_text(encoding="utf-8")
    ref = paper_reference()

    def paper_cells(key: str) -> dict[str, dict[str, str]]:
        return {r.model: r.cells for r in ref.tables[key] if r.source.startswith("Xu et al.")}

    for key, heading, columns in (
        (
            "table3",
            "Table 3",
            ["MMLU", "BBH", "GSM8K", "HumanEval", "MBPP", "Spider", "MultiPL-E", "DS-1000", "Avg"],
        ),
        ("table4", "Table 4", ["GSM8K", "MATH", "TheoremQA", "HotpotQA", "MMLU", "Micro Avg."]),
        ("table5", "Table 5", ["M-HumanEval", "M-MBPP", "IC-Bash", "IC-SQL", "RoboCodeGen"]),
        ("table7", "Table 7", ["IC-CTF", "WebArena", "ALFWorld"]),
        ("fig5", "Figure 5", ["Symbolic", "Python call"]),
    ):
        ours = paper_cells(key)
        published = _published_rows(md, heading)
        assert set(ours) == set(published), key
        for model, row in published.items():
            assert [ours[model][c] for c in columns] == row[1:], (key, model)
    # Table 6: one row per model and feedback; ours joins them into w/o and w/ columns.
    ours6 = paper_cells("table6")
    rows6 = _published_rows(md, "Table 6")
    for label, row in rows6.items():
        model, feedback = label.split("|")
        model = model.removesuffix(" (upper bound)")
        part = "w/o" if feedback == "none" else "w/"
        for group, value in zip(("Reasoning", "Code Gen.", "Micro Avg."), row[2:5], strict=True):
            assert ours6[model][f"{group} {part}"] == value, (model, group, part)
        if feedback == "none":  # Δfeedback is printed on the without-feedback row
            assert ours6[model].get("Δfeedback", "n/a") == row[5], model


def test_the_webarena_530_vs_579_inconsistency_is_footnoted() -> None:
    tables = {t.key: t for t in build_tables([])}
    for key in ("table7", "fig5"):
        assert any("5.79" in n and "5.30" in n for n in tables[key].notes), key
    assert "5.30" in next(r for r in tables["table7"].rows if r[0].startswith("Lemur-70B-Chat [X"))


def test_table6_pools_feedback_tasks_into_the_papers_categories() -> None:
    summary = {
        "model": "m",
        "tasks": {},
        "delta_feedback": {
            "mint-gsm8k-nl": {
                "n_pairs": 2,
                "without": 0.5,
                "with_feedback": 1.0,
                "delta": 0.5,
                "baseline": "mint-gsm8k",
            },
            "mint-math-nl": {
                "n_pairs": 2,
                "without": 0.0,
                "with_feedback": 0.0,
                "delta": 0.0,
                "baseline": "mint-math",
            },
            "mint-humaneval-nl": {
                "n_pairs": 4,
                "without": 0.0,
                "with_feedback": 0.5,
                "delta": 0.5,
                "baseline": "mint-humaneval",
            },
        },
    }
    table6 = next(t for t in build_tables([summary]) if t.key == "table6")
    row = dict(zip(table6.header, table6.rows[0], strict=True))
    assert row["Reasoning w/o"] == "25.0" and row["Reasoning w/"] == "50.0"
    assert row["Code Gen. w/o"] == "0.0" and row["Code Gen. w/"] == "50.0"
    assert row["Micro Avg. w/o"] == "12.5" and row["Micro Avg. w/"] == "50.0"
    assert row["Δfeedback"] == "+37.5"


def test_fig5_table_pairs_a_models_runs_by_representation() -> None:
    runs = [
        {"model": "m", "representation": r, "tasks": {"webarena": {"rate": x}}}
        for r, x in (("python", 0.5), ("symbolic", 0.25))
    ]
    fig5 = next(t for t in build_tables(runs) if t.key == "fig5")
    assert fig5.rows[0] == ["m", "25.0", "50.0"]
    assert ["Lemur-70B-Chat [Xu et al. 2024, Fig. 5]", "5.30", "5.67"] in fig5.rows


def test_a_reference_cell_that_is_not_a_published_number_is_refused() -> None:
    data = paper_reference().model_dump()
    data["tables"]["table7"][0]["cells"]["WebArena"] = "about 5"
    with pytest.raises(ValueError, match="not a published number: write it as printed"):
        PaperReference.model_validate(data)


def test_fig5_is_drawn_for_a_model_run_with_both_representations(tmp_path: Path) -> None:
    runs = []
    for rep, rate in (("python", 1.0), ("symbolic", 0.75)):
        run = tmp_path / rep
        run.mkdir()
        summary = {
            "model": "m",
            "tasks": {"webarena": {"rate": rate, "success_by_turn": [rate]}},
            "delta_feedback": {},
            "micro_average": {},
            "skipped_tasks": {},
        }
        atomic_write_text(run / "summary.json", json.dumps(summary))
        atomic_write_text(run / "run_config.json", json.dumps({"action_representation": rep}))
        runs.append(run)
    written = write_report(runs, tmp_path / "report")
    fig5 = tmp_path / "report" / "fig5_action_representation.png"
    assert fig5 in written and fig5.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "| m | 75.0 | 100.0 |" in md


def test_table7_marks_alfworld_played_on_the_stand_in_and_not_on_real_games() -> None:
    def table7(env_id: str) -> tuple[list[list[str]], list[str]]:
        rec = _rec("alfworld", "0", 3, True).model_copy(update={"env_id": env_id})
        summary = summarize([rec], skipped={}, data_sha256={}, config={"model": "m"})
        assert summary["tasks"]["alfworld"]["env_ids"] == [env_id]
        t7 = next(t for t in build_tables([summary]) if t.key == "table7")
        return t7.rows, t7.notes

    rows, notes = table7("lemur/Household-v0")
    t7 = next(t for t in build_tables([]) if t.key == "table7")
    col = t7.header.index("ALFWorld")
    mine = next(r for r in rows if r[0] == "m")
    assert mine[col].endswith("‡") and any("Household stand-in" in n for n in notes)
    rows, notes = table7("lemur/ALFWorld-v0")
    mine = next(r for r in rows if r[0] == "m")
    assert "‡" not in mine[col] and not any("Household stand-in" in n for n in notes)
