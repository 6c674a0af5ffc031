"""Held-out evaluation during pre-training: the corpus's held-out rows, never trained on.

A corpus built by ``lemur-data`` records the indices of its held-out rows in its manifest
(``stats["heldout"]["rows"]``) together with the unigram and interpolated-bigram
cross-entropies of their tokens (``stats["reference"]``). :func:`split_of` reads both: the
trainer samples only the other rows, and :class:`HeldOutEvaluator` measures the model's loss
on the held-out ones (overall and per source, the same masked next-token loss as training)
so the curve can be read against the n-gram lines. A corpus without a manifest (any
directory with a ``shards.json``) has no held-out rows: every row is trained on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from lemur_train.data import PackedCorpus
from lemur_train.sharding import axis_rules
from lemur_train.train_step import token_losses

log = logging.getLogger(__name__)
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class CorpusSplit:
    """Which rows train and which are held out, and the corpus's reference cross-entropies."""

    train_rows: np.ndarray
    heldout_rows: np.ndarray
    reference: dict[str, Any] | None

    def train_row(self, positions: np.ndarray) -> np.ndarray:
        """Global row index of each training-row number the sampler produced."""
        return self.train_rows[positions]


def split_of(corpus: PackedCorpus) -> CorpusSplit:
    """The corpus's held-out rows from its manifest (none when it records none)."""
    everything = np.arange(corpus.rows, dtype=np.int64)
    path = corpus.root / MANIFEST_FILE
    stats: dict[str, Any] = {}
    if path.exists():
        stats = json.loads(path.read_text(encoding="utf-8")).get("stats") or {}
    held = np.asarray(stats.get("heldout", {}).get("rows", []), dtype=np.int64)
    if held.size and (held.min() < 0 or held.max() >= corpus.rows):
        raise ValueError(
            f"{path}: held-out row {int(held.max())} is outside the corpus's {corpus.rows} rows; "
            "rebuild the corpus"
        )
    if held.size == 0:
        log.info("corpus %s records no held-out rows: training on all of them", corpus.root)
    train = np.setdiff1d(everything, held, assume_unique=True)
    return CorpusSplit(train_rows=train, heldout_rows=held, reference=stats.get("reference"))


class HeldOutEvaluator:
    """Loss of the model on (at most ``max_rows`` of) the held-out rows, in batches of
    ``batch_rows`` rows sharded like the training batch; each process reads its own slice."""

    def __init__(
        self,
        model: nn.Module,
        corpus: PackedCorpus,
        rows: np.ndarray,
        *,
        every_steps: int,
        max_rows: int,
        batch_rows: int,
        sharding: Any,
        cross_document: bool,
    ) -> None:
        """``every_steps`` 0 evaluates after the last step only."""
        self.corpus = corpus
        self.rows = np.asarray(rows[:max_rows], dtype=np.int64)
        self.every_steps = every_steps
        self.batch_rows = batch_rows
        self.sharding = sharding
        num_sources = len(corpus.sources)

        def losses(params: Any, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
            with axis_rules():
                return token_losses(model, params, batch, num_sources, cross_document)

        self._losses = jax.jit(losses)

    def due(self, step: int, last_step: int) -> bool:
        """Whether to evaluate after ``step`` completed steps."""
        if self.rows.size == 0:
            return False
        return step == last_step or (self.every_steps > 0 and step % self.every_steps == 0)

    def _local_batch(self, start: int) -> dict[str, np.ndarray]:
        per_host = self.batch_rows // jax.process_count()
        first = start + jax.process_index() * per_host
        wanted = np.arange(first, first + per_host)
        real = wanted < len(self.rows)
        # The last batch is filled up with copies of row 0 whose segments are all padding:
        # they count no target, so the sums are those of the real rows alone.
        batch = self.corpus.read_rows(self.rows[np.where(real, wanted, 0)])
        batch["segment_ids"][~real] = 0
        return batch

    def evaluate(self, params: Any) -> dict[str, Any]:
        """``heldout_loss`` (nats per counted target), ``heldout_loss_per_source``,
        ``heldout_tokens``: one metrics record's worth."""
        totals: dict[str, np.ndarray] = {}
        for start in range(0, len(self.rows), self.batch_rows):
            local = self._local_batch(start)
            batch = {
                name: jax.make_array_from_process_local_data(self.sharding, array)
                for name, array in local.items()
            }
            sums = jax.device_get(self._losses(params, batch))
            for key, value in sums.items():
                totals[key] = totals.get(key, 0) + np.asarray(value, dtype=np.float64)
        counts, sums_by_source = totals["source_count"], totals["source_loss_sum"]
        return {
            "heldout_loss": float(totals["loss_sum"] / max(float(totals["count"]), 1.0)),
            "heldout_loss_per_source": {
                name: float(sums_by_source[i] / counts[i])
                for i, name in enumerate(self.corpus.sources)
                if counts[i] > 0
            },
            "heldout_tokens": int(totals["count"]),
        }
