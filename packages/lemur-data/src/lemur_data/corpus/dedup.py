"""Exact and near (MinHash-LSH) deduplication across all sources.

Near dedup follows datatrove's MinHash pipeline (signatures per task, LSH bucket matching per
band, then clusters) with its configuration (:func:`minhash_config`) and file formats; the
signature and bucket steps are the vectorized ones of :mod:`lemur_data.corpus.minhash`
(``VectorMinhashSignature``, ``VectorMinhashBuckets``), which read and write datatrove's files.
What this module adds is

* a word tokenizer in which punctuation counts (``x+1`` and ``x-1`` are different code), and
* :class:`DedupClusterStep`: exact-duplicate groups by content hash plus union-find over the
  LSH pairs, with a survivor rule that does not depend on how documents were split into tasks:
  **the document with the smallest id survives** (ids are ``source/path[:line]``).
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from pathlib import Path

import regex
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.writers.jsonl import JsonlWriter
from datatrove.utils.hashing import HashConfig
from datatrove.utils.text import TextNormConfig
from datatrove.utils.word_tokenizers import WordTokenizer
from lemur_core.atomic import atomic_write_text

from lemur_data.corpus.config import DedupConfig

_CODE_TOKEN = regex.compile(r"\w+|[^\w\s]")
_SENTINEL = (1 << 32) - 1


class CodeWordTokenizer(WordTokenizer):
    """Splits text into words and single punctuation characters (each one a token)."""

    def __init__(self) -> None:
        super().__init__("code")

    def word_tokenize(self, text: str) -> list[str]:
        """Words (``\\w+``) and every non-space punctuation character, in order."""
        return _CODE_TOKEN.findall(text)

    def sent_tokenize(self, text: str) -> list[str]:
        """Lines stand in for sentences in code."""
        return [line for line in text.split("\n") if line.strip()]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        """Character spans of :meth:`word_tokenize`'s tokens."""
        return [m.span() for m in _CODE_TOKEN.finditer(text)]


def minhash_config(config: DedupConfig) -> MinhashConfig:
    """datatrove's MinhashConfig for ``config``: punctuation and numbers kept, case folded,
    32-bit signatures (what the vectorized steps write; datatrove's own steps accept it too)."""
    return MinhashConfig(
        n_grams=config.ngram_size,
        num_buckets=config.bands,
        hashes_per_bucket=config.rows_per_band,
        seed=config.seed,
        norm_config=TextNormConfig(
            lowercase=True,
            norm_whitespace=True,
            remove_punctuation=False,
            norm_unicode_diacritics=False,
            norm_numbers=False,
        ),
        hash_config=HashConfig(precision=32, hash_fc="xxhash"),
    )


def lsh_match_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that two documents of Jaccard ``similarity`` share at least one band."""
    return float(1.0 - (1.0 - similarity**rows) ** bands)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while x != root:  # path compression keeps later finds O(1)
            nxt = self.parent.get(x, x)
            self.parent[x] = root
            x = nxt
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def read_doc_ids(meta_dir: Path, tasks: int) -> list[list[tuple[str, str]]]:
    """Per task, the (doc id, exact key) of each document in the order of the task's file."""
    out: list[list[tuple[str, str]]] = []
    for rank in range(tasks):
        path = meta_dir / f"{rank:05d}.meta.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        out.append([(r["id"], r["exact_key"]) for r in rows])
    return out


def _read_pairs(dups_dir: Path) -> list[tuple[int, int, int, int]]:
    pairs: list[tuple[int, int, int, int]] = []
    for path in sorted(dups_dir.glob("*.dups")):
        data = path.read_bytes()
        pairs.extend(struct.iter_unpack("<4I", data))
    return pairs


