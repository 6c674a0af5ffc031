"""The corpus stages on a cluster: datatrove's Ray and Slurm executors, watched.

datatrove itself only logs a Ray stage whose tasks did not all finish ("Only X/Y tasks
completed") and leaves a failed Slurm job's dependents pending forever
(``DependencyNeverSatisfied``). Here every stage must end with all its tasks marked complete in
its logging directory; anything else ends the build with :class:`ClusterError` naming the stage,
the failed ranks or Slurm job and their log files. Tasks that did finish stay marked, so the
same command run again redoes only the rest.

:func:`stage_executor` is the one place that picks a stage's datatrove executor by
``executor.kind``; :func:`run_stages` runs the whole list on it.

* local (``executor.kind: local``): stage after stage in this process (``workers`` processes
  for a stage's tasks).
* Ray (``executor.kind: ray``): connects to a running cluster (``address``, else
  ``$RAY_ADDRESS``) or starts a local one with ``workers`` CPUs, and stops only what it started.
* Slurm (``executor.kind: slurm``): checks ``sbatch`` and the partition (``sinfo``) and the
  virtual environment before submitting the whole chain (one job array per stage, each after the
  previous), then watches the jobs (``squeue``, ``sacct`` for jobs that left the queue) every
  :data:`SLURM_POLL_SECONDS` until the manifest appears or a job fails, is cancelled or times out,
  and then cancels what is left of the chain.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datatrove.executor.local import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.stats import PipelineStats
from lemur_core.cli_errors import EnvError
from lemur_core.manifest import MANIFEST_NAME
from lemur_core.stage_errors import StageError

from lemur_data.corpus.config import CorpusConfig, CorpusConfigError, RayConfig, SlurmConfig

_log = logging.getLogger(__name__)

Stages = list[tuple[str, list[PipelineStep], int]]
StageHook = Callable[[int, int, str], None]

SLURM_POLL_SECONDS = 10.0
"""How often the Slurm driver looks at its jobs (a failed job ends the build within this)."""

# Slurm states after which a job will never write its completions.
_FAILED_STATES = frozenset(
    {
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "BOOT_FAIL",
        "DEADLINE",
        "REVOKED",
        "SPECIAL_EXIT",
    }
)
_DONE_STATES = _FAILED_STATES | {"COMPLETED"}


class ClusterError(StageError, EnvError):
    """A cluster stage did not finish: the message names the stage, tasks or job, and logs.

    An environment failure for the CLIs (exit 5): the cluster, not the recipe, went wrong."""


def _task_logs(logging_dir: Path, ranks: list[int], limit: int = 4) -> str:
    paths = [str(logging_dir / "logs" / f"task_{r:05d}.log") for r in ranks[:limit]]
    more = f" (+{len(ranks) - limit} more)" if len(ranks) > limit else ""
    return ", ".join(paths) + more


def _incomplete(executor: Any, tasks: int) -> list[int]:
    return list(executor.get_incomplete_ranks(range(tasks), skip_completed=True))


# --- choosing and running executors -----------------------------------------------------------


def _cache_loguru_lib_dirs() -> None:
    """Compute loguru's library-directory list once per process instead of once per handler.

    datatrove adds loguru handlers for every task, and each builds an exception formatter that
    asks ``sysconfig.get_path`` for every install scheme: ~4% of a corpus build's CPU. The list
    depends only on ``sys.path``, which a task does not change. A private loguru name: when it
    is gone or renamed, nothing is patched and only the speed-up is lost.
    """
    try:
        from loguru._better_exceptions import ExceptionFormatter
    except ImportError:  # pragma: no cover - another loguru layout
        return
    getter = ExceptionFormatter.__dict__.get("_get_lib_dirs")
    if isinstance(getter, staticmethod) and not hasattr(getter.__func__, "cache_info"):
        ExceptionFormatter._get_lib_dirs = staticmethod(functools.cache(getter.__func__))  # type: ignore[method-assign]


class QuietLocalExecutor(LocalPipelineExecutor):
    """datatrove's LocalPipelineExecutor with task logs at ERROR on the console.

    datatrove prints every task's INFO log for local rank 0 only (``local_rank`` is used for
    nothing but that choice); shifting it by one keeps the console for our Rich progress while
    the per-task log files under ``logs/<stage>/logs`` keep the full DEBUG detail.
    """

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1) -> PipelineStats:
        _cache_loguru_lib_dirs()
        return super()._run_for_rank(rank, local_rank + 1, node_rank)

    def run(self) -> PipelineStats | None:  # type: ignore[override]
        """Run the stage with datatrove's console logging off in this process.

        Between tasks datatrove re-adds a DEBUG console logger; loguru's per-library switch
        keeps those lines off the Rich progress display and is restored afterwards.
        """
        from loguru import logger

        logger.disable("datatrove")
        try:
            return super().run()  # type: ignore[no-any-return]
        finally:
            logger.enable("datatrove")


def stage_executor(
    kind: str,
    pipeline: list[PipelineStep],
    *,
    tasks: int,
    logging_dir: Path,
    workers: int = 1,
    ray: RayConfig | None = None,
    slurm: SlurmConfig | None = None,
    venv_activate: str | None = None,
    job_name: str = "lemur-corpus",
    depends: Any = None,
) -> Any:
    """The datatrove executor that runs one stage's ``pipeline`` in ``tasks`` tasks on ``kind``.

    ``workers`` local processes (local) or concurrent tasks (Ray; all the cluster holds when 1);
    ``ray`` / ``slurm`` are the executor's settings; ``depends`` the executor of the stage before
    (Slurm chains the job arrays with it).
    """
    if kind == "local":
        return QuietLocalExecutor(
            pipeline,
            tasks=tasks,
            workers=max(1, min(workers, tasks)),
            logging_dir=str(logging_dir),
            depends=depends,
        )
    if kind == "ray":
        from datatrove.executor.ray import RayPipelineExecutor

        return RayPipelineExecutor(
            pipeline,
            tasks=tasks,
            workers=min(workers, tasks) if workers > 1 else -1,
            logging_dir=str(logging_dir),
            cpus_per_task=ray.cpus_per_task if ray else 1,
            mem_per_cpu_gb=ray.mem_per_cpu_gb if ray else 2,
            depends=depends,
        )
    if kind == "slurm":
        from datatrove.executor.slurm import SlurmPipelineExecutor

        if slurm is None:
            raise CorpusConfigError("executor.slurm: needed when executor.kind is 'slurm'")
        return SlurmPipelineExecutor(
            pipeline,
            tasks=tasks,
            time=slurm.time,
            partition=slurm.partition,
            cpus_per_task=slurm.cpus_per_task,
            mem_per_cpu_gb=slurm.mem_per_cpu_gb,
            qos=slurm.qos,
            venv_path=venv_activate if venv_activate is not None else slurm.venv_path,
            sbatch_args=dict(slurm.sbatch_args) or None,
            job_name=job_name,
            logging_dir=str(logging_dir),
            depends=depends,
        )
    raise CorpusConfigError(f"executor.kind: unknown executor {kind!r}; use local, ray or slurm")


def run_stages(
    config: CorpusConfig,
    stages: Stages,
    work: Path,
    out_dir: Path,
    *,
    workers: int = 1,
    address: str | None = None,
    on_stage: StageHook | None = None,
) -> None:
    """Run every stage on ``config.executor.kind`` (see the module docstring).

    Slurm gets the whole chain at once (datatrove's ``depends=``, one job array per stage).
    Locally and on Ray each stage runs only after the previous one completed all its tasks, and
    is checked: datatrove's ``depends=`` there waits forever (it polls every 2 minutes) on a
    dependency with a failed task instead of ending the build.
    """
    kind = config.executor.kind
    if kind == "slurm":
        run_slurm(config, stages, work, out_dir)
    elif kind == "ray":
        run_ray(
            stages,
            work,
            workers=workers,
            settings=config.executor.ray,
            address=address,
            on_stage=on_stage,
        )
    else:
        run_in_order(kind, stages, work, workers=workers, on_stage=on_stage)


def run_in_order(
    kind: str,
    stages: Stages,
    work: Path,
    *,
    workers: int,
    settings: RayConfig | None = None,
    on_stage: StageHook | None = None,
) -> None:
    """Run the stages one after the other on ``kind``; :class:`ClusterError` on the first one
    whose tasks did not all complete (its failed ranks and their logs)."""
    label = "Ray tasks" if kind == "ray" else "tasks"
    for i, (name, pipeline, tasks) in enumerate(stages):
        if on_stage is not None:
            on_stage(i, len(stages), name)
        logging_dir = work / "logs" / name
        started = time.perf_counter()
        executor = stage_executor(
            kind, pipeline, tasks=tasks, logging_dir=logging_dir, workers=workers, ray=settings
        )
        executor.run()
        missing = _incomplete(executor, tasks)
        if missing:
            raise ClusterError(
                f"stage {name}: only {tasks - len(missing)}/{tasks} {label} completed; "
                f"failed rank(s) {', '.join(map(str, missing))}, logs: "
                f"{_task_logs(logging_dir, missing)}; fix the cause and run the same command "
                "again (completed tasks are kept)"
            )
        _log.info("stage %s done (%s) in %.1f s", name, kind, time.perf_counter() - started)


# --- Ray --------------------------------------------------------------------------------------


def run_ray(
    stages: Stages,
    work: Path,
    *,
    workers: int,
    settings: RayConfig | None,
    address: str | None = None,
    on_stage: StageHook | None = None,
) -> None:
    """Run every stage with datatrove's RayPipelineExecutor, each one only after the previous
    one completed all its tasks; :class:`ClusterError` on the first that did not."""
    _no_uv_run_workers()
    try:
        import ray
    except ImportError:
        raise ClusterError(
            "executor.kind 'ray' needs Ray: install lemur-data[ray] "
            "(pip install 'lemur-data[ray]', or uv sync --extra ray in a checkout)"
        ) from None
    cpus = settings.cpus_per_task if settings else 1
    mem_gb = settings.mem_per_cpu_gb if settings else 2
    started_here = False
    if not ray.is_initialized():
        target = address or os.environ.get("RAY_ADDRESS")
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if target:
            ray.init(address=target, **options)
        else:
            # A new local cluster as large as the local worker count (all CPUs when
            # workers=1); "local" keeps ray.init from joining a cluster `ray start` left here.
            ray.init(address="local", num_cpus=workers if workers > 1 else None, **options)
        started_here = True
    try:
        _check_ray_room(ray.cluster_resources(), cpus, mem_gb)
        run_in_order("ray", stages, work, workers=workers, settings=settings, on_stage=on_stage)
    finally:
        if started_here:
            ray.shutdown()


def _no_uv_run_workers() -> None:
    """Under ``uv run``, Ray (2.43+) makes every worker ``uv run`` an uploaded copy of the
    working directory: a fresh environment per worker, which on a small machine never registers
    in time (workers "crashed during start", tasks wait forever). The workers run the nodes'
    installed lemur-data instead, as under plain ``python``; set
    ``RAY_ENABLE_UV_RUN_RUNTIME_ENV=1`` to have Ray's behaviour back."""
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    if os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] != "0":
        return
    # Ray reads the variable once, at import: when it was imported already, set what it read.
    import sys

    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None and hasattr(constants, "RAY_ENABLE_UV_RUN_RUNTIME_ENV"):
        setattr(constants, "RAY_ENABLE_UV_RUN_RUNTIME_ENV", False)  # noqa: B010 - untyped module


