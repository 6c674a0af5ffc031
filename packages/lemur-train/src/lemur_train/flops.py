"""Model FLOPs per token, chip peaks, and MFU.

Training FLOPs per token (forward + backward = 3x forward, multiply-add = 2 FLOPs):

* matmuls with weights: ``6 * N`` where ``N`` counts every weight matrix that multiplies
  activations (attention q/k/v/o, the three SwiGLU matrices, ``lm_head``) but not the embedding
  lookup nor norm scales (PaLM, Chowdhery et al. 2022, App. B);
* attention scores and weighted values: per layer and token, ``QK^T`` and ``PV`` cost
  ``2 * 2 * T * n_heads * head_dim`` forward over a full ``T x T`` score matrix; causal masking
  halves the useful work, so we count ``6 * L * T * n_heads * head_dim`` for training.

MFU is achieved model FLOPs per second divided by the peak of all devices used. Rematerialized
recomputation is *not* counted (that would be hardware FLOPs utilization, HFU).
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict

from lemur_train.config import ModelConfig


class Chip(BaseModel):
    """An accelerator: dense bf16 peak FLOP/s and memory per device."""

    model_config = ConfigDict(frozen=True)

    name: str
    peak_flops: float
    hbm_bytes: float


#: Public datasheet numbers (dense bf16). "cpu" is measured at run time by :func:`measure_cpu_peak`.
CHIPS: dict[str, Chip] = {
    "tpu-v4": Chip(name="tpu-v4", peak_flops=275e12, hbm_bytes=32 * 2**30),
    "tpu-v5e": Chip(name="tpu-v5e", peak_flops=197e12, hbm_bytes=16 * 2**30),
    "tpu-v5p": Chip(name="tpu-v5p", peak_flops=459e12, hbm_bytes=95 * 2**30),
    "a100-80g": Chip(name="a100-80g", peak_flops=312e12, hbm_bytes=80 * 2**30),
    "h100-80g": Chip(name="h100-80g", peak_flops=989e12, hbm_bytes=80 * 2**30),
}


def chip(name: str) -> Chip:
    """A chip from :data:`CHIPS`; an error listing the known names."""
    if name not in CHIPS:
        raise ValueError(f"unknown chip '{name}'; known: {', '.join(CHIPS)}")
    return CHIPS[name]


def matmul_params(cfg: ModelConfig) -> int:
    """Weights that multiply activations (everything but the embedding lookup and norms)."""
    h, d = cfg.hidden_size, cfg.resolved_head_dim
    attn = h * d * (cfg.num_attention_heads * 2 + cfg.num_key_value_heads * 2)
    mlp = 3 * h * cfg.intermediate_size
    return cfg.num_hidden_layers * (attn + mlp) + h * cfg.vocab


def total_params(cfg: ModelConfig) -> int:
    """All parameters, embedding and norms included (lm_head once when tied)."""
    h = cfg.hidden_size
    embed = cfg.vocab * h
    norms = (2 * cfg.num_hidden_layers + 1) * h
    untied_head = 0 if cfg.tie_word_embeddings else cfg.vocab * h
    return matmul_params(cfg) - cfg.vocab * h + embed + untied_head + norms


def train_flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
    """Model FLOPs to train on one token at context ``seq_len`` (formula in the module doc)."""
    attention = (
        6 * cfg.num_hidden_layers * seq_len * cfg.num_attention_heads * cfg.resolved_head_dim
    )
    return 6.0 * matmul_params(cfg) + attention


def measure_matmul_peak(size: int = 1024, repeats: int = 5, dtype: str = "float32") -> float:
    """FLOP/s of a ``dtype`` ``size``-square matmul on the default JAX device (best of repeats)."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((size, size), jnp.dtype(dtype))
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best


def measure_cpu_peak(size: int = 1024, repeats: int = 5) -> float:
    """FLOP/s of a float32 ``size``-square matmul on the default JAX device (best of repeats)."""
    return measure_matmul_peak(size, repeats, "float32")


def mfu(flops_per_token: float, tokens_per_second: float, peak_flops_total: float) -> float:
    """Model FLOPs utilization in [0, 1+]."""
    return flops_per_token * tokens_per_second / peak_flops_total
