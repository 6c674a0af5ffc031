"""Build the instruction-set artifact: convert -> English filter -> split -> exact dedup ->
decontaminate -> semantic dedup -> mixture -> ``examples.jsonl`` + ``manifest.json``.

The lifecycle (lock, reuse, resume, publish) is :mod:`lemur_core.stage`'s. Each source's
filtered rows are kept in the stage's scratch directory (``.<out>.work`` beside the output) with
a marker, so an interrupted build resumes after its last finished source; the scratch is
removed once the artifact is published.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import random
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
from lemur_data.instruct.config import InstructConfig, SourceFormat, SourceSpec
from lemur_data.instruct.decontam_refs import load_decontaminator
from lemur_data.instruct.english import EnglishFilter
from lemur_data.instruct.oasst import convert_oasst1
from lemur_data.instruct.readers import iter_rows
from lemur_data.instruct.rows import ConvertResult, Fixes, Rejected
from lemur_data.instruct.sharegpt import convert_sharegpt, split_by_token_budget
from lemur_data.instruct.simple_sources import convert_evol_codealpaca, convert_openorca
from lemur_data.instruct.stats import TableOneAccumulator, format_table_one
from lemur_data.instruct.stdlib_gen import generate_stdlib
from lemur_data.instruct.tokens import make_token_counter

INSTRUCT_SCHEMA_VERSION = 1
EXAMPLES_NAME = "examples.jsonl"
log = logging.getLogger("lemur_data.instruct")


def _convert(spec: SourceSpec, fixes: Fixes) -> Iterator[ConvertResult]:
    if spec.format is SourceFormat.STDLIB:
        assert spec.stdlib is not None
        yield from generate_stdlib(spec.stdlib, spec.name)
        return
    rows = iter_rows(spec)
    if spec.format is SourceFormat.OASST1:
        yield from convert_oasst1(rows, spec.name, fixes, spec.oasst_languages, spec.oasst_policy)
    elif spec.format is SourceFormat.OPENORCA:
        yield from convert_openorca(rows, spec.name, fixes)
    elif spec.format is SourceFormat.SHAREGPT:
        yield from convert_sharegpt(rows, spec.name, fixes)
    else:
        yield from convert_evol_codealpaca(rows, spec.name, fixes)


def exact_key(example: InstructExample) -> bytes:
    """The exact-dedup key: sha256 over roles and whitespace-normalized contents (the source
    and id are not part of it, so copies across sources collide)."""
    digest = hashlib.sha256()
    for msg in example.messages:
        digest.update(
            msg.role.value.encode() + b"\0" + " ".join(msg.content.split()).encode() + b"\1"
        )
    return digest.digest()


def dedup_text(example: InstructExample, field: str) -> str:
    """The text semantic dedup embeds: the user turns (``user``) or every turn (``all``)."""
    return "\n".join(
        m.content for m in example.messages if field == "all" or m.role.value == "user"
    )


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


def _stage_source(
    spec: SourceSpec,
    config: InstructConfig,
    seen: set[bytes],
    english: EnglishFilter | None,
    count_tokens: Callable[[str], int],
    decontaminator: Any,
    removed_log: list[dict[str, Any]],
    hits_log: list[dict[str, Any]],
    tick: Callable[[int], None],
) -> tuple[list[InstructExample], dict[str, Any]]:
    fixes: Fixes = Counter()
    removed: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    kept: list[InstructExample] = []
    rows = 0

    def drop(row_id: str, reason: str, detail: str = "") -> None:
        removed[reason] += 1
        if removed[reason] <= 3:
            log.info("source %s: removed %s (%s) %s", spec.name, row_id, reason, detail)
        removed_log.append({"id": row_id, "source": spec.name, "reason": reason, "detail": detail})

    for item in _convert(spec, fixes):
        rows += 1
        if rows % 256 == 0:
            tick(rows)
        if isinstance(item, Rejected):
            drop(item.row_id, item.reason, item.detail)
            continue
        if english is not None and spec.english_filter:
            verdict = english.apply(item)
            languages[verdict.language or "unjudged"] += 1
            fixes["english_sentences_removed"] += verdict.sentences_removed
            if verdict.example is None:
                drop(item.id, verdict.reason or "non_english", verdict.language or "")
                continue
            item = verdict.example
        parts = [item]
        if spec.max_tokens_per_example is not None:
            parts = split_by_token_budget(item, spec.max_tokens_per_example, count_tokens, fixes)
            if not parts:
                drop(item.id, "over_token_budget")
        for part in parts:
            key = exact_key(part)
            if config.exact_dedup and key in seen:
                drop(part.id, "exact_duplicate")
                continue
            if decontaminator is not None:
                text = "\n".join(m.content for m in part.messages)
                hits = decontaminator.hits(text)
                if hits:
                    for hit in hits[:5]:
                        hits_log.append(
                            {
                                "id": part.id,
                                "source": spec.name,
                                "item_id": hit.item_id,
                                "ngram": hit.ngram,
                            }
                        )
                    drop(part.id, "decontaminated", hits[0].item_id)
                    continue
            seen.add(key)
            kept.append(part)
    tick(rows)
    stats = {
        "rows_read": rows,
        "after_filters": len(kept),
        "removed": dict(sorted(removed.items())),
        "fixes": dict(sorted((k, v) for k, v in fixes.items() if v)),
    }
    if languages:
        stats["langdetect"] = dict(languages.most_common())
    return kept, stats


def _select(n: int, take: int | float | None, seed: int, name: str) -> list[int]:
    """Indices kept by the mixture rule, ascending (seeded sample without replacement)."""
    if take is None:
        return list(range(n))
    k = min(n, take) if isinstance(take, int) else round(n * take)
    if isinstance(take, int) and take > n:
        log.warning(
            "source %s: take=%d but only %d rows survive filtering; taking all", name, take, n
        )
    return sorted(random.Random(f"{seed}:{name}").sample(range(n), k))


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


def _build(
    config: InstructConfig, cfg: dict[str, Any], work: Path, out: Path, progress: bool
) -> ArtifactManifest:
    config_hash = canonical_sha256(cfg)

    count_tokens, token_unit = make_token_counter(config.tokens)
    decontaminator, decontam_info = load_decontaminator(config.decontam)
    english = (
        EnglishFilter(seed=config.seed) if any(s.english_filter for s in config.sources) else None
    )
    seen: set[bytes] = set()
    per_source: dict[str, list[InstructExample]] = {}
    source_stats: dict[str, dict[str, Any]] = {}
    removed_log: list[dict[str, Any]] = []
    hits_log: list[dict[str, Any]] = []
    with _Progress(progress) as bar:
        for spec in config.sources:
            stage = work / f"{spec.name}.jsonl"
            marker = work / f"{spec.name}.done.json"
            if marker.exists() and json.loads(marker.read_text())["config_sha256"] == config_hash:
                done = json.loads(marker.read_text())
                kept = [
                    InstructExample.model_validate_json(line)
                    for line in stage.read_text(encoding="utf-8").splitlines()
                ]
                seen.update(exact_key(e) for e in kept)
                removed_log.extend(done["removed_log"])
                hits_log.extend(done["hits_log"])
                stats = done["stats"]
                log.info("source %s: resumed from staging (%d rows)", spec.name, len(kept))
            else:
                start_removed, start_hits = len(removed_log), len(hits_log)
                tick = bar.task(
                    f"source {spec.name}",
                    spec.paper_count or (spec.stdlib.max_examples if spec.stdlib else None),
                )
                kept, stats = _stage_source(
                    spec,
                    config,
                    seen,
                    english,
                    count_tokens,
                    decontaminator,
                    removed_log,
                    hits_log,
                    tick,
                )
                _write_jsonl(stage, (e.model_dump_json() for e in kept))
                atomic_write_text(
                    marker,
                    json.dumps(
                        {
                            "config_sha256": config_hash,
                            "stats": stats,
                            "removed_log": removed_log[start_removed:],
                            "hits_log": hits_log[start_hits:],
                        }
                    ),
                )
            per_source[spec.name] = kept
            source_stats[spec.name] = stats

        semantic_stats = _semantic_stage(config, per_source, source_stats, removed_log, bar)

    table = TableOneAccumulator(count_tokens)
    selected: list[InstructExample] = []
    for spec in config.sources:
        rows = per_source[spec.name]
        chosen = _select(len(rows), spec.take, config.seed, spec.name)
        source_stats[spec.name]["selected"] = len(chosen)
        for i in chosen:
            selected.append(rows[i])
            table.add(spec.label, rows[i])
    _write_jsonl(out / EXAMPLES_NAME, (e.model_dump_json() for e in selected))
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
    manifest = ArtifactManifest.create(
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
    return manifest


def _semantic_stage(
    config: InstructConfig,
    per_source: dict[str, list[InstructExample]],
    source_stats: dict[str, dict[str, Any]],
    removed_log: list[dict[str, Any]],
    bar: _Progress,
) -> dict[str, Any]:
    names = [s.name for s in config.sources if s.semantic_dedup]
    spec = config.semantic_dedup
    if not names:
        return {"enabled": False}
    from lemur_data.instruct.embedders import make_embedder
    from lemur_data.instruct.semantic_dedup import semantic_dedup

    owners = [(name, i) for name in names for i in range(len(per_source[name]))]
    texts = [dedup_text(per_source[name][i], spec.field) for name, i in owners]
    embedder = make_embedder(spec.embedder)
    tick = bar.task("semantic dedup search", len(texts))
    result = semantic_dedup(texts, embedder, spec.threshold, spec.block_size, tick)
    drop: dict[str, set[int]] = {name: set() for name in names}
    for row, (kept_row, cosine) in sorted(result.duplicate_of.items()):
        name, i = owners[row]
        drop[name].add(i)
        kept_name, kept_i = owners[kept_row]
        removed_log.append(
            {
                "id": per_source[name][i].id,
                "source": name,
                "reason": "semantic_duplicate",
                "detail": f"cos={cosine:.4f} with {per_source[kept_name][kept_i].id}",
            }
        )
    for name in names:
        before = len(per_source[name])
        per_source[name] = [e for i, e in enumerate(per_source[name]) if i not in drop[name]]
        removed = source_stats[name]["removed"]
        if before - len(per_source[name]):
            removed["semantic_duplicate"] = before - len(per_source[name])
        source_stats[name]["after_semantic_dedup"] = len(per_source[name])
    return {
        "enabled": True,
        "sources": names,
        "threshold": spec.threshold,
        "field": spec.field,
        "embedder": embedder.describe(),
        "rows": len(texts),
        "removed": result.removed,
        "block_size": spec.block_size,
        "embed_seconds": round(result.embed_seconds, 3),
        "search_seconds": round(result.search_seconds, 3),
        **{k: round(v, 1) for k, v in result.throughput().items() if k != "rows"},
    }
