"""Loaders for the agent benchmarks' published formats: MINT, InterCode, WebArena, and the
RoboCodeGen/ALFWorld task lists of lemur-agents' environments.

* MINT (``<task>/test_prompts.json``, JSON Lines): ``{id, prompt, reference}``; HumanEval rows
  add ``task_id, canonical_solution, test, entry_point``; MBPP rows add ``task_id, text, code,
  test_list``; TheoremQA rows add ``answer_type`` (the reference may be a list or a number).
* InterCode-SQL (``ic_spider_dev.json``): ``{db, gold, query, hardness, db_tables}``.
* InterCode-Bash (``nl2bash_fs_*.json``, ``test_queries.json``): ``{query, gold}``.
* InterCode-CTF (``ic_ctf.json``): ``{task_id, query, gold, source, tags}``.
* WebArena (``test.raw.json``): ``{task_id, intent, start_url, sites, eval, ...}``.
* RoboCodeGen (``robocodegen/tasks.json``): no published data file exists (the Code-as-Policies
  problems live in a notebook as Python objects), so this is lemur-agents' RoboticsAPI task
  file: JSON Lines of ``{task_id, instruction, entry_point, signature, reference, seed?,
  cases?, test_cases?}``, as ``lemur_agents.envs.robotics.write_tasks`` writes it.
"""

from __future__ import annotations

from typing import Any

from lemur_bench.loaders.base import BenchTask, enumerate_rows, require


def load_mint(rows: list[dict[str, Any]]) -> list[BenchTask]:
    """MINT ``test_prompts.json`` rows (any of its seven sub-tasks)."""
    out = []
    for i, row in enumerate_rows(rows, "MINT"):
        require(row, ("prompt", "reference"), f"MINT row {i}")
        meta: dict[str, Any] = {}
        for key in ("task_id", "entry_point", "test", "answer_type", "test_list", "text"):
            if key in row:
                meta[key] = row[key]
        if "test" in row or "test_list" in row:
            meta["kind"] = "code"
        out.append(
            BenchTask(
                task_id=str(row.get("id", i)),
                prompt=str(row["prompt"]),
                reference=row["reference"],
                metadata=meta,
            )
        )
    return out


def load_intercode_sql(rows: list[dict[str, Any]]) -> list[BenchTask]:
    """InterCode-SQL rows; ``task_id`` is the row index, as InterCode's ``task index``."""
    out = []
    for i, row in enumerate_rows(rows, "InterCode-SQL"):
        require(row, ("db", "gold", "query"), f"InterCode-SQL row {i}")
        out.append(
            BenchTask(
                task_id=str(i),
                prompt=str(row["query"]),
                reference=row["gold"],
                metadata={"db": row["db"], "hardness": row.get("hardness")},
            )
        )
    return out


def load_intercode_bash(rows: list[dict[str, Any]]) -> list[BenchTask]:
    """InterCode-Bash rows ``{query, gold}``."""
    out = []
    for i, row in enumerate_rows(rows, "InterCode-Bash"):
        require(row, ("query", "gold"), f"InterCode-Bash row {i}")
        out.append(BenchTask(task_id=str(i), prompt=str(row["query"]), reference=row["gold"]))
    return out


def load_intercode_ctf(rows: list[dict[str, Any]]) -> list[BenchTask]:
    """InterCode-CTF rows; the flag is the reference."""
    out = []
    for i, row in enumerate_rows(rows, "InterCode-CTF"):
        require(row, ("query", "gold"), f"InterCode-CTF row {i}")
        out.append(
            BenchTask(
                task_id=str(row.get("task_id", i)),
                prompt=str(row["query"]),
                reference=row["gold"],
                metadata={"tags": row.get("tags", []), "source": row.get("source")},
            )
        )
    return out


def load_webarena(rows: list[dict[str, Any]]) -> list[BenchTask]:
    """WebArena task configs; the ``eval`` block is the reference."""
    out = []
    for i, row in enumerate_rows(rows, "WebArena"):
        require(row, ("task_id", "intent", "eval"), f"WebArena row {i}")
        out.append(
            BenchTask(
                task_id=str(row["task_id"]),
                prompt=str(row["intent"]),
                reference=row["eval"],
                metadata={"sites": row.get("sites", []), "start_url": row.get("start_url")},
            )
        )
    return out


def load_robocodegen(rows: list[dict[str, Any]]) -> list[BenchTask]:
    """RoboticsAPI task-file rows; the reference is the reference solution's code (the env
    validates the rest of a row when it loads the same file)."""
    out = []
    for i, row in enumerate_rows(rows, "RoboCodeGen"):
        require(row, ("task_id", "instruction", "entry_point", "reference"), f"RoboCodeGen row {i}")
        out.append(
            BenchTask(
                task_id=str(row["task_id"]),
                prompt=str(row["instruction"]),
                reference=row["reference"],
                metadata={"entry_point": row["entry_point"], "signature": row.get("signature")},
            )
        )
    return out


def load_env_tasks(rows: list[dict[str, Any]]) -> list[BenchTask]:
    """Generic env task lists ``{task_id, instruction|query|goal, ...}`` (ALFWorld)."""
    out = []
    for i, row in enumerate_rows(rows, "env tasks"):
        text = row.get("instruction") or row.get("query") or row.get("goal") or ""
        out.append(
            BenchTask(
                task_id=str(row.get("task_id", row.get("id", i))),
                prompt=str(text),
                reference=row.get("reference"),
                metadata={k: v for k, v in row.items() if k not in ("task_id", "id")},
            )
        )
    return out
