"""Held-out SFT loss: a few examples kept out of training, scored after some steps.

The held-out examples are the ones whose id hashes lowest (BLAKE2b of the example id), so the
choice depends on the instruct set alone, not on the order it was read in nor on the number of
ranks. :class:`HeldOutLossHook` adds their loss (the same assistant-token cross-entropy as
training, overall and per source) to the step's metrics record before it is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from lemur_sft.hooks import StepInfo
from lemur_sft.masking import IGNORE_INDEX, EncodedExample
from lemur_sft.packing import shifted_targets

if TYPE_CHECKING:
    from accelerate import Accelerator

MAX_HELDOUT_SHARE = 0.1
"""Never hold out more than this share of the set: a small set still trains."""


def id_rank(example_id: str) -> bytes:
    """The held-out order of an example id: lowest first (BLAKE2b, 8 bytes)."""
    return hashlib.blake2b(example_id.encode("utf-8"), digest_size=8).digest()


def split_heldout(
    encoded: Sequence[EncodedExample], count: int
) -> tuple[list[EncodedExample], list[EncodedExample]]:
    """``(train, heldout)``: the ``count`` (at most a tenth of the set) examples with the lowest
    id hash are held out; both keep the input order."""
    n = min(count, int(MAX_HELDOUT_SHARE * len(encoded)))
    held = {e.id for e in sorted(encoded, key=lambda e: id_rank(e.id))[:n]}
    return [e for e in encoded if e.id not in held], [e for e in encoded if e.id in held]


class HeldOutLossHook:
    """Adds ``heldout_loss``, ``heldout_loss_by_source`` and ``heldout_targets`` to the metrics
    of every ``every``-th step and the last (``every`` 0: the last only). Runs on every rank
    (each scores every held-out example, so a sharded model's forward stays collective)."""

    def __init__(
        self,
        accelerator: Accelerator,
        model: torch.nn.Module,
        heldout: Sequence[EncodedExample],
        *,
        every: int,
    ) -> None:
        self.accelerator = accelerator
        self.model = model
        self.heldout = list(heldout)
        self.every = every

    def due(self, step: int, is_last: bool) -> bool:
        """Whether step ``step`` (1-based) is scored."""
        return bool(self.heldout) and (is_last or (self.every > 0 and step % self.every == 0))

    def on_step(self, info: StepInfo) -> None:
        if self.due(info.step, info.is_last):
            info.metrics.update(self.evaluate())

    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        """The held-out examples' loss (nats per assistant token), overall and by source."""
        device = self.accelerator.device
        was_training = self.model.training
        self.model.eval()
        loss: dict[str, float] = {}
        targets: dict[str, int] = {}
        try:
            for example in self.heldout:
                out = self.model(
                    input_ids=torch.as_tensor(example.input_ids, device=device)[None],
                    use_cache=False,
                )
                labels = torch.as_tensor(shifted_targets(example.labels), device=device)
                token_loss = F.cross_entropy(
                    out.logits[0].float(), labels, ignore_index=IGNORE_INDEX, reduction="sum"
                )
                loss[example.source] = loss.get(example.source, 0.0) + float(token_loss)
                counted = int((labels != IGNORE_INDEX).sum())
                targets[example.source] = targets.get(example.source, 0) + counted
        finally:
            self.model.train(was_training)
        total = sum(targets.values())
        return {
            "heldout_loss": sum(loss.values()) / total if total else None,
            "heldout_loss_by_source": {
                s: loss[s] / targets[s] for s in sorted(loss) if targets[s] > 0
            },
            "heldout_targets": total,
        }
