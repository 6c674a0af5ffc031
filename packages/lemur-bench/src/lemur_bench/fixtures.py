"""Offline fixture tasks in every benchmark's published format, and a scripted agent for them.

``write_fixtures(out_dir)`` writes a small tasks directory that ``run_suite(..., tasks_dir=...)``
reads exactly as it reads the upstream data (MINT JSON Lines, InterCode JSON lists, HF-style
rows, Spider's ``database/<db>/<db>.sqlite`` layout; RoboCodeGen, which has no published data
file, in lemur-agents' RoboticsAPI task-file format), and ``scripted_agent.json``: a
``scripted:`` model file (lemur-agents' ``ScriptFile``) that answers most fixture tasks
correctly and a few wrongly on purpose, so a run exercises both verdicts of every scorer, and
solves the MINT tasks on their second turn and the RoboCodeGen ones on turns 1, 2 and never,
so success-by-turn has a shape.

The problems are written for this project (HumanEval-style, MBPP-style, ...), not copied.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from lemur_core import atomic_write_text

from lemur_bench.fixtures_web import write_web_fixtures

SCRIPT_NAME = "scripted_agent.json"


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def _json(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_text(path, json.dumps(rows, indent=1) + "\n")


def _text(out: Path, scripts: list[dict[str, Any]]) -> None:
    arith = [
        ("What is 2 + 2?", ["3", "4", "5", "6"], 1),
        ("What is 3 * 3?", ["6", "8", "9", "12"], 2),
        ("What is 10 - 7?", ["3", "4", "2", "1"], 0),
        ("What is 12 / 4?", ["2", "3", "4", "6"], 1),
        ("What is 5 + 6?", ["10", "12", "13", "11"], 3),
    ]
    rows = [
        {"question": q, "choices": c, "answer": a, "subject": "arithmetic", "split": "dev"}
        for q, c, a in arith
    ]
    rows += [
        {
            "question": "Which number is prime among these fixture options?",
            "choices": ["4", "6", "7", "9"],
            "answer": 2,
            "subject": "arithmetic",
        },
        {
            "question": "Which fixture option is the largest even number?",
            "choices": ["8", "3", "5", "1"],
            "answer": 0,
            "subject": "arithmetic",
        },
    ]
    _jsonl(out / "text" / "mmlu.jsonl", rows)
    scripts += [
        {
            "match": "Which number is prime among these fixture options?",
            "completions": ["The answer is (C)."],
        },
        {
            "match": "Which fixture option is the largest even number?",
            "completions": ["The answer is (B)."],
        },  # wrong
    ]
    bbh: list[dict[str, Any]] = [
        {
            "input": "not ( True ) and ( True ) is",
            "target": "False",
            "task": "boolean_expressions",
            "shot": True,
            "rationale": "not True is False; False and True is False.",
        },
        {
            "input": "True and not not ( not False ) is",
            "target": "True",
            "task": "boolean_expressions",
            "shot": True,
            "rationale": "not False is True; not not True is True; True and True is True.",
        },
        {
            "input": "not True or ( False and True ) is",
            "target": "False",
            "task": "boolean_expressions",
            "shot": True,
            "rationale": "not True is False; False and True is False; False or False is False.",
        },
        {
            "input": "True or False and not True is (fixture one)",
            "target": "True",
            "task": "boolean_expressions",
        },
        {
            "input": "not not False and True is (fixture two)",
            "target": "False",
            "task": "boolean_expressions",
        },
    ]
    _jsonl(out / "text" / "bbh.jsonl", bbh)
    scripts += [
        {
            "match": "(fixture one)",
            "completions": ["True or anything is True. So the answer is True."],
        },
        {
            "match": "(fixture two)",
            "completions": ["not not False is False. So the answer is False."],
        },
    ]
    gsm_shots = [
        {
            "question": f"Tom has {a} apples and buys {b} more. How many apples does he have?",
            "answer": f"Tom has {a} + {b} = <<{a}+{b}={a + b}>>{a + b} apples.\n#### {a + b}",
            "shot": True,
        }
        for a, b in ((1, 2), (3, 4), (5, 6), (7, 8), (2, 9), (4, 4), (6, 1), (9, 3))
    ]
    gsm: list[dict[str, Any]] = [
        *gsm_shots,
        {
            "question": "A fixture baker makes 12 rolls per tray and bakes 3 trays. How many rolls?",
            "answer": "12 * 3 = <<12*3=36>>36\n#### 36",
        },
        {
            "question": "A fixture library has 1,200 books and lends 250. How many remain?",
            "answer": "1200 - 250 = <<1200-250=950>>950\n#### 950",
        },
    ]
    _jsonl(out / "text" / "gsm8k.jsonl", gsm)
    scripts += [
        {
            "match": "fixture baker",
            "completions": ["12 rolls times 3 trays is 36. The answer is 36."],
        },
        {
            "match": "fixture library",
            "completions": ["1200 minus 250 is 960. The answer is 960."],
        },  # wrong
    ]


_HE: list[dict[str, Any]] = [
    {
        "task_id": "Fixture/0",
        "prompt": 'def add_pair(a: int, b: int) -> int:\n    """Return the sum of a and b.\n    >>> add_pair(2, 3)\n    5\n    """\n',
        "canonical_solution": "    return a + b\n",
        "test": "\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
        "entry_point": "add_pair",
    },
    {
        "task_id": "Fixture/1",
        "prompt": 'def count_vowels(s: str) -> int:\n    """Count the vowels (aeiou) in s.\n    >>> count_vowels("banana")\n    3\n    """\n',
        "canonical_solution": "    return sum(c in 'aeiou' for c in s)\n",
        "test": "\n\ndef check(candidate):\n    assert candidate('banana') == 3\n    assert candidate('xyz') == 0\n",
        "entry_point": "count_vowels",
    },
]

_MBPP: list[dict[str, Any]] = [
    {
        "task_id": 2,
        "text": "Write a function to return the square of a number.",
        "code": "def square(x):\n    return x * x",
        "test_list": ["assert square(3) == 9"],
    },
    {
        "task_id": 3,
        "text": "Write a function to check if a number is even.",
        "code": "def is_even(n):\n    return n % 2 == 0",
        "test_list": ["assert is_even(4)", "assert not is_even(3)"],
    },
    {
        "task_id": 4,
        "text": "Write a function to reverse a string.",
        "code": "def rev(s):\n    return s[::-1]",
        "test_list": ["assert rev('ab') == 'ba'"],
    },
    {
        "task_id": 11,
        "text": "Write a function to find the maximum of a fixture list.",
        "code": "def fixture_max(xs):\n    return max(xs)",
        "test_list": ["assert fixture_max([1, 5, 2]) == 5", "assert fixture_max([-3, -1]) == -1"],
    },
    {
        "task_id": 12,
        "text": "Write a function to multiply all numbers of a fixture list.",
        "code": "def fixture_prod(xs):\n    out = 1\n    for x in xs:\n        out *= x\n    return out",
        "test_list": ["assert fixture_prod([2, 3, 4]) == 24", "assert fixture_prod([]) == 1"],
    },
]


def _code(out: Path, scripts: list[dict[str, Any]]) -> None:
    _jsonl(out / "code" / "humaneval.jsonl", _HE)
    scripts += [
        {
            "match": "def add_pair(",
            "completions": [
                "```python\ndef add_pair(a: int, b: int) -> int:\n    return a + b\n```"
            ],
        },
        {
            "match": "def count_vowels(",
            "completions": ["```python\ndef count_vowels(s: str) -> int:\n    return len(s)\n```"],
        },  # wrong
    ]
    _jsonl(out / "code" / "mbpp.jsonl", _MBPP)
    scripts += [
        {
            "match": "maximum of a fixture list",
            "completions": ["def fixture_max(xs):\n    return max(xs)\n[DONE]"],
        },
        {
            "match": "multiply all numbers of a fixture list",
            "completions": [
                "```python\ndef fixture_prod(xs):\n    out = 1\n    for x in xs:\n        out *= x\n    return out\n```"
            ],
        },
    ]
    db = out / "code" / "database" / "fixture_shop" / "fixture_shop.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    db.unlink(missing_ok=True)
    con = sqlite3.connect(db)
    con.executescript(
        "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price REAL);"
        "INSERT INTO item VALUES (1, 'pen', 1.5), (2, 'book', 12.0), (3, 'lamp', 30.0);"
    )
    con.commit()
    con.close()
    _jsonl(
        out / "code" / "spider.jsonl",
        [
            {
                "db_id": "fixture_shop",
                "question": "How many items does the fixture shop sell?",
                "query": "SELECT count(*) FROM item",
            },
            {
                "db_id": "fixture_shop",
                "question": "List fixture item names from cheapest to most expensive.",
                "query": "SELECT name FROM item ORDER BY price",
            },
        ],
    )
    scripts += [
        {
            "match": "How many items does the fixture shop sell?",
            "completions": ["```sql\nSELECT COUNT(id) FROM item;\n```"],
        },
        {
            "match": "cheapest to most expensive",
            "completions": ["```sql\nSELECT name FROM item ORDER BY price DESC\n```"],
        },  # wrong order
    ]
    _jsonl(
        out / "code" / "multipl_e.jsonl",
        [
            {
                "name": "fixture_double",
                "language": "sh",
                "prompt": "#!/bin/bash\n# Print twice the number $1\ndouble() {\n",
                "tests": '\n[[ "$(double 4)" == "8" ]] || exit 1\n[[ "$(double 0)" == "0" ]] || exit 1\n',
                "stop_tokens": ["\n}"],
            },
        ],
    )
    scripts += [
        {"match": "Print twice the number", "completions": ["```sh\n  echo $(( $1 * 2 ))\n}\n```"]}
    ]
    ctx = (
        "import numpy as np\n\ndef test_execution(solution: str):\n    env = {'np': np, 'a': np.arange(4)}\n"
        "    exec(solution, env)\n    assert np.array_equal(env['result'], np.arange(4) * 2)\n"
    )
    _jsonl(
        out / "code" / "ds1000.jsonl",
        [
            {
                "prompt": "Problem: double the fixture numpy array `a` into `result`.\nA:\n<code>\nimport numpy as np\na = np.arange(4)\n</code>\nresult = ... # put solution in this variable",
                "reference_code": "result = a * 2",
                "code_context": ctx,
                "metadata": {"problem_id": 0, "library": "Numpy"},
            },
        ],
    )
    scripts += [
        {
            "match": "double the fixture numpy array",
            "completions": ["```python\nresult = a * 2\n```"],
        }
    ]


def _mint(out: Path, scripts: list[dict[str, Any]]) -> None:
    m = out / "mint"
    reasoning: dict[str, list[tuple[str, Any, str, str]]] = {
        "gsm8k": [
            (
                "A fixture farmer has 3 pens with 4 goats each. How many goats? Solution output format: an integer.",
                "12",
                "print(3 * 4)",
                "12",
            )
        ],
        "math": [("What is the fixture value of $2^{10}$?", "1024", "print(2 ** 10)", "1024")],
        "theoremqa": [
            ("Fixture: what is the sum of the roots of x^2 - 5x + 6 = 0?", 5.0, "print(2 + 3)", "5")
        ],
        "hotpotqa": [
            (
                "Fixture: on which island do lemurs live?",
                "madagascar",
                "print(wikipedia_search('Lemur'))",
                "Madagascar",
            )
        ],
        "mmlu": [
            (
                "Fixture: which gas do plants absorb?\nOptions: A ) oxygen , B ) carbon dioxide , C ) helium , D ) neon",
                "b",
                "print('photosynthesis')",
                "B",
            )
        ],
    }
    for key, rows in reasoning.items():
        data = []
        for i, (prompt, ref, code, answer) in enumerate(rows):
            row: dict[str, Any] = {"id": i, "prompt": prompt, "reference": ref}
            if key == "theoremqa":
                row["answer_type"] = "float"
            data.append(row)
            scripts.append(
                {
                    "match": prompt[:60],
                    "completions": [
                        f"Let me compute.\n<execute>\n{code}\n</execute>",
                        f"<solution> {answer} </solution>",
                    ],
                }
            )
        _jsonl(m / key / "test_prompts.json", data)
    he = [
        {
            "id": i,
            "prompt": r["prompt"],
            "reference": r["test"],
            "task_id": r["task_id"],
            "canonical_solution": r["canonical_solution"],
            "test": r["test"],
            "entry_point": r["entry_point"],
        }
        for i, r in enumerate(_HE)
    ]
    _jsonl(m / "humaneval" / "test_prompts.json", he)
    for r in _HE:
        scripts.append({"match": r["prompt"][:40] + "\0mint", "completions": ["unused"]})
    mbpp = [
        {
            "id": i,
            "prompt": f'"""\n{r["text"]}\n{r["test_list"][0]}\n"""\n',
            "reference": "\n".join(r["test_list"]),
            "task_id": r["task_id"],
            "text": r["text"],
            "code": r["code"],
            "test_list": r["test_list"],
        }
        for i, r in enumerate(_MBPP[3:])
    ]
    _jsonl(m / "mbpp" / "test_prompts.json", mbpp)
    _jsonl(
        out / "wiki" / "pages.jsonl",
        [
            {"title": "Lemur", "text": "Lemurs are primates endemic to the island of Madagascar."},
            {"title": "Photosynthesis", "text": "Plants absorb carbon dioxide and release oxygen."},
        ],
    )


def _agents(out: Path, scripts: list[dict[str, Any]]) -> None:
    from lemur_agents.envs.household.tasks import generate_tasks, oracle_plan, save_tasks
    from lemur_agents.envs.sql.tasks import fixture_tasks as sql_tasks
    from lemur_agents.envs.sql.tasks import write_fixture_databases

    sql_dir = out / "intercode" / "sql"
    write_fixture_databases(sql_dir / "databases")
    tasks = sql_tasks()
    _json(
        sql_dir / "ic_spider_dev.json",
        [
            {"db": t.db, "gold": t.gold, "query": t.instruction, "hardness": t.hardness}
            for t in tasks
        ],
    )
    for i, t in enumerate(tasks):
        first = (
            f"```sql\n{t.gold}\n```" if i % 3 != 2 else "```sql\nSELECT 1\n```"
        )  # every third wrong
        scripts.append({"match": t.instruction, "completions": [first, "submit"]})
    _intercode_bash(out, scripts)
    _intercode_ctf(out, scripts)
    household = generate_tasks(per_type=1, seed=0)
    save_tasks(household, out / "alfworld" / "tasks.json")
    for h in household:
        scripts.append(
            {"match": f"Your task is to: {h.instruction}", "completions": oracle_plan(h)}
        )
    _robocodegen(out, scripts)


def _intercode_bash(out: Path, scripts: list[dict[str, Any]]) -> None:
    """Two nl2bash_fs_1 tasks: the first answered with the gold command, the second with one
    that forgets ``-maxdepth`` (a different count, so InterCode's reward stays below 1)."""
    rows = [
        {
            "query": "Count the files in /testbed (bash fixture 1)",
            "gold": "find /testbed -type f | wc -l",
        },
        {
            "query": "Count the .java files directly in /testbed (bash fixture 2)",
            "gold": "find /testbed -maxdepth 1 -name '*.java' | wc -l",
        },
    ]
    _json(out / "intercode" / "bash" / "nl2bash_fs_1.json", rows)
    answers = ["find /testbed -type f | wc -l", "find /testbed -name '*.java' | wc -l"]
    for row, command in zip(rows, answers, strict=True):
        scripts.append(
            {"match": row["query"], "completions": [f"```bash\n{command}\n```", "submit"]}
        )


def _intercode_ctf(out: Path, scripts: list[dict[str, Any]]) -> None:
    """Two self-contained challenges (the runner gives the env no task files): a base64 flag
    the agent decodes and submits, and a ROT13 flag it mistakes for base64 and submits as is."""
    rows = [
        {
            "task_id": 0,
            "query": "The fixture flag was base64-encoded: cGljb0NURntmaXh0dXJlfQ== (ctf fixture 1)",
            "gold": "picoCTF{fixture}",
            "source": "fixture",
            "tags": ["General Skills"],
        },
        {
            "task_id": 1,
            "query": "The fixture flag was ROT13-encoded: cvpbPGS{svkgher_gjb} (ctf fixture 2)",
            "gold": "picoCTF{fixture_two}",
            "source": "fixture",
            "tags": ["Cryptography"],
        },
    ]
    _json(out / "intercode" / "ctf" / "ic_ctf.json", rows)
    scripts += [
        {
            "match": rows[0]["query"],
            "completions": [
                "```bash\necho cGljb0NURntmaXh0dXJlfQ== | base64 -d\n```",
                "submit picoCTF{fixture}",
            ],
        },
        {
            "match": rows[1]["query"],
            "completions": [
                "```bash\necho 'cvpbPGS{svkgher_gjb}' | base64 -d\n```",
                "submit cvpbPGS{svkgher_gjb}",
            ],
        },  # wrong: never decodes the ROT13
    ]


_REFERENCE = "the task's reference solution"
# The scripted agent's attempts per RoboCodeGen problem, one per turn (the last repeats):
# right at once, right after one wrong attempt, and never right.
_ROBOTICS_ATTEMPTS: dict[str, tuple[str, ...]] = {
    "get_midpoint": (_REFERENCE,),
    "get_objs_left_of": (
        # the right objects, in alphabetical instead of left-to-right order
        "def get_objs_left_of(name):\n"
        "    x = get_obj_pos(name)[0]\n"
        "    return sorted(n for n in get_obj_names() if get_obj_pos(n)[0] < x)",
        _REFERENCE,
    ),
    "interpolate_pts": (
        # leaves the end point out, as np.arange would
        "def interpolate_pts(p1, p2, n):\n"
        "    return np.array([p1 + (p2 - p1) * i / n for i in range(n)])",
    ),
}


def _robocodegen(out: Path, scripts: list[dict[str, Any]]) -> None:
    """Three of lemur-agents' RoboticsAPI problems in its task-file format (JSON lines of
    ``RoboticsTask``), attempted as :data:`_ROBOTICS_ATTEMPTS` plans, so success-by-turn has
    a shape."""
    from lemur_agents.envs.robotics import fixture_tasks as robotics_tasks
    from lemur_agents.envs.robotics import write_tasks as write_robotics_tasks

    by_name = {t.entry_point: t for t in robotics_tasks()}
    tasks = [by_name[name] for name in _ROBOTICS_ATTEMPTS]
    write_robotics_tasks(tasks, out / "robocodegen" / "tasks.json")
    for task in tasks:
        attempts = [
            task.reference if code == _REFERENCE else code
            for code in _ROBOTICS_ATTEMPTS[task.entry_point]
        ]
        scripts.append(
            {"match": task.signature, "completions": [f"```python\n{c}\n```" for c in attempts]}
        )


def write_fixtures(out_dir: Path) -> Path:
    """Write the fixture tasks directory and its scripted agent; return ``out_dir``.

    Use it as ``run_suite(suite, f"scripted:{out_dir / SCRIPT_NAME}", run_dir, tasks_dir=out_dir)``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scripts: list[dict[str, Any]] = []
    _text(out, scripts)
    _code(out, scripts)
    _mint(out, scripts)
    _agents(out, scripts)
    write_web_fixtures(out, scripts)
    # PythonDebug (MINT HumanEval/MBPP) shows the prompt; answer with the solution tag.
    scripts = [s for s in scripts if not s["match"].endswith("\0mint")]
    for r in _HE:
        sol = r["prompt"] + r["canonical_solution"]
        scripts.insert(
            0,
            {
                "match": f"Complete the following code:\n\n{r['prompt'][:40]}",
                "completions": [f"<solution>\n{sol}\n</solution>"],
            },
        )
    for r in _MBPP[3:]:
        scripts.insert(
            0,
            {
                "match": r["text"] + "\n" + r["test_list"][0],
                "completions": [
                    "<execute>\nprint('checking')\n</execute>",
                    f"<solution>\n{r['code']}\n</solution>",
                ],
            },
        )
    # Anything else (a simulated user asked for feedback, an unknown task) gets a neutral reply.
    scripts.append({"match": None, "completions": ["Please check your last step carefully."]})
    script: dict[str, Any] = {
        "name": "scripted-fixture-agent",
        "scripts": scripts,
        "when_exhausted": "repeat_last",
    }
    atomic_write_text(out / SCRIPT_NAME, json.dumps(script, indent=1) + "\n")
    return out
