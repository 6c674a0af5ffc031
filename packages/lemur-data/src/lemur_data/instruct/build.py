"""Build the instruction-set artifact from the steps of :mod:`lemur_data.instruct.steps`.

    per source:    read rows -> convert -> English filter -> split by token budget
                   -> decontaminate -> exact dedup
    all sources:   semantic dedup -> mixture -> write ``examples.jsonl`` + ``manifest.json``

The lifecycle (lock, reuse, resume, publish) is :mod:`lemur_core.stage`'s. Each source's
filtered rows are kept in the stage's scratch directory (``.<out>.work`` beside the output) with
a marker, so an interrupted build resumes after its last finished source; the scratch is
removed once the artifact is published.
"""

from __future__ import annotations

import json
import logging
import platform
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lemur_core import (
    ArtifactManifest,
    InstructExample,
    Producer,
    atomic_write_text,
    canonical_sha256,
)
from lemur_core.atomic import atomic_open
from lemur_core.stage import StageResult, StageStatus, claim

from lemur_data import __version__
from lemur_data.instruct.config import InstructConfig, SourceSpec
from lemur_data.instruct.decontam_refs import load_decontaminator
from lemur_data.instruct.english import EnglishFilter
from lemur_data.instruct.stats import TableOneAccumulator, format_table_one
from lemur_data.instruct.steps import (
    Mixture,
    SemanticDedup,
    SharedSteps,
    SourceRun,
    exact_key,
    run_source,
)
from lemur_data.instruct.tokens import make_token_counter

INSTRUCT_SCHEMA_VERSION = 1
EXAMPLES_NAME = "examples.jsonl"
log = logging.getLogger("lemur_data.instruct")


