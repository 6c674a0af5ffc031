"""``build_corpus``: the corpus pipeline as eight datatrove stages on a datatrove executor.

=====  ==========  =====================================================================
stage  tasks       steps
=====  ==========  =====================================================================
1      T           read sources -> normalize -> quality filters -> decontaminate -> write
                   documents -> MinHash signatures (numpy-vectorized)
2      bands       MinHash LSH bucket matching (vectorized, datatrove's format)
3      1           exact groups + union-find clusters -> removal lists
4      1           tokenizer: train a byte-level BPE on the survivors, or load one by name
5      T           tokenize the survivors
6      1           mixture plan: weights, epochs, seeded shuffles
7      T           pack rows into shards
8      1           verify shares and efficiency, write ``shards.json`` and ``manifest.json``
=====  ==========  =====================================================================

``T`` is ``executor.tasks`` (part of the config). Each datatrove task marks itself complete in
the stage's logging directory, so a killed build started again redoes only unfinished tasks
(and rewrites their files from the start). The executor (local, Ray, Slurm) is not part of the
artifact's identity: the output is byte-identical on each, so a build may resume on another.

With ``keep_rejected`` every dropped document is written by datatrove's JsonlWriter under the
artifact's ``rejected/`` (``quality/``, ``decontam/``: the filters' exclusion writers;
``dedup/``: the duplicate clusters' losers), one ``<rank>.jsonl`` per prepare task, with its
reason in ``metadata.filter_reason``. They are part of the artifact: listed in the manifest
with their sizes and sha256 like the shards, so reuse checks them too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from datatrove.pipeline.base import PipelineStep
from lemur_core.corpus import CORPUS_SCHEMA_VERSION
from lemur_core.manifest import ArtifactManifest, read_manifest
from lemur_core.stage import StageResult, StageStatus, claim, default_scratch

from lemur_data.corpus.cluster import run_stages
from lemur_data.corpus.cluster import slurm_chain as slurm_chain  # re-exported
from lemur_data.corpus.config import CorpusConfig, CorpusConfigError
from lemur_data.corpus.dedup import CodeWordTokenizer, DedupClusterStep, minhash_config
from lemur_data.corpus.filters import (
    DecontamFilter,
    Normalizer,
    QualityFilter,
    document_writers,
)
from lemur_data.corpus.finalize import FinalizeStep, MixStep
from lemur_data.corpus.minhash import VectorMinhashBuckets as MinhashDedupBuckets
from lemur_data.corpus.minhash import VectorMinhashSignature as MinhashDedupSignature
from lemur_data.corpus.pack import PackStep
from lemur_data.corpus.sources import SourceReader, list_units
from lemur_data.corpus.tokenize import TokenizeStep, TrainTokenizerStep
from lemur_data.decontam import Decontaminator, DecontamInputError, resolve_reference_path

StageHook = Callable[[int, int, str], None]


def default_work_dir(out_dir: Path) -> Path:
    """Scratch directory of a build: a hidden sibling of the output directory."""
    return default_scratch(Path(out_dir).absolute())


def _preflight(config: CorpusConfig) -> Decontaminator | None:
    """Fail before any work on what can be checked up front; returns the decontaminator."""
    for i, source in enumerate(config.sources):
        if source.kind in ("files", "jsonl", "parquet", "stdlib_code") and not list_units(
            (source,), 1
        ):
            raise CorpusConfigError(
                f"sources.{i}.paths: no file matches {list(source.paths)} for source "
                f"'{source.name}'; fix the globs (relative to the working directory)"
            )
    refs = config.decontam.reference_files
    for j, ref in enumerate(refs):
        try:
            resolve_reference_path(ref)
        except DecontamInputError as exc:
            raise CorpusConfigError(f"decontam.reference_files.{j}: {exc}") from exc
    if not refs:
        return None
    return Decontaminator.from_files(
        refs, n=config.decontam.ngram, min_words=config.decontam.min_words
    )


REJECTED_DIR = "rejected"
"""Where ``keep_rejected`` puts the dropped documents, inside the artifact."""


def rejected_dirs(out_dir: Path) -> dict[str, str]:
    """The folder of each dropping step's rejected documents (step -> path)."""
    return {step: str(out_dir / REJECTED_DIR / step) for step in ("quality", "decontam", "dedup")}