def _check_ray_room(resources: dict[str, float], cpus: int, mem_gb: float) -> None:
    """A task that no node can hold would wait for resources forever: say so instead."""
    have_cpus = resources.get("CPU", 0.0)
    need_mem = mem_gb * cpus * 1024**3
    have_mem = resources.get("memory", 0.0)
    if have_cpus < cpus:
        raise ClusterError(
            f"executor.ray.cpus_per_task is {cpus} but the Ray cluster has {have_cpus:g} CPUs; "
            "lower it or add nodes"
        )
    if have_mem and have_mem < need_mem:
        raise ClusterError(
            f"each Ray task asks for {need_mem / 1024**3:g} GiB (executor.ray.mem_per_cpu_gb x "
            f"cpus_per_task) but the cluster has {have_mem / 1024**3:.1f} GiB; lower "
            "executor.ray.mem_per_cpu_gb"
        )


# --- Slurm ------------------------------------------------------------------------------------


def _slurm_venv(venv_path: str | None) -> str | None:
    """The script to ``source`` for ``executor.slurm.venv_path`` (datatrove sources the path as
    given, so a venv directory becomes its ``bin/activate``); a missing one is an error."""
    if venv_path is None:
        return None
    path = Path(venv_path).expanduser()
    if path.is_dir() and (path / "bin" / "activate").is_file():
        return str((path / "bin" / "activate").absolute())
    if path.is_file():
        return str(path.absolute())
    raise CorpusConfigError(
        f"executor.slurm.venv_path: {venv_path} is neither a virtual environment (no "
        "bin/activate) nor an activate script; point it at the venv the jobs should run in "
        "(it must be visible from the compute nodes), or leave it out to use this PATH"
    )


