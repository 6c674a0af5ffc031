"""The Llama-2 architecture in Flax Linen, numerically matching Transformers' ``LlamaForCausalLM``.

RMSNorm, rotary embeddings (HF's rotate-half layout), SwiGLU, grouped-query attention and
packing-aware causal attention. Parameters carry *logical* axis names ("embed", "heads", "mlp",
...); :mod:`lemur_train.sharding` maps those to mesh axes, so the model never names a device.
Layers are stacked with ``nn.scan`` (one compiled layer whatever the depth) and wrapped in
``nn.remat`` under the chosen policy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lemur_train.config import ModelConfig, RematPolicy
from lemur_train.packing import attention_mask, positions_from_segments

Array = jax.Array
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}

# Contractions longer than this are summed in blocks of this many terms (see blocked_dot_general).
ACCUMULATION_BLOCK = 64


_BLOCKED_CPU_MATMUL = False


@contextlib.contextmanager
def blocked_cpu_matmul(enabled: bool = True) -> Iterator[None]:
    """Within the block, functions traced on CPU sum long float32 contractions in blocks.

    Off by default: the blocked form writes one partial product per block, which makes a CPU
    training step several times slower (measured 4.5 vs 75 GFLOP/s on a 2048x512 @ 512x1376
    matmul). Turn it on where float32 logits must be as close to float64 as torch's (parity
    and numerics checks, scoring). Read at trace time: jit a function inside the block.
    """
    global _BLOCKED_CPU_MATMUL
    previous, _BLOCKED_CPU_MATMUL = _BLOCKED_CPU_MATMUL, enabled
    try:
        yield
    finally:
        _BLOCKED_CPU_MATMUL = previous


def _accumulates_sequentially() -> bool:
    # XLA's CPU dot sums the contracted axis term after term; GPU and TPU GEMMs already
    # accumulate in tiles. Decided at trace time, once per compiled function.
    return _BLOCKED_CPU_MATMUL and jax.default_backend() == "cpu"


def blocked_dot_general(
    lhs: Array,
    rhs: Array,
    dimension_numbers: Any,
    precision: Any = None,
    preferred_element_type: Any = None,
    **kwargs: Any,
) -> Array:
    """``lax.dot_general`` whose float32 sums over long contracted axes are taken in blocks.

    XLA's CPU dot adds the K products one after another, so its roundoff grows with K about
    twice as fast as the blocked GEMMs torch calls (measured on SmolLM2's shapes: max error 1.3e-4
    against float64 where torch's is 4.5e-5). Summing blocks of ``ACCUMULATION_BLOCK`` terms
    and then the block sums gives an error below torch's at the same flops. Other dtypes and
    backends take ``lax.dot_general`` unchanged; the result has ``lax.dot_general``'s layout.
    """
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    lhs_contract, rhs_contract = tuple(lhs_contract), tuple(rhs_contract)
    lhs_batch, rhs_batch = tuple(lhs_batch), tuple(rhs_batch)
    k = 1
    for axis in lhs_contract:
        k *= lhs.shape[axis]
    if (
        k <= ACCUMULATION_BLOCK
        or jnp.result_type(lhs, rhs) != jnp.float32
        or not _accumulates_sequentially()
    ):
        return jax.lax.dot_general(
            lhs,
            rhs,
            dimension_numbers,
            precision=precision,
            preferred_element_type=preferred_element_type,
            **kwargs,
        )
    lhs_free = [a for a in range(lhs.ndim) if a not in lhs_contract + lhs_batch]
    rhs_free = [a for a in range(rhs.ndim) if a not in rhs_contract + rhs_batch]
    batch_shape = [lhs.shape[a] for a in lhs_batch]
    # Lay both out as (batch..., free..., K) and (batch..., K, free...), K flattened.
    lhs2 = jnp.transpose(lhs, [*lhs_batch, *lhs_free, *lhs_contract]).reshape(
        *batch_shape, *[lhs.shape[a] for a in lhs_free], k
    )
    rhs2 = jnp.transpose(rhs, [*rhs_batch, *rhs_contract, *rhs_free]).reshape(
        *batch_shape, k, *[rhs.shape[a] for a in rhs_free]
    )
    nb, nl = len(batch_shape), len(lhs_free)
    pad = -k % ACCUMULATION_BLOCK
    if pad:  # zero terms add nothing, exactly
        lhs2 = jnp.pad(lhs2, [(0, 0)] * (lhs2.ndim - 1) + [(0, pad)])
        rhs2 = jnp.pad(rhs2, [(0, 0)] * nb + [(0, pad)] + [(0, 0)] * (rhs2.ndim - nb - 1))
    blocks = (k + pad) // ACCUMULATION_BLOCK
    lhs3 = lhs2.reshape(*lhs2.shape[:-1], blocks, ACCUMULATION_BLOCK)
    rhs3 = rhs2.reshape(*batch_shape, blocks, ACCUMULATION_BLOCK, *rhs2.shape[nb + 1 :])
    # Blocks become a batch axis: partial[batch..., block, lhs_free..., rhs_free...].
    partial = jax.lax.dot_general(
        lhs3,
        rhs3,
        (((lhs3.ndim - 1,), (nb + 1,)), ((*range(nb), nb + nl), (*range(nb), nb))),
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
    return jnp.sum(partial, axis=nb)


def _init(std: float, axes: tuple[str | None, ...]) -> Any:
    return nn.with_logical_partitioning(nn.initializers.normal(stddev=std), axes)


class RMSNorm(nn.Module):
    """Root-mean-square norm computed in float32, as HF's ``LlamaRMSNorm``."""

    eps: float
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        scale = cast(
            Array,
            self.param(
                "scale",
                nn.with_logical_partitioning(nn.initializers.ones, ("norm",)),
                (x.shape[-1],),
            ),
        )
        xf = x.astype(jnp.float32)
        normed = xf * jax.lax.rsqrt(jnp.mean(xf * xf, axis=-1, keepdims=True) + self.eps)
        # HF casts back to the input dtype before the scale; identical in fp32, matches in bf16.
        return (scale * normed.astype(x.dtype)).astype(self.dtype)


def rope_tables(positions: Array, length: int, dim: int, theta: float) -> tuple[Array, Array]:
    """Rotary ``cos`` and ``sin`` [B, T, 1, dim] (rotate-half layout) at integer ``positions`` < ``length``.

    The angles ``position * theta**(-2i/dim)`` reach ``length`` radians, and a float32 product
    rounds them by up to ``length * 6e-8``, an error the attention scores inherit at every layer.
    The table is therefore computed in float64 on the host (``length`` is static), rounded once to
    float32, and gathered at ``positions``: each entry is the float32 nearest the exact value.
    """
    inv_freq = 1.0 / (theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    angles = np.arange(length, dtype=np.float64)[:, None] * inv_freq[None, :]
    angles = np.concatenate([angles, angles], axis=-1)
    cos = jnp.asarray(np.cos(angles), jnp.float32)[positions][:, :, None, :]
    sin = jnp.asarray(np.sin(angles), jnp.float32)[positions][:, :, None, :]
    return cos, sin


def rotary(x: Array, cos: Array, sin: Array) -> Array:
    """Apply rotary embeddings to ``x`` [B, T, H, D] with tables from :func:`rope_tables`."""
    half = x.shape[-1] // 2
    xf = x.astype(jnp.float32)
    rotated = jnp.concatenate([-xf[..., half:], xf[..., :half]], axis=-1)
    return (xf * cos + rotated * sin).astype(x.dtype)


# Queries are taken in blocks of this many rows; block i only scores keys [0, (i + 1) * block).
ATTENTION_BLOCK = 64


def _attention_block(q: Array, k: Array, v: Array, mask: Array, dtype: Any) -> Array:
    head_dim = q.shape[-1]
    scores = jnp.einsum("btkgd,bskd->bkgts", q, k, preferred_element_type=jnp.float32)
    scores = scores * (head_dim**-0.5)
    scores = jnp.where(mask[:, None, None, :, :], scores, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(dtype)
    # probs [b,k,g,t,s] x v [b,s,k,d] over s, batched over (b, k) -> [b,k,g,t,d].
    return blocked_dot_general(probs, v, (((4,), (1,)), ((0, 1), (0, 2))))


def causal_attention(q: Array, k: Array, v: Array, mask: Array, dtype: Any) -> Array:
    """Softmax attention [B, K, G, T, D] of ``q`` [B, T, K, G, D] over ``k``, ``v`` [B, S, K, D].

    ``mask`` [B, T, S] must be causal (key s > query t never seen, as :func:`attention_mask`
    builds it). Query rows go in blocks of ``ATTENTION_BLOCK``, each scored only against the keys
    up to its last row: the keys after it are masked for every row of the block, so skipping
    them drops only exact zeros from the softmax and the value sum. At four blocks that skips
    3/8 of the score, softmax and value work (measured ~8% of a one-thread d512 x 256 step).
    """
    length = q.shape[1]
    if length <= ATTENTION_BLOCK:
        return _attention_block(q, k, v, mask, dtype)
    outs = []
    for start in range(0, length, ATTENTION_BLOCK):
        stop = min(start + ATTENTION_BLOCK, length)
        outs.append(
            _attention_block(
                q[:, start:stop], k[:, :stop], v[:, :stop], mask[:, start:stop, :stop], dtype
            )
        )
    return jnp.concatenate(outs, axis=3)


class Attention(nn.Module):
    """Grouped-query causal self-attention; ``mask`` [B, T, S] decides who sees whom."""

    config: ModelConfig
    dtype: Any

    @nn.compact
    def __call__(self, x: Array, rope: tuple[Array, Array], mask: Array) -> Array:
        cfg = self.config
        heads, kv_heads, head_dim = (
            cfg.num_attention_heads,
            cfg.num_key_value_heads,
            cfg.resolved_head_dim,
        )
        std = cfg.initializer_range
        batch, length = x.shape[0], x.shape[1]
        rows = x.reshape(batch * length, x.shape[2])

        def proj(name: str, n: int, axis: str) -> Array:
            return nn.DenseGeneral(
                (n, head_dim),
                use_bias=False,
                dtype=self.dtype,
                dot_general=blocked_dot_general,
                kernel_init=_init(std, ("embed", axis, "head_dim")),
                name=name,
            )(rows).reshape(batch, length, n, head_dim)

        q = rotary(proj("q_proj", heads, "heads"), *rope)
        k = rotary(proj("k_proj", kv_heads, "kv_heads"), *rope)
        v = proj("v_proj", kv_heads, "kv_heads")
        groups = heads // kv_heads
        # Query head h uses key/value head h // groups, the same grouping as HF's repeat_kv.
        q = q.reshape(batch, length, kv_heads, groups, head_dim)
        out = causal_attention(q, k, v, mask, self.dtype)
        out = jnp.transpose(out, (0, 3, 1, 2, 4)).reshape(batch * length, heads, head_dim)
        return nn.DenseGeneral(
            cfg.hidden_size,
            axis=(-2, -1),
            use_bias=False,
            dtype=self.dtype,
            dot_general=blocked_dot_general,
            kernel_init=_init(std, ("heads", "head_dim", "embed")),
            name="o_proj",
        )(out).reshape(batch, length, cfg.hidden_size)


class MLP(nn.Module):
    """SwiGLU feed-forward: ``down(silu(gate(x)) * up(x))``."""

    config: ModelConfig
    dtype: Any

    @nn.compact
    def __call__(self, x: Array) -> Array:
        cfg = self.config

        def dense(name: str, features: int, axes: tuple[str, str]) -> nn.Dense:
            return nn.Dense(
                features,
                use_bias=False,
                dtype=self.dtype,
                dot_general=blocked_dot_general,
                kernel_init=_init(cfg.initializer_range, axes),
                name=name,
            )

        rows = x.reshape(-1, x.shape[-1])
        gate = dense("gate_proj", cfg.intermediate_size, ("embed", "mlp"))(rows)
        up = dense("up_proj", cfg.intermediate_size, ("embed", "mlp"))(rows)
        out = dense("down_proj", cfg.hidden_size, ("mlp", "embed"))(nn.silu(gate) * up)
        return out.reshape(x.shape)


class DecoderLayer(nn.Module):
    """One pre-norm Llama block; shaped ``(carry, xs) -> (carry, out)`` for ``nn.scan``."""

    config: ModelConfig
    dtype: Any

    @nn.compact
    def __call__(self, x: Array, rope: tuple[Array, Array], mask: Array) -> tuple[Array, None]:
        cfg = self.config
        x = nn.with_logical_constraint(x, ("act_batch", "act_length", "act_embed"))
        h = RMSNorm(cfg.rms_norm_eps, self.dtype, name="input_layernorm")(x)
        x = x + Attention(cfg, self.dtype, name="self_attn")(h, rope, mask)
        h = RMSNorm(cfg.rms_norm_eps, self.dtype, name="post_attention_layernorm")(x)
        x = x + MLP(cfg, self.dtype, name="mlp")(h)
        return x, None


_REMAT_POLICIES: dict[str, Any] = {
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


class Llama(nn.Module):
    """Llama-2 causal LM returning logits [B, T, vocab] (float32).

    ``segment_ids`` [B, T] (0 = padding, 1..k = document) drive packing-aware attention and
    per-document positions unless ``config.cross_document_attention`` is set.
    """

    config: ModelConfig
    dtype: Any = jnp.float32
    remat: RematPolicy = "none"

    @nn.compact
    def __call__(self, tokens: Array, segment_ids: Array | None = None) -> Array:
        cfg = self.config
        if segment_ids is None:
            segment_ids = jnp.ones(tokens.shape, jnp.int32)
        if cfg.cross_document_attention:
            positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
            mask = attention_mask(jnp.ones_like(segment_ids))
        else:
            positions = positions_from_segments(segment_ids)
            mask = attention_mask(segment_ids)
        embed = nn.Embed(
            cfg.vocab,
            cfg.hidden_size,
            embedding_init=_init(cfg.initializer_range, ("vocab", "embed")),
            name="embed_tokens",
        )
        x = embed(tokens.astype(jnp.int32)).astype(self.dtype)

        layer: Any = DecoderLayer
        if self.remat != "none":
            layer = nn.remat(layer, policy=_REMAT_POLICIES[self.remat], prevent_cse=False)
        stack = nn.scan(
            layer,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=(nn.broadcast, nn.broadcast),
            length=cfg.num_hidden_layers,
            metadata_params={nn.PARTITION_NAME: "layers"},
        )
        # One rotary table for all layers (the scan broadcasts it).
        rope = rope_tables(positions, tokens.shape[1], cfg.resolved_head_dim, cfg.rope_theta)
        x, _ = stack(cfg, self.dtype, name="layers")(x, rope, mask)
        x = RMSNorm(cfg.rms_norm_eps, self.dtype, name="norm")(x)
        rows = x.reshape(-1, x.shape[-1])
        if cfg.tie_word_embeddings:
            # embed.attend's jnp.dot would sum the hidden axis term after term on CPU.
            table = cast(Array, embed.embedding).astype(jnp.float32)
            logits = blocked_dot_general(rows.astype(jnp.float32), table, (((1,), (1,)), ((), ())))
        else:
            logits = nn.Dense(
                cfg.vocab,
                use_bias=False,
                dtype=self.dtype,
                dot_general=blocked_dot_general,
                kernel_init=_init(cfg.initializer_range, ("embed", "vocab")),
                name="lm_head",
            )(rows)
        logits = logits.reshape(*x.shape[:-1], cfg.vocab)
        return logits.astype(jnp.float32)


def build_model(
    config: ModelConfig, compute_dtype: str = "float32", remat: RematPolicy = "none"
) -> Llama:
    """The Flax module for ``config`` with the given compute dtype and remat policy."""
    return Llama(config, dtype=_DTYPES[compute_dtype], remat=remat)
