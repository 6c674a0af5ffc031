"""The RoboticsAPI task file: one :class:`RoboticsTask` as a JSON object per line.

RoboCodeGen (Code as Policies, Liang et al. 2022) was published as a notebook whose problems
are Python objects (reference solutions are callables, test inputs unseeded ``np.random``
draws), not as a data file, so there is no upstream file format to read. This module makes
the env's own task model the format: :func:`write_tasks` writes it, :func:`load_tasks` reads it
and names the file, the line and the expected fields when a row is wrong.

Fields of a row: ``task_id``, ``instruction`` (what the agent sees), ``entry_point`` (the
function's name), ``signature`` (its ``def`` line), ``reference`` (a correct implementation
over the robotics API), optionally ``seed`` and ``cases`` (the seeded inputs of a built-in
entry point) or ``test_cases`` (explicit ``{"scene": {"objects": [...]}, "args": [...]}``
cases, needed for any other entry point).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from lemur_agents.envs.robotics.problems import RoboticsTask

TASK_FILE_FORMAT = (
    "one JSON object per line with task_id, instruction, entry_point, signature, reference "
    "(optional: seed, cases, test_cases), as lemur_agents.envs.robotics.write_tasks writes"
)


class RoboticsTaskFileError(ValueError):
    """A RoboticsAPI task file is missing, empty, or has a row that is not a task."""


def write_tasks(tasks: Sequence[RoboticsTask], path: str | Path) -> Path:
    """Write ``tasks`` as a task file (JSON lines) that :func:`load_tasks` reads back equal."""
    from lemur_core import atomic_write_text

    return atomic_write_text(
        path, "".join(t.model_dump_json(exclude_none=True) + "\n" for t in tasks)
    )


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where + ': ' if where else ''}{error['msg']}{more}"


def load_tasks(path: str | Path) -> list[RoboticsTask]:
    """Read a task file (see the module docstring); :class:`RoboticsTaskFileError` names the
    file, the line and the expected format when it cannot."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoboticsTaskFileError(f"cannot read RoboticsAPI task file {source}: {exc}") from exc
    tasks: list[RoboticsTask] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            task = RoboticsTask.model_validate_json(line)
        except ValidationError as exc:
            raise RoboticsTaskFileError(
                f"{source}:{lineno}: not a RoboticsAPI task ({_first_problem(exc)}); "
                f"expected {TASK_FILE_FORMAT}"
            ) from exc
        if task.task_id in seen:
            raise RoboticsTaskFileError(
                f"{source}:{lineno}: task_id {task.task_id!r} appears twice; ids must be unique"
            )
        seen.add(task.task_id)
        tasks.append(task)
    if not tasks:
        raise RoboticsTaskFileError(f"{source} holds no tasks; expected {TASK_FILE_FORMAT}")
    return tasks
