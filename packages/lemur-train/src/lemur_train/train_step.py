"""One optimizer step: masked next-token loss, gradient accumulation inside the compiled step.

The loss is the mean over *all* counted target tokens of the global batch, whatever the number
of microbatches: each microbatch contributes its loss *sum* and token count, and the summed
gradient is divided by the total count once. Accumulating therefore gives the gradient of the
unsplit batch (up to float reassociation), and per-source sums come out of the same pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from lemur_train.packing import target_mask
from lemur_train.sharding import axis_rules
from lemur_train.train_state import TrainState

Batch = dict[str, jax.Array]
StepFn = Callable[[TrainState, Batch], tuple[TrainState, dict[str, jax.Array]]]


def token_losses(
    model: nn.Module, params: Any, batch: Batch, num_sources: int, cross_document: bool
) -> dict[str, jax.Array]:
    """Loss sums and counts of one batch: ``loss_sum``, ``count``, and per-source versions."""
    tokens = batch["tokens"]
    # Logits at every position (no [:, :-1] slice: its gradient is a padded copy of the whole
    # [B, T, vocab] array); the last position's target is a placeholder with zero weight.
    logits = cast(jax.Array, model.apply({"params": params}, tokens, batch["segment_ids"]))

    def next_of(x: jax.Array) -> jax.Array:  # x[:, t + 1] at t, a zero at the last position
        return jnp.concatenate([x[:, 1:], jnp.zeros_like(x[:, :1])], axis=1)

    targets = next_of(tokens)
    # -log softmax(logits)[target] = logsumexp(logits) - logits[target]; the target logit is
    # picked with a one-hot product, whose gradient is elementwise (a gather's is a scatter).
    picked = jnp.sum(logits * jax.nn.one_hot(targets, logits.shape[-1], dtype=logits.dtype), -1)
    nll = jax.nn.logsumexp(logits, axis=-1) - picked
    counted = target_mask(batch["segment_ids"], cross_document)
    mask = jnp.pad(counted, ((0, 0), (0, 1))).astype(jnp.float32)
    weighted = nll * mask
    # Padding has source -1; it carries zero weight, so clipping it to 0 changes no sum.
    sources = jnp.clip(next_of(batch["source_ids"]), 0, num_sources - 1)
    one_hot = jax.nn.one_hot(sources, num_sources, dtype=jnp.float32)
    return {
        "loss_sum": weighted.sum(),
        "count": mask.sum(),
        "source_loss_sum": jnp.einsum("bt,bts->s", weighted, one_hot),
        "source_count": jnp.einsum("bt,bts->s", mask, one_hot),
    }


def _split_microbatches(batch: Batch, microbatches: int) -> Batch:
    # Row j of microbatch m is global row j * M + m: every microbatch spans every device's
    # shard of the batch, so accumulation needs no data movement between devices.
    def split(x: jax.Array) -> jax.Array:
        rows = x.shape[0]
        return x.reshape(rows // microbatches, microbatches, *x.shape[1:]).swapaxes(0, 1)

    return {k: split(v) for k, v in batch.items()}


def make_train_step(
    model: nn.Module,
    tx: optax.GradientTransformation,
    schedule: optax.Schedule,
    *,
    num_sources: int,
    microbatches: int = 1,
    cross_document: bool = False,
) -> StepFn:
    """The (un-jitted) step function ``(state, batch) -> (state, metrics)``.

    ``batch`` holds int32 ``tokens``, ``segment_ids`` and ``source_ids`` of shape [rows, L].
    Metrics: ``loss``, ``grad_norm``, ``lr``, ``tokens`` (counted targets), and per-source
    ``source_loss_sum`` / ``source_count``.
    """

    def sums_and_grads(params: Any, mb: Batch) -> tuple[dict[str, jax.Array], Any]:
        def objective(p: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
            sums = token_losses(model, p, mb, num_sources, cross_document)
            return sums["loss_sum"], sums

        (_, sums), grads = jax.value_and_grad(objective, has_aux=True)(params)
        return sums, grads

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        with axis_rules():
            if microbatches == 1:
                sums, grad_sum = sums_and_grads(state.params, batch)
            else:
                parts = _split_microbatches(batch, microbatches)
                zeros = jax.tree.map(jnp.zeros_like, state.params)
                first = jax.eval_shape(
                    lambda: sums_and_grads(state.params, jax.tree.map(lambda x: x[0], parts))[0]
                )
                init = (jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), first), zeros)

                def body(
                    carry: tuple[dict[str, jax.Array], Any], mb: Batch
                ) -> tuple[tuple[dict[str, jax.Array], Any], None]:
                    acc_sums, acc_grads = carry
                    sums, grads = sums_and_grads(state.params, mb)
                    return (
                        jax.tree.map(jnp.add, acc_sums, sums),
                        jax.tree.map(jnp.add, acc_grads, grads),
                    ), None

                (sums, grad_sum), _ = jax.lax.scan(body, init, parts)
        count = jnp.maximum(sums["count"], 1.0)
        grads = jax.tree.map(lambda g: g / count, grad_sum)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        new_state = dataclasses.replace(
            state,
            step=state.step + 1,
            params=params,
            opt_state=opt_state,
            rng=jax.random.split(state.rng)[0],
        )
        metrics = {
            "loss": sums["loss_sum"] / count,
            "grad_norm": optax.global_norm(grads),
            "lr": schedule(state.step),
            "tokens": sums["count"],
            "source_loss_sum": sums["source_loss_sum"],
            "source_count": sums["source_count"],
        }
        return new_state, metrics

    return step


def jit_train_step(step: StepFn, state_shardings: TrainState, batch_sharding: Any) -> StepFn:
    """``step`` compiled with the state's shardings in and out (state buffers donated)."""
    batch_shardings = {k: batch_sharding for k in ("tokens", "segment_ids", "source_ids")}
    return jax.jit(  # type: ignore[no-any-return]
        step,
        in_shardings=(state_shardings, batch_shardings),
        out_shardings=(state_shardings, None),
        donate_argnums=(0,),
    )
