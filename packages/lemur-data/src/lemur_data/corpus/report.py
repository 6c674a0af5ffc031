"""Reading a built corpus back: the Table-8-style mixture table and one decoded packed row."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lemur_core.corpus import CORPUS_SCHEMA_VERSION, TokenShardSpec
from lemur_core.manifest import read_manifest
from rich.table import Table

_FILTER_REASONS_EXCLUDED = ("exact_duplicate", "near_duplicate", "decontaminated")


def load_spec(corpus_dir: Path) -> TokenShardSpec:
    """The shard spec (``shards.json``) of a corpus artifact."""
    return TokenShardSpec.model_validate_json((corpus_dir / "shards.json").read_text("utf-8"))


def _human(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.0f}"


def reference_line(stats: dict[str, Any]) -> str:
    """The held-out split and the n-gram reference cross-entropies of a corpus manifest's stats,
    in one line (empty for a corpus built before they were recorded)."""
    ref = stats.get("reference")
    held = stats.get("heldout", {}).get("rows", [])
    if not ref:
        return f"held-out rows: {len(held)}; no n-gram reference (too few rows)" if held else ""
    per_source = ", ".join(
        f"{name} {ref['unigram_per_source'][name]:.3f}/{ref['bigram_per_source'][name]:.3f}"
        for name in ref["bigram_per_source"]
    )
    return (
        f"held-out: {len(held)} rows, {ref['heldout_tokens']} tokens; reference cross-entropy "
        f"(nats/token): unigram {ref['unigram_nats']:.3f}, interpolated bigram "
        f"{ref['bigram_nats']:.3f} (per source unigram/bigram: {per_source})"
    )


def mixture_table(corpus_dir: Path) -> Table:
    """A Rich table laid out like paper Table 8: type, source, weight, effective tokens,
    epochs, plus the realized share and removal counts by stage."""
    manifest = read_manifest(corpus_dir, kind="corpus", schema_version=CORPUS_SCHEMA_VERSION)
    stats = manifest.stats
    dedup = stats["dedup"]
    threshold = dedup.get("implied_threshold")
    captions = [
        f"near dedup: {dedup.get('bands')} bands x {dedup.get('rows_per_band')} rows of "
        f"{dedup.get('ngram_size')}-gram MinHash = Jaccard threshold {threshold:.2f}; "
        f"{dedup.get('removed_exact', 0)} exact and {dedup.get('removed_near', 0)} near "
        f"duplicates removed; {stats['decontam_hits']} decontamination hits"
        if threshold is not None
        else "",
        reference_line(stats),
    ]
    table = Table(
        title=f"corpus {corpus_dir} — {_human(stats['tokens'])} tokens, "
        f"{stats['rows']} rows, packing {100 * stats['packing_efficiency']:.2f}%",
        caption="\n".join(c for c in captions if c) or None,
    )
    for column in (
        "Type",
        "Source",
        "Weight (%)",
        "Effective tokens",
        "Epochs",
        "Realized (%)",
        "Filtered",
        "Exact dup",
        "Near dup",
        "Decontam",
        "Skipped",
    ):
        if column in ("Type", "Source"):
            table.add_column(column, justify="left")
        else:
            table.add_column(column, justify="right")
    rows = sorted(stats["sources"], key=lambda s: (s["type"] != "code", -s["target_share"]))
    for src in rows:
        removed = src["removed"]
        filtered = sum(v for k, v in removed.items() if k not in _FILTER_REASONS_EXCLUDED)
        table.add_row(
            src["type"],
            src["name"],
            f"{100 * src['target_share']:.2f}",
            _human(src["packed_tokens"]),
            f"{src['epochs']:.2f}",
            f"{100 * src['realized_share']:.2f}",
            str(filtered),
            str(removed.get("exact_duplicate", 0)),
            str(removed.get("near_duplicate", 0)),
            str(removed.get("decontaminated", 0)),
            str(sum(src["skipped"].values())),
        )
    return table


@dataclass(frozen=True, slots=True)
class RowSegment:
    """One document piece of a packed row."""

    segment_id: int
    source: str
    token_ids: list[int]
    text: str


def decode_row(corpus_dir: Path, row: int) -> list[RowSegment]:
    """The document pieces of packed row ``row`` (padding excluded), decoded to text."""
    from tokenizers import Tokenizer

    spec = load_spec(corpus_dir)
    if not 0 <= row < spec.rows:
        raise IndexError(
            f"row {row} is out of range: the corpus has {spec.rows} rows (0..{spec.rows - 1})"
        )
    offset = row
    for shard in spec.shards:
        if offset < shard.rows:
            break
        offset -= shard.rows
    tokens = np.load(corpus_dir / shard.tokens.path, mmap_mode="r")[offset]
    segments = np.load(corpus_dir / shard.segment_ids.path, mmap_mode="r")[offset]
    sources = np.load(corpus_dir / shard.source_ids.path, mmap_mode="r")[offset]
    tokenizer = Tokenizer.from_file(str(corpus_dir / spec.tokenizer_path / "tokenizer.json"))
    out = []
    for seg in sorted(set(int(s) for s in segments) - {0}):
        mask = segments == seg
        ids = [int(t) for t in tokens[mask]]
        source = spec.sources[int(sources[mask][0])]
        out.append(RowSegment(seg, source, ids, tokenizer.decode(ids, skip_special_tokens=False)))
    return out