def check_slurm(config: CorpusConfig) -> str | None:
    """Check what can be checked before submitting (Slurm's commands, the partition, the
    venv); returns the venv's activate script. :class:`CorpusConfigError` naming the fix."""
    slurm = config.executor.slurm
    if slurm is None:
        raise CorpusConfigError("executor.slurm: needed when executor.kind is 'slurm'")
    for tool in ("sbatch", "squeue", "sinfo", "scancel"):
        if shutil.which(tool) is None:
            raise CorpusConfigError(
                f"executor.kind 'slurm': {tool} is not on PATH; run the build on a Slurm "
                "submit host (or use executor.kind local or ray)"
            )
    found = subprocess.run(
        ["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, timeout=60, check=False
    )
    if found.returncode != 0:
        problem = " ".join(found.stderr.split()) or f"exit code {found.returncode}"
        raise CorpusConfigError(
            f"executor.kind 'slurm': sinfo failed ({problem}); is slurmctld up?"
        )
    partitions = sorted({p.strip() for p in found.stdout.split() if p.strip()})
    if slurm.partition not in partitions:
        raise CorpusConfigError(
            f"executor.slurm.partition: no partition {slurm.partition!r} on this cluster; "
            f"it has {', '.join(partitions) or 'none'}"
        )
    return _slurm_venv(slurm.venv_path)


def slurm_chain(
    config: CorpusConfig, stages: Stages, work: Path, *, venv_activate: str | None = None
) -> list[Any]:
    """One datatrove SlurmPipelineExecutor per stage, each depending on the previous one.

    Running the last one submits the whole chain as Slurm job arrays.
    """
    slurm = config.executor.slurm
    if slurm is None:
        raise CorpusConfigError("executor.slurm: needed when executor.kind is 'slurm'")
    chain: list[Any] = []
    for name, pipeline, tasks in stages:
        chain.append(
            stage_executor(
                "slurm",
                pipeline,
                tasks=tasks,
                logging_dir=work / "logs" / name,
                slurm=slurm,
                venv_activate=venv_activate,
                job_name=f"lemur-corpus-{name}",
                depends=chain[-1] if chain else None,
            )
        )
    return chain


@dataclass(frozen=True)
class SlurmTask:
    """One array element of a job as Slurm reports it."""

    job: str  # "123_4" (or "123" for a job that is no array)
    state: str  # COMPLETED, FAILED, PENDING, ...
    reason: str = ""


def _run(cmd: list[str]) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def slurm_tasks(job_id: str) -> list[SlurmTask]:
    """What Slurm knows of ``job_id``'s array elements: the queue first (``squeue -t all`` also
    shows finished jobs for MinJobAge), then accounting (``sacct``) once it left the queue."""
    queued = _run(["squeue", "-h", "-r", "-t", "all", "-j", job_id, "-o", "%i|%T|%r"])
    lines = [line.split("|") for line in (queued or "").splitlines() if line.strip()]
    if lines:
        return [SlurmTask(p[0], p[1], p[2] if len(p) > 2 else "") for p in lines]
    accounted = _run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "JobID,State"])
    tasks = []
    for line in (accounted or "").splitlines():
        parts = line.split("|")
        if len(parts) >= 2 and parts[0].strip():
            # "CANCELLED by 0" -> CANCELLED
            tasks.append(SlurmTask(parts[0], parts[1].split()[0] if parts[1].split() else ""))
    return tasks


