"""Memory per GPU and GPU-hours of an SFT run, from the model size and ZeRO stage, before
anything is allocated (for ``lemur plan`` and the start-up log).

Memory follows the ZeRO paper's accounting (Rajbhandari et al. 2020) for mixed-precision Adam:
2 bytes/param of bf16 weights, 2 of bf16 gradients and K = 12 of optimizer state (fp32 master
weights, momentum, variance); stage 1 shards the optimizer state, stage 2 also the gradients,
stage 3 also the weights; CPU offload moves the optimizer state (and with stage 3 the weights)
to host memory. Activations: without checkpointing ~34 x seq x hidden bytes per layer (Korthikanti et al. 2022,
with fused attention); with full activation checkpointing, one ``seq x hidden`` bf16
tensor per layer is kept plus one layer's working set (~34 x seq x hidden bytes, Korthikanti et
al. 2022) during its recomputation. Time: 6 x params x tokens FLOPs at the given MFU.
"""

from __future__ import annotations

from typing import Any

from lemur_sft.config import LEMUR_CHAT_EXAMPLES, LEMUR_CHAT_MIXTURE, SFTConfig

# Llama-2 shapes by parameter count, for activation sizes when only a size is given.
_LLAMA2_SHAPES: dict[str, tuple[float, int, int]] = {
    "7b": (6.74e9, 32, 4096),
    "13b": (13.0e9, 40, 5120),
    "70b": (69.0e9, 80, 8192),
}


def _parse_params(model_size: str | int | float) -> tuple[float, int, int]:
    if isinstance(model_size, str):
        key = model_size.lower().replace("llama-2-", "").replace("lemur-", "")
        if key in _LLAMA2_SHAPES:
            return _LLAMA2_SHAPES[key]
        try:
            number = float(key.rstrip("b")) * 1e9 if key.endswith("b") else float(key)
        except ValueError as exc:
            raise ValueError(
                f"model size '{model_size}': give a parameter count (e.g. 7e9) or one of "
                f"{', '.join(_LLAMA2_SHAPES)}"
            ) from exc
        return _shape_for(number)
    return _shape_for(float(model_size))


def _shape_for(params: float) -> tuple[float, int, int]:
    # Nearest Llama-2 aspect: hidden ~ (params / (12 * layers))^0.5 with layers ~ hidden / 128.
    hidden = int(round((params * 128 / 12) ** (1 / 3) / 128) * 128) or 128
    layers = max(1, round(params / (12 * hidden * hidden)))
    return params, layers, hidden


def _default_examples(config: SFTConfig) -> int:
    # Before the data exists: the paper's total for its mixture, else the counted sources
    # (fractions of unknown sources cannot be sized), else the paper's ~300K.
    if config.mixture == LEMUR_CHAT_MIXTURE:
        return LEMUR_CHAT_EXAMPLES
    counted = sum(v for v in (config.mixture or {}).values() if isinstance(v, int))
    return int(counted) or 300_000


def estimate_sft(
    config: SFTConfig,
    model_size: str | int | float,
    world_size: int,
    zero_stage: int,
    *,
    offload: bool = False,
    num_examples: int | None = None,
    mean_tokens_per_example: float = 1024.0,
    gpu_flops: float = 312e12,
    mfu: float = 0.4,
) -> dict[str, Any]:
    """Estimate memory per GPU (GiB) and GPU-hours of ``config`` on ``world_size`` GPUs.

    ``model_size`` is a parameter count or a name (``7b``, ``13b``, ``70b``). ``num_examples``
    defaults to the mixture's size (the paper preset: 367,817). Returns a flat dict with the
    parts (weights, gradients, optimizer state, activations), the total and ``fits_80gb``.
    """
    if zero_stage not in (0, 1, 2, 3):
        raise ValueError(f"zero_stage must be 0, 1, 2 or 3, got {zero_stage}")
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    params, layers, hidden = _parse_params(model_size)
    n = world_size
    weights = 2 * params / (n if zero_stage >= 3 else 1)
    grads = 2 * params / (n if zero_stage >= 2 else 1)
    optim = 12 * params / (n if zero_stage >= 1 else 1)
    if offload:
        optim = 0.0
        if zero_stage >= 3:
            weights = 0.0
    tokens_per_micro = config.micro_batch_size * min(mean_tokens_per_example, config.seq_len)
    if config.gradient_checkpointing:
        activations = (2 * layers + 34) * tokens_per_micro * hidden
    else:
        activations = 34 * layers * tokens_per_micro * hidden
    gib = 1024**3
    total = weights + grads + optim + activations
    if num_examples is None:
        num_examples = _default_examples(config)
    tokens = num_examples * mean_tokens_per_example * config.epochs
    gpu_hours = 6 * params * tokens / (gpu_flops * mfu) / 3600
    return {
        "params": params,
        "layers": layers,
        "hidden": hidden,
        "world_size": world_size,
        "zero_stage": zero_stage,
        "offload": offload,
        "weights_gib": weights / gib,
        "gradients_gib": grads / gib,
        "optimizer_gib": optim / gib,
        "activations_gib": activations / gib,
        "memory_per_gpu_gib": total / gib,
        "fits_80gb": total / gib < 80 * 0.9,
        "train_tokens": tokens,
        "gpu_hours": gpu_hours,
        "wall_hours": gpu_hours / world_size,
        "optimizer_steps": (num_examples // config.global_batch_size) * config.epochs,
    }
