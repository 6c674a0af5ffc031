"""The runner: a suite, a model spec, an output directory -> an ``eval_run`` artifact.

``run_suite`` loads every task of the suite (skipping, counted and with the reason, those whose
data or environment is not available here), turns each into a lemur-agents
:class:`~lemur_agents.loop.EpisodeSpec`, and plays them all through lemur-agents' batched
episode loop (one model call per round across up to ``concurrency`` live episodes). Every
finished episode is appended to ``episodes.jsonl`` at once (one write, flushed and fsynced),
so a killed run loses at most the episodes in flight: running the same command again skips the
finished ones and plays only the rest. Model answers go through a request cache
(``cache.sqlite``), so episodes that were in flight replay the answers already paid for, and
greedy runs come out identical. At the end it writes ``summary.json`` (metrics per task and the
run's status) and, only when every planned episode finished, ``manifest.json``; a run dir whose
manifest matches the config is returned without running.

An episode that ended in ``model_error`` (the server failed after its retries) is unfinished:
a re-run plays it again, and until none is missing or errored ``run_suite`` raises
:class:`RunIncompleteError` (after writing the partial summary). A dead or wrong endpoint stops
the run after ``max_consecutive_model_errors`` model errors in a row, with one message, instead
of scoring the whole suite 0%. The model's identity (the served name, the weights, the script)
is part of the run's config; its transport (address, timeout, retries, concurrency) is not, so
an interrupted run resumes against a moved or retuned server.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import gymnasium
from lemur_agents.loop import EpisodeSpec, LoopConfig, arun_episodes, run_episodes
from lemur_agents.models.base import run_sync
from lemur_agents.models.spec import HFSpec, OpenAISpec, ScriptedSpec, model_identity
from lemur_core import (
    EVAL_RUN_SCHEMA_VERSION,
    ArtifactKind,
    ArtifactManifest,
    ChatModel,
    EpisodeRecord,
    GenerationParams,
    Producer,
    TerminationReason,
    atomic_write_text,
    canonical_sha256,
)
from lemur_core.config import StageConfig
from lemur_core.stage import StageError, StageStatus
from pydantic import ConfigDict, Field, field_validator, model_validator

from lemur_bench import __version__
from lemur_bench.cache import CachedChatModel
from lemur_bench.durable import AppendLog, SyncBehind
from lemur_bench.envs import AgentEnv, EnvContext, SingleTurn, env_tasks
from lemur_bench.formats import FormatContext
from lemur_bench.loaders import BenchTask, LoaderError, data_path, load_tasks
from lemur_bench.prompts import render_task, system_prompt
from lemur_bench.registry import TaskSpec, suite_tasks
from lemur_bench.run_dir import (
    EPISODES,
    RUN_CONFIG,
    SUMMARY,
    SuiteSummary,
    claim_run,
    publish,
    relabel,
)
from lemur_bench.scorers import ScoringMode
from lemur_bench.summary import summarize

log = logging.getLogger(__name__)
MODEL_ERROR = TerminationReason.MODEL_ERROR

ModelSpecArg = str | OpenAISpec | HFSpec | ScriptedSpec


class RunIncompleteError(StageError):
    """Planned episodes are missing or ended in ``model_error``; ``summary`` is the partial
    summary (also in ``summary.json``) and its ``status`` says how many. Re-running the same
    command plays only those episodes. A :class:`~lemur_core.stage.StageError`: the run could
    not publish its artifact, and the message is one line naming the fix."""

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary


class RunConfig(StageConfig):
    """Everything that decides a run's results: the run's identity. Transport (concurrency,
    timeouts, retries, the server's address) does not, so it is not here: ``model`` and
    ``feedback_model`` hold the model's identity (``openai:MODEL``, ``hf:PATH``, ...), also
    when given a full spec string, so configs pinned by older versions compare the same way."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    # A StageConfig for the one config dialect: `lemur-bench run --set KEY=VALUE`, show-config.
    config_label: ClassVar[str] = "run config"

    suite: str
    model: str
    limit_per_task: int | None = Field(default=None, ge=1)
    tasks_dir: str | None = None
    max_new_tokens: int = Field(default=512, ge=1)
    scoring_mode: ScoringMode = Field(
        default="mint",
        description="mint: MINT's own parsing and checks (the paper's numbers); corrected: fixed",
    )
    exact_mint: bool = Field(default=False, description="run each MINT turn budget separately")
    feedback_model: str | None = None
    action_representation: Literal["python", "symbolic"] = Field(
        default="python", description="how the model writes web actions (paper Fig. 5)"
    )
    site_urls: dict[str, str] = Field(
        default_factory=dict,
        description="WebArena placeholder -> base URL of your deployment (__SHOPPING__ ...)",
    )
    auth_dir: str | None = Field(
        default=None, description="directory of WebArena's .auth/*_state.json login states"
    )
    judge_model: str | None = Field(
        default=None, description="LLM judge for WebArena's fuzzy_match/ua_match (model spec)"
    )

    @model_validator(mode="before")
    @classmethod
    def _scoring_mode_was_mint_mode(cls, data: Any) -> Any:
        # Runs pinned before scoring modes had `mint_mode: mint|exact`; `exact` was the fix.
        if isinstance(data, dict) and "mint_mode" in data:
            data = dict(data)
            old = data.pop("mint_mode")
            data.setdefault("scoring_mode", "corrected" if old == "exact" else old)
        return data

    @field_validator("model", "feedback_model", mode="before")
    @classmethod
    def _identity_only(cls, value: object) -> object:
        if isinstance(value, str | OpenAISpec | HFSpec | ScriptedSpec):
            return model_identity(value)
        return value


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape results."""
    return dict(_package_versions())


@functools.cache
def _package_versions() -> dict[str, str]:
    # Once per process: each look-up scans sys.path's distributions (10-15 ms for the six,
    # per run, before any episode started).
    out = {}
    for name in ("lemur-bench", "lemur-agents", "lemur-core", "gymnasium", "transformers", "torch"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _env_available(env_id: str) -> str | None:
    """``None`` if ``env_id`` can be made here, else why not."""
    if env_id.startswith("lemur_bench/"):
        return None
    if env_id not in gymnasium.registry:
        return f"environment {env_id} is not registered"
    entry = gymnasium.registry[env_id].entry_point
    module = entry.split(":")[0] if isinstance(entry, str) else None
    try:
        found = importlib.util.find_spec(module) if module else True
    except ModuleNotFoundError:
        found = None
    if found is None:
        return f"environment {env_id} is not available in this lemur-agents ({module} missing)"
    return None


def _agent_env_kwargs(
    spec: TaskSpec, path: Path, max_turns: int, run: RunConfig | None = None
) -> dict[str, Any]:
    # The env object knows its own options (InterCode's task_assets/databases, the web
    # deployment); the runner only hands it the run's settings.
    env = spec.environment
    if not isinstance(env, AgentEnv):
        raise ValueError(f"task '{spec.name}' runs in the bench's own env, not a task-file env")
    return env.kwargs(path, max_turns, _env_context(run, path))


def _env_context(cfg: RunConfig | None, path: Path | None) -> EnvContext:
    if cfg is None:
        return EnvContext(path=path)
    return EnvContext(
        scoring_mode=cfg.scoring_mode,
        path=path,
        tasks_dir=Path(cfg.tasks_dir) if cfg.tasks_dir else None,
        site_urls=dict(cfg.site_urls),
        auth_dir=cfg.auth_dir,
        judge_model=cfg.judge_model,
    )


def _action_format(spec: TaskSpec, cfg: RunConfig) -> Any:
    return spec.action_format.build(
        FormatContext(
            scoring_mode=cfg.scoring_mode, action_representation=cfg.action_representation
        )
    )


def plan_episodes(
    cfg: RunConfig, *, feedback_model: ChatModel | None = None
) -> tuple[list[EpisodeSpec], dict[str, str], dict[str, str]]:
    """The episodes of a run, the skipped tasks with their reasons, and each task's data sha256."""
    tasks_dir = Path(cfg.tasks_dir) if cfg.tasks_dir else None
    config_sha = canonical_sha256(cfg)
    episodes: list[EpisodeSpec] = []
    skipped: dict[str, str] = {}
    data: dict[str, str] = {}
    for spec in suite_tasks(cfg.suite):
        why = _env_available(spec.env)
        if why is not None:
            skipped[spec.name] = why
            continue
        try:
            tasks, sha = load_tasks(spec, tasks_dir)
        except (LoaderError, OSError) as exc:
            skipped[spec.name] = str(exc)
            continue
        except UnicodeDecodeError as exc:
            where = data_path(spec, tasks_dir) or spec.name
            skipped[spec.name] = f"{where} is not UTF-8 text (byte {exc.start}); convert it"
            continue
        if not tasks:  # an empty data file: listed as skipped, never an empty result row
            skipped[spec.name] = f"no tasks in {data_path(spec, tasks_dir) or 'its data'}"
            continue
        if cfg.limit_per_task is not None:
            tasks = tasks[: cfg.limit_per_task]
        data[spec.name] = sha
        budgets = (
            list(range(1, spec.max_turns + 1))
            if cfg.exact_mint and spec.prompt_format == "mint"
            else [spec.max_turns]
        )
        feedback = None
        if spec.feedback == "nl":
            from lemur_agents.feedback import SimulatedUserFeedback

            if feedback_model is None:
                skipped[spec.name] = "natural-language feedback needs a feedback model"
                continue
            feedback = SimulatedUserFeedback(feedback_model)
        path = data_path(spec, tasks_dir)
        data_root = path.parent if path is not None else None
        if isinstance(spec.environment, AgentEnv) and path is not None:
            try:
                tasks = _align_with_env(spec, tasks, path)
            except Exception as exc:  # an env that cannot load the file: skip, with the reason
                skipped[spec.name] = f"{spec.env} could not load {path}: {exc}"
                continue
        # One action format and system prompt per task (parsers keep no state between
        # replies): building them per episode was a tenth of a 256-episode run's CPU time.
        action_format = _action_format(spec, cfg)
        prompt = system_prompt(spec, cfg.action_representation)
        inline = _steps_inline(spec)
        ctx = _env_context(cfg, path)  # one per task, shared by its episodes' envs
        for k in budgets:
            env = None if inline else _env_factory(spec, tasks, k, ctx, data_root)
            if env is None and not inline:
                skipped[spec.name] = (
                    f"{spec.env} reads its tasks from a local file: pass --tasks-dir"
                )
                break
            for task in tasks:
                suffix = f"@k{k}" if len(budgets) > 1 else ""
                if inline:
                    # A single-turn env over its one task: an env over all of them indexed
                    # (and checked) the whole task list again for every episode, O(n) each.
                    # (0.57 ms an episode at 256 tasks, against 0.01 ms over one.)
                    env = _env_factory(spec, [task], k, ctx, data_root)
                if env is None:  # unreachable: single-turn builds are callables
                    raise AssertionError(f"{spec.name}: no env for {task.task_id}")
                episodes.append(
                    EpisodeSpec(
                        episode_id=f"{spec.name}/{task.task_id}{suffix}",
                        env=env if callable(env) else env[0],
                        env_kwargs={} if callable(env) else env[1],
                        task_id=task.task_id,
                        benchmark=spec.name,
                        max_turns=k,
                        system_prompt=prompt,
                        action_format=action_format,
                        feedback=feedback,
                        reference=task.reference if feedback is not None else None,
                        info={
                            "suite": cfg.suite,
                            "turn_budget": k,
                            "task": spec.name,
                            "scoring_mode": cfg.scoring_mode,
                        },
                        config_sha256=config_sha,
                        data_sha256=sha,
                        inline_env=inline,
                    )
                )
    return episodes, skipped, data


# Scorers that only read the answer's text (regular expressions, arithmetic): a single-turn
# env over one of them never blocks, so the loop steps it on its own thread (no thread hop).
# Every other scorer runs code (a sandbox), queries a database or is not known to be cheap.
_TEXT_SCORERS = frozenset({"option_match", "bbh_match", "numeric_exact"})


def _steps_inline(spec: TaskSpec) -> bool:
    return (
        type(spec.environment) is SingleTurn
        and spec.scorer is not None
        and spec.scorer.name in _TEXT_SCORERS
    )


def _align_with_env(spec: TaskSpec, tasks: list[BenchTask], path: Path) -> list[BenchTask]:
    """Use the env's own task ids (it reads the same file, in the same order)."""
    env = gymnasium.make(spec.env, **_agent_env_kwargs(spec, path, spec.max_turns))
    try:
        ids = list(env.unwrapped.task_ids)  # type: ignore[attr-defined]
    finally:
        env.close()
    by_pos = {i: t for i, t in enumerate(tasks)}
    if len(ids) < len(tasks):
        raise ValueError(f"the env loaded {len(ids)} tasks but the file has {len(tasks)} rows")
    return [
        by_pos[i].model_copy(update={"task_id": tid})
        if i in by_pos
        else BenchTask(task_id=tid, prompt="")
        for i, tid in enumerate(ids[: len(tasks)])
    ]


def _env_factory(
    spec: TaskSpec,
    tasks: list[BenchTask],
    k: int,
    ctx: EnvContext,
    data_root: Path | None,
) -> Callable[[], Any] | tuple[str, dict[str, Any]] | None:
    wrapped = env_tasks(tasks, lambda t: render_task(spec, t, data_root=data_root))
    return spec.environment.build(wrapped, scorer=spec.scorer, max_turns=k, ctx=ctx)


def read_episodes(path: Path) -> list[EpisodeRecord]:
    """Records of an ``episodes.jsonl``; a torn last line (a kill mid-write) is dropped, logged."""
    if not path.exists():
        return []
    records, bad = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            records.append(EpisodeRecord.model_validate_json(line))
        except ValueError:
            bad += 1
    if bad:
        log.warning(
            "%s: dropped %d unreadable line(s) (interrupted write); they will re-run", path, bad
        )
    return records


class _ModelErrorGuard:
    """Trips after ``limit`` episodes in a row ended in ``model_error`` (a dead endpoint)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.streak = 0
        self.last_error: str | None = None
        self.reason: str | None = None

    def observe(self, record: EpisodeRecord) -> None:
        if record.termination is not TerminationReason.MODEL_ERROR:
            self.streak = 0
            return
        self.streak += 1
        self.last_error = str(record.info.get("error") or "model error")
        if self.limit and self.streak >= self.limit and self.reason is None:
            self.reason = (
                f"stopped early after {self.streak} episodes in a row ended in model_error "
                "(is the server up, and are its URL and model name right?)"
            )

    def tripped(self) -> bool:
        return self.reason is not None


def _latest_records(path: Path) -> dict[str, EpisodeRecord]:
    """The last record of each episode in ``path`` (a re-run appends a new one)."""
    return {r.episode_id: r for r in read_episodes(path)}


def _status(
    planned: list[str], latest: dict[str, EpisodeRecord], guard: _ModelErrorGuard
) -> dict[str, Any]:
    errored = [i for i in planned if i in latest and latest[i].termination is MODEL_ERROR]
    missing = [i for i in planned if i not in latest]
    last_error = guard.last_error
    if last_error is None and errored:
        last_error = str(latest[errored[-1]].info.get("error") or "model error")
    return {
        "planned": len(planned),
        "finished": len(planned) - len(errored) - len(missing),
        "model_errors": len(errored),
        "missing": len(missing),
        "complete": not errored and not missing,
        "stopped_early": guard.reason,
        "last_model_error": last_error,
    }


def incomplete_message(out_dir: Path, status: dict[str, Any]) -> str:
    """One line saying how many planned episodes did not finish, why, and what to do."""
    parts = [
        f"{out_dir}: run incomplete: {status['finished']} of {status['planned']} planned "
        f"episodes finished, {status['model_errors']} ended in model_error, "
        f"{status['missing']} did not run"
    ]
    if status.get("stopped_early"):
        parts.append(str(status["stopped_early"]))
    if status.get("last_model_error"):
        parts.append(f"last model error: {str(status['last_model_error'])[:300]}")
    if status.get("partial_results"):
        parts.append(f"the finished episodes are kept in {status['partial_results']}")
    parts.append(
        "fix the server or the model spec and run the same command again: only those episodes run"
    )
    return "; ".join(parts)


def run_suite(
    suite: str,
    model_spec: ModelSpecArg,
    out_dir: Path,
    *,
    limit_per_task: int | None = None,
    tasks_dir: Path | None = None,
    concurrency: int = 16,
    max_new_tokens: int = 512,
    scoring_mode: ScoringMode = "mint",
    exact_mint: bool = False,
    feedback_model: ModelSpecArg | None = None,
    action_representation: Literal["python", "symbolic"] = "python",
    model: ChatModel | None = None,
    progress: bool = True,
    label: str | None = None,
    site_urls: dict[str, str] | None = None,
    auth_dir: Path | None = None,
    judge_model: str | None = None,
    max_consecutive_model_errors: int | None = 8,
    force: bool = False,
    verify: bool = False,
) -> dict[str, Any]:
    """Run ``suite`` with the model ``model_spec`` into ``out_dir`` and return the summary.

    ``model_spec`` is a lemur-agents spec string (``openai:URL#MODEL``, ``hf:PATH``,
    ``scripted:FILE``) or a typed spec (``OpenAISpec``, ``HFSpec``, ``ScriptedSpec``); so is
    ``feedback_model``. Writes the eval_run artifact (``episodes.jsonl``, ``summary.json``,
    ``manifest.json``, plus ``run_config.json`` and the request cache ``cache.sqlite``).
    Resumes an interrupted run in the same directory, also with another timeout, concurrency
    or server address; a different identity there (model name, generation parameters, tasks,
    scoring) is a :class:`StaleArtifactError`. ``model`` (already built) overrides loading
    ``model_spec``, which still names it in the records. ``concurrency`` (live episodes) is
    per replica when the spec names several server replicas (``openai:URL,URL#MODEL``).
    ``label`` is the row name in reports (default: the model spec); it is not part of the
    config, so relabelling a finished run does not re-run it. ``site_urls`` maps WebArena's
    placeholders (``__SHOPPING__`` ...) to a deployment's base URLs and ``auth_dir`` holds its
    ``.auth`` login states, for WebArena's own tasks (the fixtures need neither).

    The run directory follows lemur-core's stage contract (:mod:`lemur_bench.run_dir`): a
    second run into a directory that one is writing raises ``StageBusyError``; a finished run
    of the same config is reused after its files' sizes are checked (``verify`` re-hashes
    them); an unfinished one (killed, or incomplete) resumes from its scratch directory and
    plays only the episodes not finished. The returned summary is a
    :class:`~lemur_bench.run_dir.SuiteSummary` (a dict) whose ``stage`` is the run's
    :class:`~lemur_core.stage.StageResult` (``.stage.reused``, ``.stage.status``).
    Raises :class:`RunIncompleteError` (after writing the partial ``summary.json``, and no
    manifest) when a planned episode is missing or ended in ``model_error``; the run stops
    early after ``max_consecutive_model_errors`` such episodes in a row (``None``: never).
    ``force`` discards what ``out_dir`` holds of an earlier run (results, pinned config, request
    caches) and starts over. ``concurrency`` below 1 is a ``UsageError`` (it would never run).
    """
    from lemur_core.cli_errors import UsageError

    if concurrency < 1:
        raise UsageError(
            f"concurrency {concurrency} runs no episode", "--concurrency", "give 1 or more"
        )
    out_dir = Path(out_dir)
    cfg = RunConfig(
        suite=suite,
        model=model_spec,  # type: ignore[arg-type]  # the validator keeps the identity
        limit_per_task=limit_per_task,
        tasks_dir=str(Path(tasks_dir).resolve()) if tasks_dir else None,
        max_new_tokens=max_new_tokens,
        scoring_mode=scoring_mode,
        exact_mint=exact_mint,
        feedback_model=feedback_model,  # type: ignore[arg-type]
        action_representation=action_representation,
        site_urls=dict(site_urls or {}),
        auth_dir=str(Path(auth_dir).resolve()) if auth_dir else None,
        judge_model=judge_model,
    )
    config = cfg.model_dump(mode="json")
    with claim_run(out_dir, config, force=force, verify=verify) as c:
        if c.status is StageStatus.REUSED:
            return SuiteSummary(relabel(c, label), c.result())
        if c.changed_fields:
            log.warning(
                "%s: starting over (fields differ from the unfinished run: %s)",
                out_dir,
                ", ".join(c.changed_fields),
            )
        c.staging.mkdir(parents=True, exist_ok=True)
        summary, manifest = _play(
            c.staging,
            c.scratch,
            cfg,
            model_spec,
            model=model,
            feedback_model=feedback_model,
            concurrency=concurrency,
            progress=progress,
            label=label,
            max_consecutive_model_errors=max_consecutive_model_errors,
            shown_dir=Path(out_dir),
        )
        return SuiteSummary(summary, publish(c, manifest))


def _play_episodes(
    cached: ChatModel,
    backend: ChatModel,
    episodes: list[EpisodeSpec],
    params: GenerationParams,
    config: LoopConfig,
    *,
    on_episode_end: Callable[[EpisodeRecord], None],
    max_live_episodes: int,
    should_stop: Callable[[], bool],
) -> None:
    """Play ``episodes`` through ``cached`` (``backend`` wrapped in the request cache).

    A backend that serves requests concurrently (an OpenAI-compatible server, which batches
    them itself) gets lemur-agents' continuous schedule on one event loop: each episode asks
    for its next turn as soon as its last one is done, instead of every round waiting for its
    slowest request and then for the harness's work on all of them. Others (a local batched
    model, a script) play in rounds, one batched call per round.
    """
    if not getattr(backend, "serves_concurrently", False):
        run_episodes(
            cached,
            episodes,
            params,
            config=config,
            on_episode_end=on_episode_end,
            max_live_episodes=max_live_episodes,
            should_stop=should_stop,
        )
        return

    async def play() -> None:
        try:
            await arun_episodes(
                cached,
                episodes,
                params,
                config=config.model_copy(update={"schedule": "continuous"}),
                on_episode_end=on_episode_end,
                max_live_episodes=max_live_episodes,
                should_stop=should_stop,
            )
        finally:
            aclose = getattr(backend, "aclose", None)  # its connections on this loop
            if callable(aclose):
                await aclose()

    run_sync(play())


def _play(
    out_dir: Path,
    cache_dir: Path,
    cfg: RunConfig,
    model_spec: ModelSpecArg,
    *,
    model: ChatModel | None,
    feedback_model: ModelSpecArg | None,
    concurrency: int,
    progress: bool,
    label: str | None,
    max_consecutive_model_errors: int | None,
    shown_dir: Path,
) -> tuple[dict[str, Any], ArtifactManifest]:
    """The run itself, into the claimed staging directory ``out_dir`` (request caches in
    ``cache_dir``); the summary and the manifest to publish (see :func:`run_suite`).
    ``shown_dir`` is the ``--out`` that messages name."""
    config = cfg.model_dump(mode="json")
    spec_text = model_spec if isinstance(model_spec, str) else model_spec.to_string()
    max_new_tokens = cfg.max_new_tokens
    atomic_write_text(out_dir / RUN_CONFIG, cfg.model_dump_json(indent=2) + "\n")

    from lemur_agents.models import load_model

    if model is None:
        model = load_model(model_spec)
    # ``concurrency`` is per server replica: N data-parallel replicas keep N times as many
    # episodes live, so each replica sees the batch one server would.
    replicas = len(getattr(model, "base_urls", None) or (model,))
    syncer = SyncBehind()
    cached = CachedChatModel(model, cache_dir / "cache.sqlite", syncer)
    # MINT's simulated user was GPT-4; without --feedback-model the evaluated model plays it.
    fb_model: CachedChatModel | None = None
    if feedback_model is not None:
        fb_model = CachedChatModel(
            load_model(feedback_model), cache_dir / "feedback-cache.sqlite", syncer
        )
    episodes, skipped, data = plan_episodes(cfg, feedback_model=fb_model or cached)
    for name, why in skipped.items():
        log.warning("skipping task %s: %s", name, why)

    path = out_dir / EPISODES
    # Episodes that ended in model_error are not finished: drop them, so they run again.
    # The rewrite also drops torn lines, so that appends start on a clean line.
    finished = [r for r in _latest_records(path).values() if r.termination is not MODEL_ERROR]
    if path.exists():  # a fresh run's log is created by its first append
        atomic_write_text(path, "".join(r.model_dump_json() + "\n" for r in finished))
    done_ids = {r.episode_id for r in finished}
    todo = [e for e in episodes if e.episode_id not in done_ids]
    versions = package_versions()
    guard = _ModelErrorGuard(max_consecutive_model_errors)
    lock = threading.Lock()
    # Each finished episode is written (and flushed) at once; its fsync runs behind, in
    # one thread shared with the cache's, and is waited for before the summary is written.
    handle = AppendLog(path, syncer)

    def persist(record: EpisodeRecord) -> None:
        record = record.model_copy(update={"package_versions": versions, "model": cfg.model})
        line = record.model_dump_json() + "\n"
        with lock:
            handle.append(line)
            guard.observe(record)

    played = False
    try:
        if todo:
            _play_episodes(
                cached,
                model,
                todo,
                GenerationParams(max_new_tokens=max_new_tokens),
                LoopConfig(progress=progress, progress_label=label or cfg.model),
                on_episode_end=persist,
                max_live_episodes=concurrency * replicas,
                should_stop=guard.tripped,
            )
        played = True
    finally:
        try:
            handle.close()
            # The SQLite files close (their checkpoints) while the summary is written; an
            # interrupted run closes them before the interruption goes on.
            cached.close(behind=played)
            if fb_model is not None:
                fb_model.close(behind=played)
        finally:
            syncer.close()  # every record and answer on disk before the summary says so
    try:
        planned = [e.episode_id for e in episodes]
        latest = _latest_records(path)
        status = _status(planned, latest, guard)
        if not status["complete"]:
            status["partial_results"] = str(out_dir)
        records = [
            latest[i] for i in planned if i in latest and latest[i].termination is not MODEL_ERROR
        ]
        summary = summarize(records, skipped=skipped, data_sha256=data, config=config)
        summary["status"] = status
        summary["cache"] = {"hits": cached.hits, "misses": cached.misses}
        summary["resumed_episodes"] = len(done_ids & set(planned))
        summary["model_spec"] = spec_text
        if label is not None:
            summary["model"] = label
        atomic_write_text(out_dir / SUMMARY, json.dumps(summary, indent=2, sort_keys=True) + "\n")
        if not status["complete"]:
            # Unpublished: the finished episodes wait in the scratch directory for the re-run.
            raise RunIncompleteError(incomplete_message(shown_dir, status), summary)
        manifest = ArtifactManifest.create(
            kind=ArtifactKind.EVAL_RUN,
            schema_version=EVAL_RUN_SCHEMA_VERSION,
            producer=Producer(package="lemur-bench", version=__version__),
            config=config,
            stats={
                "episodes": len(records),
                "skipped_tasks": skipped,
                "data_sha256": data,
                "package_versions": versions,
            },
        )
        return summary, manifest
    finally:
        cached.wait_closed()
        if fb_model is not None:
            fb_model.wait_closed()
