"""WebArena end to end on the Lemur Shop fixtures in both action representations (paper Fig. 5):
the prompt describes the run's notation, the scripted agent replays through real Chromium, and
the report draws Fig. 5 from the pair of runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lemur_agents.actions import WEBARENA_SCHEMA, PythonCallMapper, SymbolicMapper
from lemur_agents.envs.web import fixture_tasks, load_tasks
from lemur_agents.envs.web.browser import find_chromium
from lemur_bench import read_episodes, run_suite, write_report
from lemur_bench.fixtures import SCRIPT_NAME
from lemur_bench.fixtures_web import TASKS_FILE, write_web_fixtures
from lemur_bench.loaders import load_webarena
from lemur_bench.prompts import WEBARENA_NOTATION, Representation, system_prompt
from lemur_bench.registry import get_task
from lemur_core import EpisodeRecord, TerminationReason

REPO_ROOT = Path(__file__).resolve().parents[3]
WEBARENA = REPO_ROOT.parent / "shared" / "benchmarks" / "webarena" / "test.raw.json"
REPRESENTATIONS: tuple[Representation, ...] = ("python", "symbolic")
# The field set of WebArena's published config/test.raw.json rows.
WEBARENA_FIELDS = {
    "sites",
    "task_id",
    "require_login",
    "storage_state",
    "start_url",
    "geolocation",
    "intent_template",
    "instantiation_dict",
    "intent",
    "require_reset",
    "eval",
    "intent_template_id",
}
PRICE_QUESTION = "What is the price of the Harmonizing Code Mug?"
needs_chromium = pytest.mark.skipif(
    find_chromium("/usr/bin/chromium") is None, reason="no Chromium installed"
)


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_webarena_system_prompt_describes_every_action_in_the_runs_notation(
    representation: Representation,
) -> None:
    prompt = system_prompt(get_task("webarena"), representation)
    assert prompt is not None
    other: Representation = "symbolic" if representation == "python" else "python"
    assert WEBARENA_SCHEMA.describe(representation) in prompt
    assert WEBARENA_NOTATION[representation] in prompt
    assert WEBARENA_NOTATION[other] not in prompt
    mapper = PythonCallMapper if representation == "python" else SymbolicMapper
    example = prompt.split(", for example ", 1)[1].split(". The actions:", 1)[0]
    assert mapper(WEBARENA_SCHEMA).parse(example).name == "type"
    stop = prompt.rsplit("e.g. ", 1)[1].split(";", 1)[0]
    assert mapper(WEBARENA_SCHEMA).parse(stop).name == "stop"


def test_default_describe_is_the_python_signatures() -> None:
    assert WEBARENA_SCHEMA.describe() == WEBARENA_SCHEMA.describe("python")
    lines = WEBARENA_SCHEMA.describe("symbolic").splitlines()
    assert [line.split(":")[0] for line in lines][:2] == [
        "click [id]",
        "type [id] [content] [press_enter_after]",
    ]
    assert "press_enter_after is 1 or 0 (default 1)" in lines[1]


def test_web_fixtures_are_webarena_configs_that_mirror_the_shop_tasks(tmp_path: Path) -> None:
    scripts: list[dict[str, Any]] = []
    write_web_fixtures(tmp_path, scripts)
    rows = json.loads((tmp_path / TASKS_FILE).read_text(encoding="utf-8"))
    assert all(set(row) == WEBARENA_FIELDS for row in rows)
    assert all(row["start_url"] == "__LEMUR_SHOP__" for row in rows)
    loaded = load_tasks(tmp_path / TASKS_FILE)
    for mirrored, task in zip(loaded, fixture_tasks(), strict=False):
        assert (mirrored.instruction, mirrored.eval) == (task.instruction, task.eval)
    assert {k for t in loaded for k in t.eval.eval_types} == {
        "string_match",
        "url_match",
        "program_html",
    }
    assert [t.prompt for t in load_webarena(rows)] == [t.instruction for t in loaded]
    # One script per task and representation, each keyed on its notation sentence.
    assert len(scripts) == 2 * len(rows)
    assert {s["system_match"] for s in scripts} == set(WEBARENA_NOTATION.values())


@pytest.mark.shared_data
def test_web_fixture_rows_have_the_fields_of_the_published_file(tmp_path: Path) -> None:
    if not WEBARENA.exists():
        pytest.skip(f"{WEBARENA} is absent")
    published = json.loads(WEBARENA.read_text(encoding="utf-8"))
    write_web_fixtures(tmp_path, [])
    ours = json.loads((tmp_path / TASKS_FILE).read_text(encoding="utf-8"))
    assert {frozenset(row) for row in ours} <= {frozenset(row) for row in published}


@pytest.fixture(scope="module")
def web_runs(fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The fixtures and one webarena run per representation, with the fixture agent."""
    agent_file = fixtures / SCRIPT_NAME
    runs = {"tasks": fixtures}
    for representation in REPRESENTATIONS:
        runs[representation] = tmp_path_factory.mktemp("runs") / representation
        run_suite(
            "webarena",
            f"scripted:{agent_file}",
            runs[representation],
            tasks_dir=fixtures,
            concurrency=4,  # all four tasks live at once: their browsers share one thread
            action_representation=representation,
            progress=False,
        )
    return runs