def cluster_duplicates(
    docs: list[list[tuple[str, str]]],
    pairs: list[tuple[int, int, int, int]],
    *,
    exact: bool,
    near: bool,
) -> tuple[dict[int, dict[int, str]], dict[str, int]]:
    """Decide which documents to drop.

    ``docs[rank][idx]`` is (doc id, exact key); ``pairs`` are LSH matches
    ``(rank1, idx1, rank2, idx2)``. Returns ``{rank: {idx: reason}}`` for the removed documents
    (reason ``exact_duplicate`` or ``near_duplicate``) and cluster statistics. In every cluster
    the document with the smallest id survives.
    """
    offsets = [0]
    for task_docs in docs:
        offsets.append(offsets[-1] + len(task_docs))
    flat_ids = [doc_id for task_docs in docs for doc_id, _ in task_docs]
    # Node numbers follow sorted doc ids, so "smallest root" == "smallest id" in union-find.
    order = sorted(range(len(flat_ids)), key=flat_ids.__getitem__)
    node_of = [0] * len(flat_ids)
    for node, flat in enumerate(order):
        node_of[flat] = node
    removed: dict[int, str] = {}
    stats: Counter[str] = Counter()
    if exact:
        first_by_key: dict[str, int] = {}
        group_sizes: Counter[str] = Counter()
        flat = 0
        for task_docs in docs:
            for _, key in task_docs:
                node = node_of[flat]
                group_sizes[key] += 1
                kept = first_by_key.get(key)
                if kept is None:
                    first_by_key[key] = node
                elif node < kept:
                    removed[kept] = "exact_duplicate"
                    first_by_key[key] = node
                else:
                    removed[node] = "exact_duplicate"
                flat += 1
        stats["exact_groups"] = sum(1 for size in group_sizes.values() if size > 1)
    if near:
        uf = _UnionFind()
        touched: set[int] = set()
        for r1, d1, r2, d2 in pairs:
            if _SENTINEL in (r1, d1):
                continue
            a, b = node_of[offsets[r1] + d1], node_of[offsets[r2] + d2]
            touched.update((a, b))
            uf.union(a, b)
        sizes: Counter[int] = Counter()
        for node in touched:
            root = uf.find(node)
            sizes[root] += 1
            if node != root and node not in removed:
                removed[node] = "near_duplicate"
        stats["near_clusters"] = len(sizes)
        stats["largest_near_cluster"] = max(sizes.values(), default=0)
    per_task: dict[int, dict[int, str]] = {}
    flat = 0
    for rank, task_docs in enumerate(docs):
        for idx in range(len(task_docs)):
            reason = removed.get(node_of[flat])
            if reason is not None:
                per_task.setdefault(rank, {})[idx] = reason
            flat += 1
    stats["documents"] = len(flat_ids)
    stats["removed_exact"] = sum(1 for r in removed.values() if r == "exact_duplicate")
    stats["removed_near"] = sum(1 for r in removed.values() if r == "near_duplicate")
    return per_task, dict(stats)


class DedupClusterStep(PipelineStep):
    """datatrove step (one task): writes ``removed.json`` from exact keys and LSH pairs.

    With ``rejected_dir`` the removed documents themselves are written there too by datatrove's
    JsonlWriter, one file per prepare task (``<rank>.jsonl``), each with
    ``metadata.filter_reason`` ``exact_duplicate`` or ``near_duplicate``, as the filters'
    exclusion writers write theirs.
    """

    name = "lemur dedup clusters"
    type = "🫂 - DEDUP"

    def __init__(
        self,
        meta_dir: str,
        dups_dir: str,
        out_path: str,
        tasks: int,
        config: DedupConfig,
        rejected_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.meta_dir = meta_dir
        self.dups_dir = dups_dir
        self.out_path = out_path
        self.tasks = tasks
        self.config = config
        self.rejected_dir = rejected_dir

    def run(self, data: object = None, rank: int = 0, world_size: int = 1) -> None:  # type: ignore[override]
        """Cluster and write the removal lists (atomically)."""
        docs = read_doc_ids(Path(self.meta_dir), self.tasks)
        pairs = _read_pairs(Path(self.dups_dir)) if self.config.near else []
        removed, stats = cluster_duplicates(
            docs, pairs, exact=self.config.exact, near=self.config.near
        )
        stats["lsh_pairs"] = len(pairs)
        payload = {
            "removed": {str(r): {str(i): why for i, why in d.items()} for r, d in removed.items()},
            "stats": stats,
        }
        if self.rejected_dir is not None:
            self._write_rejected(removed)
        atomic_write_text(self.out_path, json.dumps(payload, sort_keys=True))

    def _write_rejected(self, removed: dict[int, dict[int, str]]) -> None:
        # Written before removed.json: a rerun after a kill rewrites every file from the start.
        with JsonlWriter(self.rejected_dir, compression=None) as writer:
            for rank, drop in sorted(removed.items()):
                path = Path(self.meta_dir) / f"{rank:05d}.jsonl"
                with path.open(encoding="utf-8") as handle:
                    for idx, line in enumerate(handle):
                        reason = drop.get(idx)
                        if reason is None:
                            continue
                        row = json.loads(line)
                        metadata = {k: row[k] for k in ("source", "language", "type")}
                        doc = Document(row["text"], row["id"], metadata=metadata)
                        doc.metadata["filter_reason"] = reason
                        writer.write(doc, rank)
