"""The whole training state (step, params, optimizer state, RNG) and where it lives on the mesh.

Shapes and shardings come from ``jax.eval_shape`` first, so a state is created directly in its
sharded layout (never materialized whole on one device) and restored into the same layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from lemur_train.sharding import tree_shardings


@flax.struct.dataclass
class TrainState:
    """Everything a step reads and writes; saving it and the step gives an exact resume."""

    # Any: the same class also carries abstract shapes and shardings (see StateLayout).
    step: Any
    params: Any
    opt_state: Any
    rng: Any


@dataclass(frozen=True)
class StateLayout:
    """Abstract shapes and shardings of a :class:`TrainState` on one mesh."""

    abstract: TrainState
    shardings: TrainState
    param_shardings: Any


def _dummy_tokens() -> jax.Array:
    return jnp.zeros((1, 2), jnp.int32)


def abstract_params_boxed(model: nn.Module) -> Any:
    """Abstract parameters with their logical-axis boxes (no memory allocated)."""
    return jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), _dummy_tokens()))["params"]


def state_layout(model: nn.Module, tx: optax.GradientTransformation, mesh: Mesh) -> StateLayout:
    """Shapes and NamedShardings of the train state of ``model``/``tx`` on ``mesh``."""
    boxed = abstract_params_boxed(model)
    param_shardings = tree_shardings(boxed, mesh)
    params = nn.unbox(boxed)
    opt_state = jax.eval_shape(tx.init, params)
    replicated = NamedSharding(mesh, PartitionSpec())
    opt_shardings = optax.tree_map_params(
        tx,
        lambda _, sharding: sharding,
        opt_state,
        param_shardings,
        transform_non_params=lambda _: replicated,
    )
    abstract = TrainState(
        step=jax.ShapeDtypeStruct((), jnp.int32),
        params=params,
        opt_state=opt_state,
        rng=jax.ShapeDtypeStruct((2,), jnp.uint32),
    )
    shardings = TrainState(
        step=replicated, params=param_shardings, opt_state=opt_shardings, rng=replicated
    )
    return StateLayout(abstract=abstract, shardings=shardings, param_shardings=param_shardings)


def place_params(params: Any, shardings: Any, abstract: Any) -> Any:
    """``params`` as float32 jax Arrays in ``shardings``, each device given only its own slice.

    A leaf may be a :class:`lemur_train.hf_format.LazyTensor` (read slice by slice from its
    file), a numpy array, or a jax Array (resharded on device). No tensor is ever put whole on
    one device: ``jax.make_array_from_callback`` asks for the slices of this host's devices.
    Shapes must match ``abstract`` (the model's own), else a ``ValueError`` names the leaf.
    """

    def place(path: Any, leaf: Any, want: Any, sharding: NamedSharding) -> jax.Array:
        if tuple(leaf.shape) != tuple(want.shape):
            raise ValueError(
                f"parameter {jax.tree_util.keystr(path)} has shape {tuple(leaf.shape)}, the "
                f"model expects {tuple(want.shape)}"
            )
        if isinstance(leaf, jax.Array):
            return jax.device_put(leaf.astype(jnp.float32), sharding)
        read = leaf.read if hasattr(leaf, "read") else leaf.__getitem__

        def shard(index: Any) -> np.ndarray:
            return np.asarray(read(index), dtype=np.float32)

        return jax.make_array_from_callback(tuple(want.shape), sharding, shard)

    return jax.tree_util.tree_map_with_path(place, params, abstract, shardings)


def init_state(
    model: nn.Module,
    tx: optax.GradientTransformation,
    layout: StateLayout,
    seed: int,
    params: Any | None = None,
) -> TrainState:
    """A fresh state in its sharded layout: random init from ``seed``, or the given ``params``.

    Given params (e.g. imported from Hugging Face, see :func:`place_params`) are placed with
    the param shardings and cast to float32 master weights, shard by shard.
    """
    init_key, state_key = jax.random.split(jax.random.PRNGKey(seed))
    if params is None:

        def make_params() -> Any:
            return nn.unbox(model.init(init_key, _dummy_tokens())["params"])

        placed = jax.jit(make_params, out_shardings=layout.param_shardings)()
    else:
        placed = place_params(params, layout.param_shardings, layout.abstract.params)

    def finish(p: Any) -> TrainState:
        return TrainState(
            step=jnp.zeros((), jnp.int32), params=p, opt_state=tx.init(p), rng=state_key
        )

    return jax.jit(finish, out_shardings=layout.shardings)(placed)  # type: ignore[no-any-return]


def count_params(params: Any) -> int:
    """Number of scalar parameters in a (possibly abstract) tree."""
    return sum(int(x.size) for x in jax.tree.leaves(params))
