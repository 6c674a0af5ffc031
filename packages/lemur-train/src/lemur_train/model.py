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
from functools import partial
from typing import Any, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from lemur_train.config import ModelConfig, RematPolicy
from lemur_train.packing import attention_mask, positions_from_segments

Array = jax.Array
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}

# Contractions longer than this are summed in blocks of this many terms (see blocked_dot_general).
# On SmolLM2, blocks of 64 added in order left the max logit error at 1.14-1.24x Transformers'
# (at one hypersensitive position); blocks of 32 added pairwise give 0.87x there.
ACCUMULATION_BLOCK = 32


# None: blocked in forward passes that are not differentiated, XLA's own dots under jax.grad.
_BLOCKED_CPU_MATMUL: bool | None = None


@contextlib.contextmanager
def blocked_cpu_matmul(enabled: bool | None = True) -> Iterator[None]:
    """Within the block, functions traced on CPU sum long float32 contractions in blocks or not.

    By default (``None``) a forward pass that is not differentiated (evaluation, scoring, the
    logits a caller reads) sums them in blocks, while a differentiated one (a training step)
    takes XLA's own dots: the blocked form runs one dot per block, which makes a CPU forward
    pass 2.7-3.4x slower (measured on a tiny-preset eval batch and a d512 8x256 one). ``True`` blocks
    the differentiated passes too (a training step whose forward is as precise as an
    evaluation's, several times slower); ``False`` blocks nothing (the fastest evaluation).
    Read at trace time: jit a function inside the block.
    """
    global _BLOCKED_CPU_MATMUL
    previous, _BLOCKED_CPU_MATMUL = _BLOCKED_CPU_MATMUL, enabled
    try:
        yield
    finally:
        _BLOCKED_CPU_MATMUL = previous


def blocked_dot_general(
    lhs: Array,
    rhs: Array,
    dimension_numbers: Any,
    precision: Any = None,
    preferred_element_type: Any = None,
    **kwargs: Any,
) -> Array:
    """``lax.dot_general`` whose float32 sums over long contracted axes are taken in blocks on CPU.

    XLA's CPU dot sums a contraction in long runs (YNNPACK: 512 terms; torch's CPU GEMM: 192),
    so its float32 round-off grows faster than torch's (on SmolLM2's 1536-term ``down_proj``:
    1.55x). Summing blocks of ``ACCUMULATION_BLOCK`` terms and then the block sums pairwise
    gives an error below torch's at the same flops. Which passes are blocked: see
    :func:`blocked_cpu_matmul`; under differentiation by default the primal and tangent dots
    are XLA's own, so a training step compiles to what ``lax.dot_general`` gives. Other dtypes
    and backends (GPU and TPU GEMMs already accumulate in tiles) take ``lax.dot_general``
    unchanged; the result has ``lax.dot_general``'s layout.
    """
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    dims = ((tuple(lhs_contract), tuple(rhs_contract)), (tuple(lhs_batch), tuple(rhs_batch)))
    k = 1
    for axis in dims[0][0]:
        k *= lhs.shape[axis]
    if (
        kwargs
        or k <= ACCUMULATION_BLOCK
        or jnp.result_type(lhs, rhs) != jnp.float32
        or _BLOCKED_CPU_MATMUL is False
        or jax.default_backend() != "cpu"
    ):
        return jax.lax.dot_general(
            lhs,
            rhs,
            dimension_numbers,
            precision=precision,
            preferred_element_type=preferred_element_type,
            **kwargs,
        )
    if _BLOCKED_CPU_MATMUL:
        return _blocked(lhs, rhs, dims, precision, preferred_element_type)
    return cast(
        Array, _blocked_unless_differentiated(lhs, rhs, dims, precision, preferred_element_type)
    )


def _blocked(
    lhs: Array, rhs: Array, dims: Any, precision: Any, preferred_element_type: Any
) -> Array:
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dims
    if len(lhs_contract) > 1:
        # Flatten the contracted axes into one, last on the left and first on the right.
        lhs_free = [a for a in range(lhs.ndim) if a not in lhs_contract + lhs_batch]
        rhs_free = [a for a in range(rhs.ndim) if a not in rhs_contract + rhs_batch]
        k = 1
        for axis in lhs_contract:
            k *= lhs.shape[axis]
        batch_shape = [lhs.shape[a] for a in lhs_batch]
        lhs = jnp.transpose(lhs, [*lhs_batch, *lhs_free, *lhs_contract]).reshape(
            *batch_shape, *[lhs.shape[a] for a in lhs_free], k
        )
        rhs = jnp.transpose(rhs, [*rhs_batch, *rhs_contract, *rhs_free]).reshape(
            *batch_shape, k, *[rhs.shape[a] for a in rhs_free]
        )
        nb = len(batch_shape)
        batch = tuple(range(nb))
        dims = (((lhs.ndim - 1,), (nb,)), (batch, batch))
    (lhs_axis,), (rhs_axis,) = dims[0]
    # One dot per block. (A single dot with the blocks as a batch axis and a sum over it ran 4x
    # slower than this loop on XLA's CPU dots: 296 vs 76 ms for 2048x512 @ 512x1360 in blocks
    # of 64, against 24 ms unblocked.)
    k = lhs.shape[lhs_axis]
    parts = [
        jax.lax.dot_general(
            jax.lax.slice_in_dim(lhs, start, min(start + ACCUMULATION_BLOCK, k), axis=lhs_axis),
            jax.lax.slice_in_dim(rhs, start, min(start + ACCUMULATION_BLOCK, k), axis=rhs_axis),
            dims,
            precision=precision,
            preferred_element_type=preferred_element_type,
        )
        for start in range(0, k, ACCUMULATION_BLOCK)
    ]
    # The block sums are added pairwise: their own round-off grows with log2(blocks).
    while len(parts) > 1:
        pairs = [a + b for a, b in zip(parts[::2], parts[1::2], strict=False)]
        parts = pairs + parts[len(pairs) * 2 :]
    return parts[0]