class _Progress:
    """Rich progress with ETA when enabled, silent otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._p: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._p = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )
            self._p.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)

    def task(self, description: str, total: int | None) -> Callable[[int], None]:
        if self._p is None:
            return lambda done: None
        task_id = self._p.add_task(description, total=total)
        return lambda done: self._p.update(task_id, completed=done)


def _write_jsonl(path: Path, rows: Iterator[str]) -> None:
    with atomic_open(path, "w") as handle:
        for row in rows:
            handle.write(row + "\n")


def build_instruct(
    config: InstructConfig,
    out_dir: Path,
    *,
    force: bool = False,
    progress: bool = False,
    verify: bool = False,
) -> StageResult:
    """Build the instruction-set artifact in ``out_dir``; returns the stage's result.

    Writes ``examples.jsonl`` (one :class:`lemur_core.InstructExample` per line: sources in
    config order, rows in source order), ``removed.jsonl`` (every dropped row with its reason),
    ``decontam_hits.jsonl``, ``table1.md`` and ``manifest.json`` (stats: Table 1 rows, removal
    counts by reason and source, repairs, semantic-dedup throughput). The lifecycle is
    :func:`lemur_core.stage.claim`'s: one writer at a time; a finished artifact with the same
    config is reused (``result.reused``) once its files' sizes (and sha256 with ``verify``)
    check out; one with another config raises :class:`lemur_core.StaleArtifactError` unless
    ``force``. Each source's filtered rows are kept in the scratch directory beside ``out_dir``,
    so an interrupted build resumes after its last finished source.
    """
    cfg = config.model_dump(mode="json")
    with claim(
        out_dir,
        "instruct",
        cfg,
        (),
        force,
        schema_version=INSTRUCT_SCHEMA_VERSION,
        verify=verify,
    ) as stage:
        if stage.status is StageStatus.REUSED:
            return stage.result()
        stage.staging.mkdir(parents=True, exist_ok=True)
        manifest = _build(config, cfg, stage.scratch, stage.staging, progress)
        if not manifest.stats.get("examples"):
            # An empty set is never published: SFT on it would fail far from the cause.
            from lemur_core.cli_errors import InputError

            removed = manifest.stats.get("removed_by_reason") or {}
            raise InputError(
                "the sources gave 0 examples"
                + (
                    f" (removed: {', '.join(f'{k}={v}' for k, v in removed.items())})"
                    if removed
                    else ""
                ),
                out_dir,
                "check the sources' paths and filters (lemur-data instruct show-config CONFIG)",
            )
        return stage.publish(manifest)


def _resumed(spec: SourceSpec, work: Path, config_hash: str) -> SourceRun | None:
    """The source's finished run from the scratch directory of an interrupted build, if any."""
    marker = work / f"{spec.name}.done.json"
    if not marker.exists():
        return None
    done = json.loads(marker.read_text())
    if done["config_sha256"] != config_hash:
        return None
    kept = [
        InstructExample.model_validate_json(line)
        for line in (work / f"{spec.name}.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    return SourceRun(kept, done["removed_log"], done["hits_log"], done["stats"])


def _save(spec: SourceSpec, work: Path, config_hash: str, run: SourceRun) -> None:
    """Keep a finished source's rows and marker in scratch (rows first: the marker commits)."""
    _write_jsonl(work / f"{spec.name}.jsonl", (e.model_dump_json() for e in run.kept))
    marker = {
        "config_sha256": config_hash,
        "stats": run.stats,
        "removed_log": run.removed_log,
        "hits_log": run.hits_log,
    }
    atomic_write_text(work / f"{spec.name}.done.json", json.dumps(marker))


def _build(
    config: InstructConfig, cfg: dict[str, Any], work: Path, out: Path, progress: bool
) -> ArtifactManifest:
    config_hash = canonical_sha256(cfg)
    count_tokens, token_unit = make_token_counter(config.tokens)
    decontaminator, decontam_info = load_decontaminator(config.decontam)
    english = (
        EnglishFilter(seed=config.seed) if any(s.english_filter for s in config.sources) else None
    )
    shared = SharedSteps(config, set(), english, count_tokens, decontaminator)
    per_source: dict[str, list[InstructExample]] = {}
    source_stats: dict[str, dict[str, Any]] = {}
    removed_log: list[dict[str, Any]] = []
    hits_log: list[dict[str, Any]] = []
    with _Progress(progress) as bar:
        for spec in config.sources:
            run = _resumed(spec, work, config_hash)
            if run is not None:
                shared.seen.update(exact_key(e) for e in run.kept)
                log.info("source %s: resumed from staging (%d rows)", spec.name, len(run.kept))
            else:
                expected = spec.paper_count or (spec.stdlib.max_examples if spec.stdlib else None)
                run = run_source(spec, shared, bar.task(f"source {spec.name}", expected))
                _save(spec, work, config_hash, run)
            per_source[spec.name] = run.kept
            source_stats[spec.name] = run.stats
            removed_log.extend(run.removed_log)
            hits_log.extend(run.hits_log)
        semantic = SemanticDedup(
            config.semantic_dedup, [s.name for s in config.sources if s.semantic_dedup]
        )
        semantic_stats = semantic(per_source, source_stats, removed_log, bar.task)
    selected = Mixture(config.sources, config.seed)(per_source, source_stats)
    table = TableOneAccumulator(count_tokens)
    for spec, example in selected:
        table.add(spec.label, example)
    _write_jsonl(out / EXAMPLES_NAME, (e.model_dump_json() for _, e in selected))
    _write_jsonl(out / "removed.jsonl", (json.dumps(r, ensure_ascii=False) for r in removed_log))
    _write_jsonl(out / "decontam_hits.jsonl", (json.dumps(h, ensure_ascii=False) for h in hits_log))
    paper: dict[str, int] = {}
    for spec in config.sources:
        if spec.paper_count is not None:
            paper[spec.label] = paper.get(spec.label, 0) + spec.paper_count
    rows_t1 = table.rows(paper)
    atomic_write_text(out / "table1.md", format_table_one(rows_t1, token_unit) + "\n")
    removed_total: Counter[str] = Counter()
    for st in source_stats.values():
        removed_total.update(st["removed"])
    return ArtifactManifest.create(
        kind="instruct",
        schema_version=INSTRUCT_SCHEMA_VERSION,
        producer=Producer(package="lemur-data", version=__version__),
        config=cfg,
        stats={
            "examples": len(selected),
            "table1": rows_t1,
            "token_unit": token_unit,
            "removed_by_reason": dict(sorted(removed_total.items())),
            "sources": source_stats,
            "semantic_dedup": semantic_stats,
            "decontam": {**decontam_info, "hits": len(hits_log)},
            "python": platform.python_version(),
        },
    )
