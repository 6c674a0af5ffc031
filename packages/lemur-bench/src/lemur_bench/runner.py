"""The runner: a suite, a model spec, an output directory -> an ``eval_run`` artifact.

``run_suite`` loads every task of the suite (skipping, counted and with the reason, those whose
data or environment is not available here), turns each into a lemur-agents
:class:`~lemur_agents.loop.EpisodeSpec`, and plays them all through lemur-agents' batched
episode loop (one model call per round across up to ``concurrency`` live episodes). Every
finished episode is appended to ``episodes.jsonl`` at once (one write, flushed and fsynced),
so a killed run loses at most the episodes in flight: running the same command again skips the
finished ones and plays only the rest. Model answers go through a request cache
(``cache.sqlite``), so episodes that were in flight replay the answers already paid for, and
greedy runs come out identical. At the end it writes ``summary.json`` (metrics per task) and
``manifest.json``; a run dir whose manifest matches the config is returned without running.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import gymnasium
from lemur_agents.loop import (
    CodeBlockFormat,
    EpisodeSpec,
    LoopConfig,
    MintFormat,
    RawTextFormat,
    run_episodes,
)
from lemur_core import (
    EVAL_RUN_SCHEMA_VERSION,
    ArtifactKind,
    ArtifactManifest,
    ChatModel,
    EpisodeRecord,
    GenerationParams,
    Producer,
    StaleArtifactError,
    atomic_write_text,
    canonical_sha256,
    find_reusable,
    write_manifest,
)
from pydantic import BaseModel, ConfigDict, Field

from lemur_bench import __version__
from lemur_bench.cache import CachedChatModel
from lemur_bench.envs import MintReasoningEnv, SingleTurnEnv, env_tasks
from lemur_bench.loaders import BenchTask, LoaderError, data_path, load_tasks
from lemur_bench.prompts import render_task, system_prompt
from lemur_bench.registry import TaskSpec, suite_tasks
from lemur_bench.summary import summarize

log = logging.getLogger(__name__)

EPISODES = "episodes.jsonl"
SUMMARY = "summary.json"
RUN_CONFIG = "run_config.json"


class RunConfig(BaseModel):
    """Everything that decides a run's results (concurrency does not, so it is not here)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    suite: str
    model: str
    limit_per_task: int | None = Field(default=None, ge=1)
    tasks_dir: str | None = None
    max_new_tokens: int = Field(default=512, ge=1)
    mint_mode: Literal["mint", "exact"] = "mint"
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


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape results."""
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
    cfg: dict[str, Any] = {"tasks_path": str(path), "max_turns": max_turns}
    if spec.env == "lemur/CTF-v0" and (path.parent / "task_assets").is_dir():
        cfg["files_root"] = str(path.parent / "task_assets")  # InterCode's layout
    if spec.env == "lemur/Web-v0" and run is not None:
        cfg["site_urls"] = dict(run.site_urls)
        if run.auth_dir is not None:
            cfg["auth_dir"] = run.auth_dir
    if spec.env == "lemur/SQL-v0":
        dbs = path.parent / "databases"
        dump = path.parent / "ic_spider_dbs.sql"
        if dbs.is_dir():
            cfg["databases_dir"] = str(dbs)
        elif dump.exists():
            cfg["dump_path"] = str(dump)
    return {"config": cfg}


def _wiki_tools(tasks_dir: Path | None) -> dict[str, Callable[..., Any]]:
    from lemur_agents.tools import LocalIndex, WikipediaSearch

    pages = tasks_dir / "wiki" / "pages.jsonl" if tasks_dir else None
    if pages is None or not pages.exists():
        return {}
    return {"wikipedia_search": WikipediaSearch(LocalIndex.from_jsonl(pages)).search}


def _action_format(spec: TaskSpec, cfg: RunConfig) -> Any:
    if spec.env == "lemur/Web-v0":
        from lemur_agents.actions.webarena import WEBARENA_SCHEMA
        from lemur_agents.loop import SchemaFormat

        return SchemaFormat(WEBARENA_SCHEMA, model_representation=cfg.action_representation)
    if spec.prompt_format == "mint":
        return MintFormat()
    if spec.env == "lemur/SQL-v0":
        return CodeBlockFormat(("sql",))
    if spec.env == "lemur/CTF-v0":  # the env runs Python blocks as Python, the rest as bash
        return CodeBlockFormat(("bash", "sh", "python"), keep_fence_for=("python",))
    if spec.env == "lemur/Bash-v0":
        return CodeBlockFormat(("bash", "sh"))
    return RawTextFormat()


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
        if not spec.env.startswith("lemur_bench/") and path is not None:
            try:
                tasks = _align_with_env(spec, tasks, path)
            except Exception as exc:  # an env that cannot load the file: skip, with the reason
                skipped[spec.name] = f"{spec.env} could not load {path}: {exc}"
                continue
        for k in budgets:
            env = _env_factory(spec, tasks, k, cfg, data_root, tasks_dir, path)
            if env is None:
                skipped[spec.name] = (
                    f"{spec.env} reads its tasks from a local file: pass --tasks-dir"
                )
                break
            for task in tasks:
                suffix = f"@k{k}" if len(budgets) > 1 else ""
                episodes.append(
                    EpisodeSpec(
                        episode_id=f"{spec.name}/{task.task_id}{suffix}",
                        env=env if callable(env) else env[0],
                        env_kwargs={} if callable(env) else env[1],
                        task_id=task.task_id,
                        benchmark=spec.name,
                        max_turns=k,
                        system_prompt=system_prompt(spec, cfg.action_representation),
                        action_format=_action_format(spec, cfg),
                        feedback=feedback,
                        reference=task.reference if feedback is not None else None,
                        info={"suite": cfg.suite, "turn_budget": k, "task": spec.name},
                        config_sha256=config_sha,
                        data_sha256=sha,
                    )
                )
    return episodes, skipped, data


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
    cfg: RunConfig,
    data_root: Path | None,
    tasks_dir: Path | None,
    path: Path | None,
) -> Callable[[], Any] | tuple[str, dict[str, Any]] | None:
    if spec.env == "lemur_bench/SingleTurn-v0":
        wrapped = env_tasks(tasks, lambda t: render_task(spec, t, data_root=data_root))
        return lambda: SingleTurnEnv(wrapped, scorer=spec.scorer, data_root=data_root)
    if spec.env == "lemur_bench/MintReasoning-v0":
        wrapped = env_tasks(tasks, lambda t: render_task(spec, t))
        tools = _wiki_tools(tasks_dir) if "WikiSearch" in spec.paper_setting else {}
        return lambda: MintReasoningEnv(wrapped, max_turns=k, mode=cfg.mint_mode, tools=tools)
    if path is None:
        return None
    return (spec.env, _agent_env_kwargs(spec, path, k, cfg))


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


def _check_run_config(out_dir: Path, cfg: RunConfig) -> None:
    pinned = out_dir / RUN_CONFIG
    if not pinned.exists():
        atomic_write_text(pinned, cfg.model_dump_json(indent=2) + "\n")
        return
    # Read through the model so fields added since that run compare at their defaults.
    old = RunConfig.model_validate_json(pinned.read_text(encoding="utf-8")).model_dump(mode="json")
    new = cfg.model_dump(mode="json")
    differ = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if differ:
        raise StaleArtifactError(
            f"{out_dir} holds a run with a different config (fields differ: {', '.join(differ)}); "
            "use a new --out directory to run this config"
        )


def run_suite(
    suite: str,
    model_spec: str,
    out_dir: Path,
    *,
    limit_per_task: int | None = None,
    tasks_dir: Path | None = None,
    concurrency: int = 16,
    max_new_tokens: int = 512,
    mint_mode: Literal["mint", "exact"] = "mint",
    exact_mint: bool = False,
    feedback_model: str | None = None,
    action_representation: Literal["python", "symbolic"] = "python",
    model: ChatModel | None = None,
    progress: bool = True,
    label: str | None = None,
    site_urls: dict[str, str] | None = None,
    auth_dir: Path | None = None,
) -> dict[str, Any]:
    """Run ``suite`` with the model ``model_spec`` into ``out_dir`` and return the summary.

    Writes the eval_run artifact (``episodes.jsonl``, ``summary.json``, ``manifest.json``, plus
    ``run_config.json`` and the request cache ``cache.sqlite``). Resumes an interrupted run in
    the same directory; a different config there is a :class:`StaleArtifactError`. ``model``
    (already built) overrides loading ``model_spec``, which still names it in the records.
    ``label`` is the row name in reports (default: the model spec); it is not part of the
    config, so relabelling a finished run does not re-run it. ``site_urls`` maps WebArena's
    placeholders (``__SHOPPING__`` ...) to a deployment's base URLs and ``auth_dir`` holds its
    ``.auth`` login states, for WebArena's own tasks (the fixtures need neither).
    """
    out_dir = Path(out_dir)
    cfg = RunConfig(
        suite=suite,
        model=model_spec,
        limit_per_task=limit_per_task,
        tasks_dir=str(Path(tasks_dir).resolve()) if tasks_dir else None,
        max_new_tokens=max_new_tokens,
        mint_mode=mint_mode,
        exact_mint=exact_mint,
        feedback_model=feedback_model,
        action_representation=action_representation,
        site_urls=dict(site_urls or {}),
        auth_dir=str(Path(auth_dir).resolve()) if auth_dir else None,
    )
    config = cfg.model_dump(mode="json")
    done_manifest = find_reusable(
        out_dir, kind=ArtifactKind.EVAL_RUN, schema_version=EVAL_RUN_SCHEMA_VERSION, config=config
    )
    if done_manifest is not None and (out_dir / SUMMARY).exists():
        done = dict(json.loads((out_dir / SUMMARY).read_text(encoding="utf-8")))
        if label is not None and done.get("model") != label:
            done["model"] = label
            atomic_write_text(out_dir / SUMMARY, json.dumps(done, indent=2, sort_keys=True) + "\n")
        return done
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_run_config(out_dir, cfg)

    if model is None:
        from lemur_agents.models import load_model

        model = load_model(model_spec)
    cached = CachedChatModel(model, out_dir / "cache.sqlite")
    # MINT's simulated user was GPT-4; without --feedback-model the evaluated model plays it.
    fb_model: CachedChatModel | None = None
    if feedback_model is not None:
        from lemur_agents.models import load_model

        fb_model = CachedChatModel(load_model(feedback_model), out_dir / "feedback-cache.sqlite")
    episodes, skipped, data = plan_episodes(cfg, feedback_model=fb_model or cached)
    for name, why in skipped.items():
        log.warning("skipping task %s: %s", name, why)

    path = out_dir / EPISODES
    finished = read_episodes(path)
    # Rewrite without torn lines so that appends start on a clean line.
    atomic_write_text(path, "".join(r.model_dump_json() + "\n" for r in finished))
    done_ids = {r.episode_id for r in finished}
    todo = [e for e in episodes if e.episode_id not in done_ids]
    versions = package_versions()
    lock = threading.Lock()
    handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in finally

    def persist(record: EpisodeRecord) -> None:
        record = record.model_copy(update={"package_versions": versions, "model": model_spec})
        with lock:
            handle.write(record.model_dump_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    try:
        if todo:
            run_episodes(
                cached,
                todo,
                GenerationParams(max_new_tokens=max_new_tokens),
                config=LoopConfig(progress=progress),
                on_episode_end=persist,
                max_live_episodes=concurrency,
            )
    finally:
        handle.close()
        cached.close()
        if fb_model is not None:
            fb_model.close()

    wanted = {e.episode_id for e in episodes}
    records = [r for r in read_episodes(path) if r.episode_id in wanted]
    summary = summarize(records, skipped=skipped, data_sha256=data, config=config)
    summary["cache"] = {"hits": cached.hits, "misses": cached.misses}
    summary["resumed_episodes"] = len(done_ids & wanted)
    summary["model_spec"] = model_spec
    if label is not None:
        summary["model"] = label
    atomic_write_text(out_dir / SUMMARY, json.dumps(summary, indent=2, sort_keys=True) + "\n")
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
    write_manifest(out_dir, manifest)
    return summary
