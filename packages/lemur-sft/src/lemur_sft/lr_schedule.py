"""The learning rate as a pure function of the optimizer step (so resume needs no scheduler state)."""

from __future__ import annotations

import math

from lemur_sft.config import SFTConfig


def learning_rate(config: SFTConfig, step: int, total_steps: int) -> float:
    """LR for optimizer step ``step`` (0-based) of ``total_steps``: linear warm-up over
    ``optimizer.warmup_ratio`` of the run, then cosine / linear decay to ``optimizer.min_lr_ratio``
    x peak, or constant."""
    opt = config.optimizer
    peak = opt.peak_lr
    warmup = math.ceil(opt.warmup_ratio * total_steps)
    if step < warmup:
        return peak * (step + 1) / warmup
    if opt.schedule == "constant":
        return peak
    span = max(1, total_steps - warmup)
    progress = min(1.0, (step - warmup) / span)
    floor = opt.min_lr_ratio * peak
    if opt.schedule == "linear":
        return floor + (peak - floor) * (1.0 - progress)
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
