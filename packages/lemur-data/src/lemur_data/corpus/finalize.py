"""The last two stages: planning the mixture and writing the artifact's description.

:class:`MixStep` turns the tokenized documents into a :class:`~lemur_data.corpus.pack.StreamPlan`;
:class:`FinalizeStep` checks the packed shards (realized shares, packing efficiency), writes
``shards.json``, the decontamination log and ``manifest.json``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from datatrove.pipeline.base import PipelineStep
from lemur_core.atomic import atomic_write_text, file_sha256
from lemur_core.corpus import CORPUS_SCHEMA_VERSION, FileRef, TokenShard, TokenShardSpec
from lemur_core.manifest import ArtifactManifest, Producer, write_manifest

from lemur_data import __version__
from lemur_data.corpus.mixer import MixError, SourceDocs, plan_mixture
from lemur_data.corpus.pack import (
    SHARD_ARRAYS,
    StreamPlan,
    num_rows,
    shard_path,
    special_ids_of_dir,
)
from lemur_data.corpus.reference import reference_stats


class PackingError(ValueError):
    """The packed corpus misses a configured quality bar (efficiency, shares)."""


class MixStep(PipelineStep):
    """datatrove step (one task): plans which documents go where (``plan.npz``, ``mix.json``)."""

    name = "lemur mix"
    type = "🥣 - MIX"

    def __init__(
        self,
        tokens_dir: str,
        tasks: int,
        plan_dir: str,
        source_names: tuple[str, ...],
        target_shares: dict[str, float],
        budget: int | None,
        seed: int,
        tolerance: float,
    ) -> None:
        super().__init__()
        self.tokens_dir = tokens_dir
        self.tasks = tasks
        self.plan_dir = plan_dir
        self.source_names = source_names
        self.target_shares = target_shares
        self.budget = budget
        self.seed = seed
        self.tolerance = tolerance

    def run(self, data: object = None, rank: int = 0, world_size: int = 1) -> None:  # type: ignore[override]
        """Plan the mixture; raises :class:`MixError` when a share is out of tolerance."""
        per_source: dict[int, list[tuple[str, int, int, int]]] = defaultdict(list)
        for task in range(self.tasks):
            index = json.loads((Path(self.tokens_dir) / f"{task:05d}.docs.json").read_text())
            for doc_id, source, start, length in index:
                per_source[source].append((doc_id, task, start, length))
        for docs in per_source.values():
            docs.sort()  # canonical order: by document id, independent of tasks
        sources = [
            SourceDocs(name, np.array([d[3] + 1 for d in per_source[i]], dtype=np.int64))
            for i, name in enumerate(self.source_names)
        ]
        schedule = plan_mixture(
            sources,
            self.target_shares,
            budget=self.budget,
            seed=self.seed,
            tolerance=self.tolerance,
        )
        table = [
            np.array([d[1:] for d in per_source[i]], dtype=np.int64).reshape(-1, 3)
            for i in range(len(self.source_names))
        ]
        picked = (
            np.stack([table[s][d] for s, d in zip(schedule.source, schedule.document, strict=True)])
            if len(schedule.document)
            else np.zeros((0, 3), dtype=np.int64)
        )
        plan = StreamPlan(
            task=picked[:, 0].astype(np.int32),
            start=picked[:, 1].astype(np.int64),
            length=picked[:, 2].astype(np.int64),
            source=schedule.source.astype(np.int32),
        )
        plan.save(Path(self.plan_dir))
        mix = {
            "budget": schedule.budget,
            "documents": len(schedule.document),
            "sources": [
                {
                    "name": m.name,
                    "target_share": m.target_share,
                    "available_tokens": m.available_tokens,
                    "scheduled_tokens": m.scheduled_tokens,
                    "epochs": m.epochs,
                    "documents": len(per_source[i]),
                }
                for i, m in enumerate(schedule.sources)
            ],
        }
        atomic_write_text(Path(self.plan_dir) / "mix.json", json.dumps(mix, indent=2))


def read_stage_counters(logging_dir: Path) -> Counter[str]:
    """Sum of the ``stat_update`` counters of every task of a datatrove stage."""
    totals: Counter[str] = Counter()
    for path in sorted((logging_dir / "stats").glob("*.json")):
        for step in json.loads(path.read_text(encoding="utf-8")):
            for key, value in step.get("stats", {}).items():
                if isinstance(value, dict):
                    totals[key] += int(value.get("total", 0))
                elif isinstance(value, int | float):
                    totals[key] += int(value)
    return totals


def _counts_by_source(counters: Counter[str], prefix: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for key, value in sorted(counters.items()):
        if key.startswith(prefix + "/"):
            source, reason = key[len(prefix) + 1 :].split("/", 1)
            out[source][reason] = value
    return dict(out)


def _shard_reader(
    out: Path, rows_per_shard: int, shards: int
) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Reads packed rows by global index from the shards just written.

    Each call maps the shards it needs, copies the rows out and unmaps them again: a mapping
    kept open would keep every page it touched resident, so RSS would grow with the rows read.
    """

    def read(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        shard_of, local = np.divmod(np.asarray(indices, np.int64), rows_per_shard)
        picked: list[np.ndarray] = []
        for name in SHARD_ARRAYS:
            result: np.ndarray | None = None
            for shard in np.unique(shard_of):
                if not 0 <= shard < shards:
                    raise IndexError(f"row of shard {shard}: the corpus has {shards} shards")
                rows = np.flatnonzero(shard_of == shard)
                mapped = np.load(out / shard_path(int(shard), name), mmap_mode="r")
                if result is None:
                    result = np.empty((len(indices), *mapped.shape[1:]), mapped.dtype)
                result[rows] = mapped[local[rows]]
                del mapped
            picked.append(result if result is not None else np.zeros((0, 0), np.int64))
        return picked[0], picked[1], picked[2]

    return read


class FinalizeStep(PipelineStep):
    """datatrove step (one task): writes ``shards.json``, the decontamination log, the manifest."""

    name = "lemur finalize"
    type = "🏁 - FINALIZE"

    def __init__(self, work_dir: str, out_dir: str, config: dict[str, Any], tasks: int) -> None:
        super().__init__()
        self.work_dir = work_dir
        self.out_dir = out_dir
        self.config = config
        self.tasks = tasks

    def run(self, data: object = None, rank: int = 0, world_size: int = 1) -> None:  # type: ignore[override]
        """Verify the packed shards against the plan and describe the artifact."""
        work, out = Path(self.work_dir), Path(self.out_dir)
        cfg = self.config
        sources = tuple(s["name"] for s in cfg["sources"])
        mix = json.loads((work / "plan" / "mix.json").read_text())
        plan = StreamPlan.load(work / "plan")
        seq_len, per_shard = cfg["pack"]["seq_len"], cfg["pack"]["rows_per_shard"]
        rows = num_rows(plan.total_tokens, seq_len)
        from lemur_data.corpus.tokenize import cached_tokenizer

        tok = cached_tokenizer(out / "tokenizer" / "tokenizer.json")
        eos_id, pad_id = special_ids_of_dir(out / "tokenizer")
        shards, per_source_tokens, padding = [], np.zeros(len(sources), dtype=np.int64), 0
        for index in range(-(-rows // per_shard)):
            refs = {
                name: FileRef(
                    path=shard_path(index, name), sha256=file_sha256(out / shard_path(index, name))
                )
                for name in SHARD_ARRAYS
            }
            src = np.load(out / shard_path(index, "source_ids"), mmap_mode="r")
            counts = np.bincount(np.asarray(src[src >= 0], dtype=np.int64), minlength=len(sources))
            per_source_tokens += counts
            padding += int((src < 0).sum())
            shards.append(TokenShard(rows=int(src.shape[0]), **refs))
        spec = TokenShardSpec(
            seq_len=seq_len,
            token_dtype="uint32",
            vocab_size=tok.get_vocab_size(),
            eos_token_id=eos_id,
            pad_token_id=pad_id,
            tokenizer_path="tokenizer",
            sources=sources,
            rows=rows,
            tokens_per_source={n: int(c) for n, c in zip(sources, per_source_tokens, strict=True)},
            shards=tuple(shards),
        )
        total = int(per_source_tokens.sum())
        efficiency = total / (rows * seq_len) if rows else 0.0
        if efficiency < cfg["pack"]["min_efficiency"]:
            raise PackingError(
                f"packing efficiency {efficiency:.4f} is below pack.min_efficiency="
                f"{cfg['pack']['min_efficiency']}; the corpus is too small for seq_len {seq_len}"
            )
        tolerance = cfg["mix"]["share_tolerance"]
        prepare = read_stage_counters(work / "logs" / "1-prepare")
        removed = _counts_by_source(prepare, "removed")
        skipped = _counts_by_source(prepare, "skip")
        dedup = json.loads((work / "dedup" / "removed.json").read_text())
        doc_sources = self._doc_sources(work)
        for task_removed in dedup["removed"].items():
            rank, items = task_removed
            for idx, reason in items.items():
                source = doc_sources[int(rank)][int(idx)]
                removed.setdefault(source, {})
                removed[source][reason] = removed[source].get(reason, 0) + 1
        source_stats = []
        for i, entry in enumerate(mix["sources"]):
            realized = int(per_source_tokens[i]) / total if total else 0.0
            if abs(realized - entry["target_share"]) > tolerance:
                raise MixError(
                    f"source '{entry['name']}': packed share {realized:.4f} is off its target "
                    f"{entry['target_share']:.4f} by more than mix.share_tolerance={tolerance}"
                )
            source_stats.append(
                {
                    **entry,
                    "type": cfg["sources"][i]["type"],
                    "packed_tokens": int(per_source_tokens[i]),
                    "realized_share": realized,
                    "read": prepare.get(f"read/{entry['name']}", 0),
                    "kept_after_filters": prepare.get(f"kept/{entry['name']}", 0),
                    "removed": removed.get(entry["name"], {}),
                    "skipped": skipped.get(entry["name"], {}),
                }
            )
        hits = "".join(
            p.read_text(encoding="utf-8") for p in sorted((work / "decontam").glob("*.jsonl"))
        )
        atomic_write_text(out / "decontam_hits.jsonl", hits)
        atomic_write_text(out / "shards.json", spec.model_dump_json(indent=2) + "\n")
        stats = {
            "rows": rows,
            "tokens": total,
            "padding_tokens": padding,
            "packing_efficiency": efficiency,
            "budget": mix["budget"],
            "sources": source_stats,
            "dedup": {
                **dedup["stats"],
                "ngram_size": cfg["dedup"]["ngram_size"],
                "bands": cfg["dedup"]["bands"],
                "rows_per_band": cfg["dedup"]["rows_per_band"],
                # LSH parameters reported as the Jaccard threshold they imply, (1/b)^(1/r).
                "implied_threshold": (1.0 / cfg["dedup"]["bands"])
                ** (1.0 / cfg["dedup"]["rows_per_band"]),
            },
            "decontam_hits": hits.count("\n"),
            "shards": json.loads(spec.model_dump_json()),
            # The held-out rows (pre-training evaluates on them, never trains on them) and the
            # unigram / bigram cross-entropies a model has to beat on them.
            **reference_stats(
                _shard_reader(out, per_shard, len(shards)), rows, spec.vocab_size, sources
            ),
        }
        manifest = ArtifactManifest.create(
            kind="corpus",
            schema_version=CORPUS_SCHEMA_VERSION,
            producer=Producer(package="lemur-data", version=__version__),
            config=cfg,
            stats=stats,
        )
        write_manifest(out, manifest)

    def _doc_sources(self, work: Path) -> list[list[str]]:
        out = []
        for rank in range(self.tasks):
            lines = (
                (work / "docs" / f"{rank:05d}.meta.jsonl").read_text(encoding="utf-8").splitlines()
            )
            out.append([json.loads(line)["id"].split("/", 1)[0] for line in lines])
        return out