def _by_intent(runs: dict[str, Path], representation: Representation) -> dict[str, EpisodeRecord]:
    rows = json.loads((runs["tasks"] / TASKS_FILE).read_text(encoding="utf-8"))
    intent = {f"webarena/{row['task_id']}": row["intent"] for row in rows}
    records = read_episodes(runs[representation] / "episodes.jsonl")
    assert sorted(r.episode_id for r in records) == sorted(intent)
    return {intent[r.episode_id]: r for r in records}


@needs_chromium
@pytest.mark.slow
def test_python_actions_solve_every_task_and_symbolic_ones_miss_the_price(
    web_runs: dict[str, Path],
) -> None:
    python, symbolic = _by_intent(web_runs, "python"), _by_intent(web_runs, "symbolic")
    assert {i: r.termination for i, r in python.items()} == {
        i: TerminationReason.SOLVED for i in python
    }
    assert {i: r.success for i, r in symbolic.items()} == {i: i != PRICE_QUESTION for i in python}
    missed = symbolic[PRICE_QUESTION]
    assert missed.termination == TerminationReason.SUBMITTED
    assert missed.turns[-1].raw_output == "stop [$15.00]"
    for record in [*python.values(), *symbolic.values()]:
        assert [t.parse_error for t in record.turns] == [None] * len(record.turns)
        assert "error" not in record.info


@needs_chromium
@pytest.mark.slow
def test_records_carry_both_representations_of_every_action(web_runs: dict[str, Path]) -> None:
    python, symbolic = _by_intent(web_runs, "python"), _by_intent(web_runs, "symbolic")
    for representation in REPRESENTATIONS:
        records = python if representation == "python" else symbolic
        for record in records.values():
            system = record.turns[0].prompt[0].content
            assert WEBARENA_NOTATION[representation] in system
            for turn in record.turns:
                reps = turn.action_representations
                assert set(reps) == {"python", "symbolic"}
                assert turn.raw_output == reps[representation]
                assert turn.parsed_action == reps["symbolic"]  # the env steps on WebArena's form
    # Where both agents follow the same plan, they acted on the same elements.
    for intent in python.keys() - {PRICE_QUESTION}:
        assert [t.action_representations for t in python[intent].turns] == [
            t.action_representations for t in symbolic[intent].turns
        ]


@needs_chromium
@pytest.mark.slow
def test_report_draws_fig5_and_table7_holds_both_rates(
    web_runs: dict[str, Path], tmp_path: Path
) -> None:
    written = write_report([web_runs["python"], web_runs["symbolic"]], tmp_path)
    fig5 = tmp_path / "fig5_action_representation.png"
    assert fig5 in written and fig5.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    table7 = report.split("### Table 7", 1)[1].split("###", 1)[0]
    header = next(line for line in table7.splitlines() if line.startswith("| Model"))
    column = [c.strip() for c in header.split("|")].index("WebArena")
    cells = {
        row[1]: row[column]
        for row in ([c.strip() for c in line.split("|")] for line in table7.splitlines())
        if len(row) > column and row[1].startswith("scripted:")
    }
    model = f"scripted:{web_runs['tasks'] / SCRIPT_NAME}"
    # Each cell: rate, half its 95% Wilson interval, n.
    assert cells == {
        model: "100.0 ±24.5 (n=4)",
        f"{model} (symbolic actions)": "75.0 ±32.7 (n=4)",
    }
