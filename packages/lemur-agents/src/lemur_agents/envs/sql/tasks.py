"""SQL tasks: InterCode-SQL's published format, and small fixture databases the project writes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from pydantic import Field

from lemur_agents.envs.base import EnvTask


class SqlTask(EnvTask):
    """One question over one database, with the gold query that answers it."""

    db: str = Field(min_length=1, description="database name (a key of the env's catalog)")
    gold: str = Field(min_length=1, description="the reference SQL query")
    hardness: str | None = None


def load_tasks(path: str | Path) -> list[SqlTask]:
    """Read InterCode-SQL's task file (``ic_spider_dev.json``: a JSON list of
    ``{db, gold, query, hardness, db_tables}``); task ids are the list indices, as upstream."""
    records = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list of {{db, gold, query}} records")
    tasks = []
    for index, record in enumerate(records):
        missing = {"db", "gold", "query"} - set(record)
        if missing:
            raise ValueError(f"{path}: record {index} lacks {sorted(missing)}")
        tasks.append(
            SqlTask(
                task_id=str(index),
                instruction=record["query"],
                db=record["db"],
                gold=record["gold"],
                hardness=record.get("hardness"),
            )
        )
    return tasks


_FIXTURE_SCHEMA = """
CREATE TABLE singer (
  Singer_ID int PRIMARY KEY, Name text COLLATE NOCASE, Country text COLLATE NOCASE,
  Age int, Is_male text COLLATE NOCASE
);
CREATE TABLE concert (
  concert_ID int PRIMARY KEY, concert_Name text COLLATE NOCASE, Year text COLLATE NOCASE,
  Stadium_ID int
);
CREATE TABLE singer_in_concert (
  concert_ID int, Singer_ID int,
  PRIMARY KEY (concert_ID, Singer_ID),
  FOREIGN KEY (Singer_ID) REFERENCES singer (Singer_ID),
  FOREIGN KEY (concert_ID) REFERENCES concert (concert_ID)
);
"""
_FIXTURE_ROWS: dict[str, list[tuple[object, ...]]] = {
    "singer": [
        (1, "Joe Sharp", "Netherlands", 52, "F"),
        (2, "Timbaland", "United States", 32, "T"),
        (3, "Justin Brown", "France", 29, "T"),
        (4, "Rose White", "France", 41, "F"),
        (5, "John Nizinik", "France", 43, "T"),
        (6, "Tribal King", "France", 25, "T"),
    ],
    "concert": [
        (1, "Auditions", "2014", 1),
        (2, "Super bootcamp", "2014", 2),
        (3, "Home Visits", "2015", 2),
        (4, "Week 1", "2014", 10),
    ],
    "singer_in_concert": [(1, 2), (1, 3), (1, 5), (2, 3), (2, 6), (3, 5), (4, 4)],
}


def write_fixture_databases(out_dir: str | Path) -> dict[str, Path]:
    """Write the fixture database ``concert_singer`` (a small slice of Spider's) as SQLite
    under ``out_dir`` and return the catalog ``{name: path}``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "concert_singer.sqlite"
    tmp = out / ".concert_singer.sqlite.tmp"
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as conn:
        conn.executescript(_FIXTURE_SCHEMA)
        for table, rows in _FIXTURE_ROWS.items():
            marks = ",".join("?" * len(rows[0]))
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    conn.close()
    tmp.replace(path)
    return {"concert_singer": path}


def fixture_tasks() -> list[SqlTask]:
    """Fixture questions over :func:`write_fixture_databases`, with Spider-style gold SQL."""
    rows = [
        ("How many singers do we have?", "SELECT count(*) FROM singer", "easy"),
        (
            "Show name, country, age for all singers ordered by age from the oldest to the youngest.",
            "SELECT Name, Country, Age FROM singer ORDER BY Age DESC",
            "medium",
        ),
        (
            "What are the names of the singers from france?",
            "SELECT Name FROM singer WHERE Country = 'france'",
            "easy",
        ),
        (
            "Show the concert names and the number of singers in each concert.",
            "SELECT T2.concert_Name, count(*) FROM singer_in_concert AS T1 JOIN concert AS T2 "
            "ON T1.concert_ID = T2.concert_ID GROUP BY T1.concert_ID",
            "medium",
        ),
    ]
    return [
        SqlTask(task_id=str(i), instruction=q, db="concert_singer", gold=g, hardness=h)
        for i, (q, g, h) in enumerate(rows)
    ]