def corpus_stages(
    config: CorpusConfig, out_dir: Path, work: Path, decontaminator: Decontaminator | None
) -> list[tuple[str, list[PipelineStep], int]]:
    """The (name, pipeline, tasks) of every stage, in order (see the module docstring)."""
    tasks = config.executor.tasks
    names = tuple(s.name for s in config.sources)
    mh = minhash_config(config.dedup)
    rejected = rejected_dirs(out_dir) if config.keep_rejected else {}
    prepare: list[PipelineStep] = [
        SourceReader(config.sources, stream_shards=tasks),
        Normalizer(),
        QualityFilter(config.code_filter, config.text_filter, rejected.get("quality")),
        DecontamFilter(decontaminator, str(work / "decontam"), rejected.get("decontam")),
        *document_writers(str(work / "docs")),
    ]
    if config.dedup.near:
        prepare.append(
            MinhashDedupSignature(
                str(work / "minhash" / "sigs"), config=mh, language=CodeWordTokenizer()
            )
        )
    stages: list[tuple[str, list[PipelineStep], int]] = [("1-prepare", prepare, tasks)]
    if config.dedup.near:
        buckets = MinhashDedupBuckets(
            str(work / "minhash" / "sigs"),
            str(work / "minhash" / "dups"),
            config=mh,
            only_dedup_in_index=False,
        )
        stages.append(("2-lsh-buckets", [buckets], config.dedup.bands))
    removed = str(work / "dedup" / "removed.json")
    stages += [
        (
            "3-dedup-clusters",
            [
                DedupClusterStep(
                    str(work / "docs"),
                    str(work / "minhash" / "dups"),
                    removed,
                    tasks,
                    config.dedup,
                    rejected.get("dedup"),
                )
            ],
            1,
        ),
        (
            "4-tokenizer",
            [
                TrainTokenizerStep(
                    config.tokenizer,
                    str(work / "docs"),
                    removed,
                    tasks,
                    str(out_dir / "tokenizer"),
                    config.pack.seq_len,
                )
            ],
            1,
        ),
        (
            "5-tokenize",
            [
                TokenizeStep(
                    str(out_dir / "tokenizer"),
                    str(work / "docs"),
                    removed,
                    str(work / "tokens"),
                    names,
                )
            ],
            tasks,
        ),
        (
            "6-mix",
            [
                MixStep(
                    str(work / "tokens"),
                    tasks,
                    str(work / "plan"),
                    names,
                    config.target_shares(),
                    config.mix.token_budget,
                    config.mix.seed,
                    config.mix.share_tolerance,
                )
            ],
            1,
        ),
        (
            "7-pack",
            [
                PackStep(
                    str(work / "plan"),
                    str(work / "tokens"),
                    tasks,
                    str(out_dir),
                    config.pack.seq_len,
                    config.pack.rows_per_shard,
                    str(out_dir / "tokenizer"),
                )
            ],
            tasks,
        ),
        ("8-finalize", [FinalizeStep(str(work), str(out_dir), config.hash_payload(), tasks)], 1),
    ]
    return stages


def build_corpus(
    config: CorpusConfig,
    out_dir: Path,
    *,
    workers: int = 1,
    force: bool = False,
    work_dir: Path | None = None,
    keep_work: bool = False,
    verify: bool = False,
    on_stage: StageHook | None = None,
    ray_address: str | None = None,
) -> StageResult:
    """Build the corpus artifact of ``config`` in ``out_dir``; returns the stage's result.

    Goes through :func:`lemur_core.stage.claim`: a second build into ``out_dir`` while one runs
    refuses ("already running (pid N, since T)"); a corpus already made from the same config is
    reused (``result.reused``) once every file's size is re-checked (and sha256 with ``verify``),
    and rebuilt when one is damaged; one made from another config raises
    :class:`StaleArtifactError` naming the fields; ``force`` rebuilds from nothing. ``workers``
    local processes run each stage's tasks; the output is byte-identical for any ``workers``. An
    interrupted build resumes from its scratch directory ``work_dir`` (default:
    ``.<out_dir name>.work`` beside ``out_dir``), which is deleted after success unless
    ``keep_work``. ``on_stage(index, count, name)`` is called as each stage starts.

    ``executor.kind`` ``ray`` runs the stages on a Ray cluster (``ray_address``, else
    ``$RAY_ADDRESS``, else a local one with ``workers`` CPUs) and ``slurm`` as a chain of Slurm
    job arrays (:func:`lemur_data.corpus.cluster.run_stages`); an incomplete task or a failed
    job ends the build with a :class:`~lemur_data.corpus.cluster.ClusterError` naming it and
    its logs. The
    executor is not part of the config hash (the output is the same on each), so a build
    killed on one resumes on another; ``stats.executor`` records the one that finished it.
    """
    payload = config.hash_payload()
    with claim(
        out_dir,
        "corpus",
        payload,
        (),
        force,
        schema_version=CORPUS_SCHEMA_VERSION,
        scratch=work_dir,
        verify=verify,
    ) as stage:
        if stage.status is StageStatus.REUSED:
            return stage.result()
        decontaminator = _preflight(config)
        work = stage.scratch
        # Stages write the artifact into the scratch directory; publish() renames it onto
        # out_dir once complete, so out_dir never holds a half-built corpus.
        stage.staging.mkdir(parents=True, exist_ok=True)
        stages = corpus_stages(config, stage.staging, work, decontaminator)
        run_stages(
            config,
            stages,
            work,
            stage.staging,
            workers=workers,
            address=ray_address,
            on_stage=on_stage,
        )
        built = read_manifest(stage.staging, kind="corpus", schema_version=CORPUS_SCHEMA_VERSION)
        # Not identity (see CorpusConfig.hash_payload), but worth knowing: who built it.
        recorded = {**built.stats, "executor": config.executor.kind}
        return stage.publish(built.model_copy(update={"stats": recorded}), keep_scratch=keep_work)


def corpus_summary(manifest: ArtifactManifest) -> dict[str, Any]:
    """The headline numbers of a built corpus (rows, tokens, efficiency, per-source shares)."""
    stats = manifest.stats
    return {
        "rows": stats["rows"],
        "tokens": stats["tokens"],
        "packing_efficiency": stats["packing_efficiency"],
        "shares": {s["name"]: s["realized_share"] for s in stats["sources"]},
    }