@dataclass(frozen=True)
class _Job:
    stage: str
    job_id: str
    executor: Any
    tasks: int
    logging_dir: Path

    def log(self, element: str) -> str:
        """The Slurm log file of array element ``element`` ("123_4")."""
        job, _, index = element.partition("_")
        folder = Path(self.executor.slurm_logs_folder)
        return str(folder / f"{job}_{index or '0'}.out")


def _cancel(jobs: list[_Job]) -> None:
    """Cancel the chain's jobs and the jobs that wait on them (datatrove's per-stage stats
    merge, whose ids it does not keep), so nothing is left in DependencyNeverSatisfied."""
    ours = {j.job_id for j in jobs}
    for _ in range(3):  # dependents of dependents
        listing = _run(["squeue", "-h", "-o", "%A|%E"]) or ""
        more = {
            job
            for job, _, deps in (line.partition("|") for line in listing.splitlines())
            if job.strip() and set(re.findall(r":(\d+)", deps)) & ours
        }
        if more <= ours:
            break
        ours |= more
    if ours:
        _run(["scancel", *sorted(ours)])


def run_slurm(
    config: CorpusConfig,
    stages: Stages,
    work: Path,
    out_dir: Path,
    *,
    poll_seconds: float | None = None,
) -> None:
    """Submit the chain, then watch it until ``out_dir`` has its manifest; a job that failed,
    was cancelled or timed out (or waits on one that did) ends it with :class:`ClusterError`
    naming the job id, the stage and the log, after cancelling the rest of the chain."""
    venv = check_slurm(config)
    chain = slurm_chain(config, stages, work, venv_activate=venv)
    chain[-1].run()  # submits the whole dependency chain
    jobs = [
        _Job(name, str(ex.job_id), ex, tasks, work / "logs" / name)
        for (name, _, tasks), ex in zip(stages, chain, strict=True)
        if ex.job_id not in (None, -1, "-1")  # -1: every task was complete already
    ]
    _log.info("submitted %s", ", ".join(f"{j.stage}={j.job_id}" for j in jobs))
    wait = SLURM_POLL_SECONDS if poll_seconds is None else poll_seconds
    while not (out_dir / MANIFEST_NAME).exists():
        problem = _slurm_problem(jobs)
        if problem is not None:
            _cancel(jobs)
            raise ClusterError(problem)
        time.sleep(wait)


