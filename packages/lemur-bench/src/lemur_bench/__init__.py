"""Lemur benchmark suite: task registry, loaders, official-agreeing scorers, metrics, resumable runner, paper-style reports.

The stage API::

    from lemur_bench import run_suite, write_report, write_fixtures, estimate_eval
    tasks = write_fixtures(Path("fixtures"))                      # offline tasks + scripted agent
    run_suite("all", "hf:/path/to/model", Path("runs/m"), tasks_dir=tasks, limit_per_task=2)
    write_report([Path("runs/m"), Path("runs/baseline")], Path("report"))
"""

__version__ = "0.1.0"

from lemur_bench.estimate import estimate_eval
from lemur_bench.fixtures import SCRIPT_NAME, write_fixtures
from lemur_bench.registry import TASKS, Suite, TaskSpec, get_task, suite_tasks
from lemur_bench.report import write_report, write_viewer
from lemur_bench.runner import RunConfig, RunIncompleteError, read_episodes, run_suite

#: A small cross-suite selection for demos on CPU (one task per kind: text, code, MINT tool use,
#: MINT self-debug, InterCode-SQL), e.g. ``run_suite(DEMO_TASKS, ..., limit_per_task=1)``.
DEMO_TASKS = "mmlu,gsm8k,humaneval,mbpp,mint-gsm8k,mint-humaneval,intercode-sql"

__all__ = [
    "DEMO_TASKS",
    "SCRIPT_NAME",
    "TASKS",
    "RunConfig",
    "RunIncompleteError",
    "Suite",
    "TaskSpec",
    "__version__",
    "estimate_eval",
    "get_task",
    "read_episodes",
    "run_suite",
    "suite_tasks",
    "write_fixtures",
    "write_report",
    "write_viewer",
]
