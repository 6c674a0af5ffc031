"""One optimizer step of SFT: forward/backward over this rank's packed micro-batches, clip, update.

The loss is the mean over every assistant token of the global batch (all micro-batches of all
ranks), whatever the micro-batch or rank a token sits in; per-source sums are kept for the
metrics. The result is the same for any split of the global batch into ranks x accumulation
(see ``tests/test_sft_train.py`` and ``tests/test_sft_zero.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from lemur_sft.masking import IGNORE_INDEX
from lemur_sft.packing import PackedMicroBatch

if TYPE_CHECKING:
    from accelerate import Accelerator


@dataclass(frozen=True)
class StepOutput:
    """What one optimizer step measured, summed over every rank.

    ``loss_by_source`` / ``targets_by_source`` are indexed like the step's ``source_names``.
    """

    loss_by_source: torch.Tensor
    targets_by_source: torch.Tensor
    tokens: int
    grad_norm: float | None

    @property
    def loss(self) -> float:
        """Mean loss over every assistant token of the global batch."""
        return float(self.loss_by_source.sum() / self.targets_by_source.sum())

    @property
    def target_tokens(self) -> int:
        """Assistant tokens of the global batch (the loss's denominator)."""
        return int(self.targets_by_source.sum())


def optimizer_step(
    accelerator: Accelerator,
    model: torch.nn.Module,
    optimizer: Any,
    micro_batches: Sequence[PackedMicroBatch],
    *,
    grad_accum_steps: int,
    source_names: Sequence[str],
    max_grad_norm: float | None,
    deepspeed: bool,
) -> StepOutput:
    """Run one optimizer step on ``micro_batches`` (this rank's share of the global batch).

    ``optimizer`` is the Accelerate-prepared optimizer: its ``step`` only applies once the
    accumulation boundary is reached. Gradient clipping is DeepSpeed's own under DeepSpeed
    (configured from the same value) and ``accelerator.clip_grad_norm_`` otherwise.
    """
    device = accelerator.device
    world = accelerator.num_processes
    local_targets = torch.tensor(
        [float(mb.num_targets) for mb in micro_batches], device=device
    ).sum()
    global_targets = accelerator.reduce(local_targets, reduction="sum")
    # Each token's loss counts once in the global mean, whatever the micro-batch it sits in:
    # the backward passes are pre-multiplied by world x accumulation because DDP/DeepSpeed
    # average over ranks and Accelerate/DeepSpeed divide by the accumulation steps.
    scale = world * grad_accum_steps / global_targets
    loss_sum = torch.zeros(len(source_names), device=device, dtype=torch.float64)
    tok_sum = torch.zeros(len(source_names), device=device, dtype=torch.float64)
    grad_norm: float | None = None
    for mb in micro_batches:
        with accelerator.accumulate(model):
            out = model(
                input_ids=torch.as_tensor(mb.input_ids, device=device)[None],
                position_ids=torch.as_tensor(mb.position_ids, device=device)[None],
                use_cache=False,
            )
            targets = torch.as_tensor(mb.targets, device=device)
            token_loss = F.cross_entropy(
                out.logits[0].float(), targets, ignore_index=IGNORE_INDEX, reduction="none"
            )
            accelerator.backward(token_loss.sum() * scale)
            if accelerator.sync_gradients and max_grad_norm is not None and not deepspeed:
                grad_norm = float(accelerator.clip_grad_norm_(model.parameters(), max_grad_norm))
            optimizer.step()
            optimizer.zero_grad()
        _add_by_source(loss_sum, tok_sum, token_loss.detach(), targets, mb, source_names)
    tokens = accelerator.reduce(
        torch.tensor(float(sum(mb.num_tokens for mb in micro_batches)), device=device),
        reduction="sum",
    )
    if deepspeed:
        norm = accelerator.deepspeed_engine_wrapped.engine.get_global_grad_norm()
        grad_norm = float(norm) if norm is not None else None
    return StepOutput(
        loss_by_source=accelerator.reduce(loss_sum, reduction="sum"),
        targets_by_source=accelerator.reduce(tok_sum, reduction="sum"),
        tokens=int(tokens),
        grad_norm=grad_norm,
    )


def _add_by_source(
    loss_sum: torch.Tensor,
    tok_sum: torch.Tensor,
    token_loss: torch.Tensor,
    targets: torch.Tensor,
    mb: PackedMicroBatch,
    source_names: Sequence[str],
) -> None:
    """Add a micro-batch's per-token losses and target counts to its examples' sources."""
    per_tok = token_loss.double()
    owner = np.repeat([source_names.index(s) for s in mb.sources], mb.lengths)
    owner_t = torch.as_tensor(owner, device=per_tok.device)
    valid = targets != IGNORE_INDEX
    loss_sum.index_add_(0, owner_t[valid], per_tok[valid])
    tok_sum.index_add_(0, owner_t[valid], torch.ones_like(per_tok[valid]))