def _slurm_problem(jobs: list[_Job]) -> str | None:
    """The first stage's failure, in chain order, or ``None`` while all is well."""
    after = "; the rest of the chain was cancelled; fix the cause and run the same command "
    after += "again (completed tasks are kept)"
    waiting: str | None = None
    for job in jobs:
        known = slurm_tasks(job.job_id)
        for task in known:
            if task.state in _FAILED_STATES:
                return (
                    f"slurm job {task.job} (stage {job.stage}) ended {task.state}; "
                    f"log: {job.log(task.job)}{after}"
                )
            if waiting is None and task.reason == "DependencyNeverSatisfied":
                waiting = (
                    f"slurm job {task.job} (stage {job.stage}) can never start "
                    f"(DependencyNeverSatisfied: a job it waits on failed); log of the stage: "
                    f"{job.executor.slurm_logs_folder}{after}"
                )
        gone = not known or all(t.state in _DONE_STATES for t in known)
        if gone:
            # Ended (or forgotten by Slurm): then all its tasks must be marked complete.
            missing = _incomplete(job.executor, job.tasks)
            if missing and _still_missing(job, missing):
                return (
                    f"slurm job {job.job_id} (stage {job.stage}) left the queue with "
                    f"{len(missing)}/{job.tasks} tasks incomplete (ranks "
                    f"{', '.join(map(str, missing))}); logs: {job.executor.slurm_logs_folder} "
                    f"and {_task_logs(job.logging_dir, missing)}{after}"
                )
    return waiting


def _still_missing(job: _Job, missing: list[int]) -> bool:
    """Completions are written before a task's job ends, but on a shared filesystem they may
    show a moment late: look once more before calling the stage failed."""
    time.sleep(2.0)
    return bool(_incomplete(job.executor, job.tasks))
