"""``estimate_eval``: how many episodes and model requests a suite costs, without running it.

Task counts come from the local files when a tasks directory is given (a directory source such
as ALFWorld's games counts its games), otherwise from the published test-set sizes below
(MINT's sizes are those of its released subsets; ALFWorld's is MINT's 134 games).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lemur_bench.loaders import LoaderError, data_dir, data_path, load_tasks
from lemur_bench.registry import suite_tasks

PUBLISHED_SIZES: dict[str, int] = {
    "mmlu": 14042,
    "bbh": 6511,
    "gsm8k": 1319,
    "humaneval": 164,
    "mbpp": 500,
    "spider": 1034,
    "multipl-e": 161,
    "ds-1000": 1000,
    "mint-gsm8k": 48,
    "mint-math": 100,
    "mint-theoremqa": 49,
    "mint-hotpotqa": 43,
    "mint-mmlu": 76,
    "mint-humaneval": 45,
    "mint-mbpp": 91,
    "intercode-bash": 224,
    "intercode-sql": 1034,
    "robocodegen": 37,
    "intercode-ctf": 100,
    "webarena": 812,
    "alfworld": 134,
}


def estimate_eval(
    suite: str, *, tasks_dir: Path | None = None, limit_per_task: int | None = None
) -> dict[str, Any]:
    """Episodes and the most model requests (every episode using its whole turn budget; a
    feedback turn adds one simulated-user request) per task and in total."""
    per_task: dict[str, dict[str, int]] = {}
    for spec in suite_tasks(suite):
        n: int | None = None
        if data_path(spec, tasks_dir) is not None or data_dir(spec, tasks_dir) is not None:
            try:
                n = len(load_tasks(spec, tasks_dir)[0])
            except LoaderError:
                n = None
        if n is None:
            n = PUBLISHED_SIZES.get(spec.name.removesuffix("-nl"), 0)
        if limit_per_task is not None:
            n = min(n, limit_per_task)
        per_request = spec.max_turns * (2 if spec.feedback == "nl" else 1)
        per_task[spec.name] = {"episodes": n, "max_model_requests": n * per_request}
    return {
        "suite": suite,
        "episodes": sum(v["episodes"] for v in per_task.values()),
        "max_model_requests": sum(v["max_model_requests"] for v in per_task.values()),
        "tasks": per_task,
    }
