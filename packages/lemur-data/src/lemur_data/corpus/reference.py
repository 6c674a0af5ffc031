"""The held-out split of a packed corpus and the n-gram reference lines a model must beat.

Held-out rows are chosen by a hash of the row index alone (SplitMix64), so the choice depends
on neither the shard layout nor the number of tasks, and pre-training can exclude them and
evaluate on them (their indices are recorded in the manifest's ``stats["heldout"]``).

The references are cross-entropies in nats per token of the held-out rows' tokens under two
count models of the *training* rows, over exactly the targets the trainer's loss counts (not
padding, not a document's first token predicted from the previous document):

* unigram, add-one smoothed over the vocabulary;
* bigram interpolated with that unigram by Witten-Bell weights,
  ``p(w|v) = (c(v,w) + T(v) p1(w)) / (c(v) + T(v))`` with ``T(v)`` the number of distinct
  followers of ``v`` — a standard parameter-free interpolation, so nothing is tuned on the
  held-out rows themselves.

A model that only learned token frequencies sits on the unigram line; one that learned nothing
beyond the previous token sits on the bigram line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

HELDOUT_FRACTION = 0.05
"""Share of rows held out (at least one row when the corpus has two or more)."""
MAX_HELDOUT_ROWS = 1024
"""Cap on held-out rows, so the manifest's index list stays small for a large corpus."""
MAX_COUNTED_ROWS = 65536
"""Cap on training rows counted for the references (the lowest-hash ones beyond the held-out)."""
HELDOUT_RULE = (
    "rows with the smallest splitmix64(row index); "
    f"count = min({MAX_HELDOUT_ROWS}, max(1, round({HELDOUT_FRACTION} * rows)))"
)

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix64(values: np.ndarray) -> np.ndarray:
    """The SplitMix64 finalizer of each value (uint64 in, uint64 out; wraps like C)."""
    z = np.asarray(values, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (z ^ (z >> np.uint64(31))) & _MASK64


def row_order(rows: int) -> np.ndarray:
    """Row indices sorted by their hash (ties impossible: SplitMix64 is a bijection)."""
    return np.argsort(splitmix64(np.arange(rows, dtype=np.uint64)), kind="stable")


def heldout_count(rows: int) -> int:
    """How many of ``rows`` rows are held out."""
    if rows < 2:
        return 0  # a one-row corpus has nothing to spare for training
    return min(MAX_HELDOUT_ROWS, max(1, round(HELDOUT_FRACTION * rows)))


def heldout_rows(rows: int) -> np.ndarray:
    """The held-out row indices of a corpus of ``rows`` rows, ascending."""
    return np.sort(row_order(rows)[: heldout_count(rows)])


@dataclass(frozen=True)
class _Targets:
    """Counted next-token targets: context token, target token, target's source."""

    context: np.ndarray
    target: np.ndarray
    source: np.ndarray


def targets_of(
    tokens: np.ndarray, segments: np.ndarray, sources: np.ndarray, *, cross_document: bool = False
) -> _Targets:
    """The (context, target, source) triples the trainer's loss counts in rows ``[R, L]``
    (the same rule as ``lemur_train.packing.target_mask``)."""
    valid = segments[:, 1:] != 0
    if not cross_document:
        valid &= segments[:, 1:] == segments[:, :-1]
    return _Targets(
        context=np.asarray(tokens[:, :-1][valid], dtype=np.int64),
        target=np.asarray(tokens[:, 1:][valid], dtype=np.int64),
        source=np.asarray(sources[:, 1:][valid], dtype=np.int64),
    )


RowReader = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
"""Reads rows by global index: (tokens, segment_ids, source_ids), each ``[len(idx), L]``."""


def _gather(read: RowReader, indices: np.ndarray, chunk: int = 4096) -> _Targets:
    parts = [targets_of(*read(indices[i : i + chunk])) for i in range(0, len(indices), chunk)]
    if not parts:
        empty = np.zeros(0, np.int64)
        return _Targets(empty, empty, empty)
    return _Targets(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in _Targets.__annotations__)
    )


@dataclass
class _TrainCounts:
    """What the references need from the training rows, in memory that does not grow with them.

    Counts for every token (unigram, as a context) are ``[V]`` arrays; pair counts are kept only
    for the held-out rows' pairs, and the distinct-follower sets only for their contexts: the
    held-out side is capped (``MAX_HELDOUT_ROWS``), so neither grows with the training rows.
    """

    unigram: np.ndarray  # int64 [V]: c(w) as a target
    context: np.ndarray  # int64 [V]: c(v) as a context
    pair: np.ndarray  # int64 [len(test_keys)]: c(v, w) of each distinct held-out pair
    followers: np.ndarray  # int64 [held-out contexts]: T(v) of each, in context order
    tokens: int