# The primal is the blocked sum; the JVP rule (what jax.grad, vjp and linearize run instead)
# computes the primal and tangents with plain dots, exactly lax.dot_general's own rule.
_blocked_unless_differentiated = jax.custom_jvp(_blocked, nondiff_argnums=(2, 3, 4))


@partial(_blocked_unless_differentiated.defjvp, symbolic_zeros=True)
def _plain_jvp(
    dims: Any, precision: Any, preferred_element_type: Any, primals: Any, tangents: Any
) -> tuple[Array, Array]:
    lhs, rhs = primals

    def dot(a: Array, b: Array) -> Array:
        return jax.lax.dot_general(
            a, b, dims, precision=precision, preferred_element_type=preferred_element_type
        )

    out = dot(lhs, rhs)
    # A frozen operand's tangent is a symbolic zero: no dot is spent on it.
    lhs_dot, rhs_dot = (None if isinstance(t, SymbolicZero) else t for t in tangents)
    terms = [dot(lhs_dot, rhs)] if lhs_dot is not None else []
    if rhs_dot is not None:
        terms.append(dot(lhs, rhs_dot))
    return out, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(out)


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


@jax.custom_vjp
def swiglu(gate: Array, up: Array) -> Array:
    """``silu(gate) * up``, whose backward pass recomputes the sigmoid instead of storing it.

    XLA on CPU writes ``sigmoid(gate)``, ``silu(gate)`` and the product as three arrays of the
    MLP's width when autodiff saves them for the backward pass; at one thread each pass is
    memory-bound (7 ms for 2048 x 1360 floats). With this rule the forward pass is one fused
    loop and the backward pass reads only ``gate``, ``up`` and the incoming gradient. The value
    is the same expression as ``nn.silu(gate) * up``.
    """
    return nn.silu(gate) * up


def _swiglu_fwd(gate: Array, up: Array) -> tuple[Array, tuple[Array, Array]]:
    return nn.silu(gate) * up, (gate, up)


def _swiglu_bwd(res: tuple[Array, Array], grad: Array) -> tuple[Array, Array]:
    gate, up = res
    sig = jax.nn.sigmoid(gate)
    # d silu(x) / dx = sigmoid(x) * (1 + x * (1 - sigmoid(x)))
    d_gate = grad * up * (sig * (1 + gate * (1 - sig)))
    return d_gate.astype(gate.dtype), (grad * (gate * sig)).astype(up.dtype)


swiglu.defvjp(_swiglu_fwd, _swiglu_bwd)


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
        out = dense("down_proj", cfg.hidden_size, ("mlp", "embed"))(swiglu(gate, up))
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


# Unrolled automatically up to this many layers on CPU (see default_unroll_layers).
UNROLL_MAX_LAYERS = 8


def default_unroll_layers(num_layers: int) -> bool:
    """Whether the trainer unrolls a stack of ``num_layers`` when its config does not say.

    On CPU a loop over the layers stores each layer's activations for the backward pass into
    stacked buffers that are zero-filled, written and sliced every step: about 8% of a
    one-thread step of the 4-layer d512 bench model (200 of 2,420 ms in a profile; unrolled,
    its loss and gradient took 2,265 ms instead of 2,411). The price is compile time that grows
    with depth, so only small stacks on CPU are unrolled; accelerators keep the loop. (The
    planner's memory model is the loop's; an unrolled stack peaks lower.)
    """
    return jax.default_backend() == "cpu" and num_layers <= UNROLL_MAX_LAYERS


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
    # Layers the compiled scan takes per iteration; ``num_hidden_layers`` unrolls it fully.
    # The parameters stay stacked on a leading "layers" axis either way.
    scan_unroll: int = 1

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
            unroll=max(1, min(self.scan_unroll, cfg.num_hidden_layers)),
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
    config: ModelConfig,
    compute_dtype: str = "float32",
    remat: RematPolicy = "none",
    unroll_layers: bool = False,
) -> Llama:
    """The Flax module for ``config`` with the given compute dtype and remat policy.

    ``unroll_layers`` compiles the layer stack as straight-line code instead of one loop over a
    single compiled layer (the trainer's default: :func:`default_unroll_layers`). The parameter
    tree and the results are the same either way.
    """
    unroll = config.num_hidden_layers if unroll_layers else 1
    return Llama(config, dtype=_DTYPES[compute_dtype], remat=remat, scan_unroll=unroll)