def _count_training(
    read: RowReader,
    indices: np.ndarray,
    vocab_size: int,
    test_keys: np.ndarray,
    local: np.ndarray,
    contexts: int,
    chunk: int,
) -> _TrainCounts:
    """Stream the training rows ``chunk`` at a time into :class:`_TrainCounts`.

    Pairs are keyed ``local[v] * V + w``, ``local`` numbering the ``contexts`` held-out contexts
    (-1 for the others), in ``test_keys``' dtype (uint32 whenever that key space fits: half the
    memory); ``test_keys`` are the sorted distinct held-out pair keys. Per chunk, the keys of
    held-out contexts (every held-out pair among them) are sorted once: their runs give the
    chunk's pair counts, looked up for the held-out keys, and its distinct keys, of which the
    new ones are inserted into one sorted run bounded by the distinct pairs, not the tokens."""
    unigram = np.zeros(vocab_size, np.int64)
    context = np.zeros(vocab_size, np.int64)
    pair = np.zeros(len(test_keys), np.int64)
    seen = np.zeros(0, test_keys.dtype)  # sorted distinct keys of the held-out contexts
    tokens = 0
    for i in range(0, len(indices), chunk):
        part = targets_of(*read(indices[i : i + chunk]))
        tokens += len(part.target)
        unigram += np.bincount(part.target, minlength=vocab_size)
        context += np.bincount(part.context, minlength=vocab_size)
        slot = local[part.context]
        keep = slot >= 0
        keys = np.sort((slot[keep] * vocab_size + part.target[keep]).astype(test_keys.dtype))
        del part, slot, keep
        if len(keys) == 0:
            continue
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        distinct = keys[starts]
        counts = np.diff(np.append(starts, len(keys)))
        del keys, starts
        where = np.minimum(np.searchsorted(distinct, test_keys), len(distinct) - 1)
        hit = distinct[where] == test_keys
        pair[hit] += counts[where[hit]]
        at = np.searchsorted(seen, distinct)
        new = at >= len(seen)
        new[~new] = seen[at[~new]] != distinct[~new]
        seen = np.insert(seen, at[new], distinct[new])  # one copy, still sorted
    followers = np.bincount((seen // vocab_size).astype(np.int64), minlength=contexts)
    return _TrainCounts(unigram, context, pair, followers.astype(np.int64), tokens)


def _distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values (``np.unique`` by a sort: numpy 2's hash-based unique was ~10x
    slower on millions of int64 keys)."""
    ordered = np.sort(values)
    keep = np.ones(len(ordered), bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def _nats(logp: np.ndarray, source: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    per_source = {
        name: float(-logp[source == i].mean())
        for i, name in enumerate(names)
        if (source == i).any()
    }
    return {"nats": float(-logp.mean()), "per_source": per_source}


def reference_stats(
    read: RowReader,
    rows: int,
    vocab_size: int,
    source_names: Sequence[str],
    *,
    chunk: int = 1024,
) -> dict[str, Any]:
    """``{"heldout": ..., "reference": ...}`` for the manifest's stats: the held-out rows and the
    unigram / interpolated-bigram cross-entropies of their tokens under the training rows.

    The training rows are read ``chunk`` at a time and reduced to counts (see
    :class:`_TrainCounts`), so memory stays flat however many rows are counted.
    ``reference`` is absent when the corpus is too small to hold any row out."""
    order = row_order(rows)
    k = heldout_count(rows)
    held = np.sort(order[:k])
    out: dict[str, Any] = {
        "heldout": {"rule": HELDOUT_RULE, "rows": [int(r) for r in held]},
    }
    if k == 0:
        return out
    counted = np.sort(order[k : k + MAX_COUNTED_ROWS])
    test = _gather(read, held, chunk)
    contexts = _distinct(test.context)
    local = np.full(vocab_size, -1, np.int64)
    local[contexts] = np.arange(len(contexts))
    dtype = np.uint32 if len(contexts) * vocab_size <= 2**32 else np.uint64
    keys = (local[test.context] * vocab_size + test.target).astype(dtype)
    test_keys = _distinct(keys)
    train = _count_training(read, counted, vocab_size, test_keys, local, len(contexts), chunk)
    if train.tokens == 0 or len(test.target) == 0:
        return out
    uni = train.unigram.astype(np.float64)
    p_uni = (uni + 1.0) / (uni.sum() + vocab_size)
    context_total = train.context.astype(np.float64)
    followers = np.zeros(vocab_size, np.float64)
    followers[contexts] = train.followers
    c_vw = train.pair[np.searchsorted(test_keys, keys)].astype(np.float64)
    c_v, t_v = context_total[test.context], followers[test.context]
    p1 = p_uni[test.target]
    # An unseen context (c(v) = 0) backs off to the unigram entirely.
    denominator = np.where(c_v > 0, c_v + t_v, 1.0)
    p2 = np.where(c_v > 0, (c_vw + t_v * p1) / denominator, p1)
    unigram = _nats(np.log(p1), test.source, source_names)
    bigram = _nats(np.log(p2), test.source, source_names)
    out["reference"] = {
        "unigram_nats": unigram["nats"],
        "bigram_nats": bigram["nats"],
        "unigram_per_source": unigram["per_source"],
        "bigram_per_source": bigram["per_source"],
        "heldout_tokens": len(test.target),
        "train_tokens_counted": train.tokens,
        "train_rows_counted": len(counted),
        "method": "add-one unigram; Witten-Bell interpolated bigram; counts from training rows",
    }
    return out
