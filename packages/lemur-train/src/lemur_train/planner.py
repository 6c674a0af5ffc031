"""Memory and time of a training config on a mesh, from abstract shapes, without allocating.

Parameter shapes come from ``jax.eval_shape`` of the real model's ``init`` and are split with
the same logical-axis rules the trainer uses, so per-device parameter, gradient and optimizer
bytes are exact. The memory per device is an inventory of the buffers live at the step's
peak, the largest of three moments (the loss, a layer's backward pass, the update; see
:func:`memory_inventory`): the activations saved for the backward pass are read from the real
model's own autodiff trace under the run's remat policy (no analytic guess), and the backward
pass's working set at that moment is added on top. Where the mesh fits on the local devices the
compiler's own memory analysis of the real train step can be added (``compile=True``); the test
suite checks the inventory against it on CPU.
"""

from __future__ import annotations

import math
import os
from typing import Any, cast

import flax.linen as nn
import jax
from pydantic import BaseModel, ConfigDict

from lemur_train.config import MeshConfig, ModelConfig, TrainConfig
from lemur_train.flops import CHIPS, Chip, total_params, train_flops_per_token
from lemur_train.model import build_model
from lemur_train.sharding import mesh_axis_sizes, physical_spec
from lemur_train.train_state import abstract_params_boxed

_GIB = 2.0**30
#: Where a config leaves the sequence length to the corpus, the API and the CLI assume this
#: (capped by ``max_position_embeddings``).
DEFAULT_SEQ_LEN = 4096
DEFAULT_VOCAB_SIZE = 32000
_HEADROOM = 0.9  # leave 10% of device memory to the runtime and fragmentation
# The moments of a step that memory_inventory compares, as the report names them.
_MOMENTS = {
    "loss": "backward pass starting at the loss",
    "layer": "a decoder layer's backward pass",
    "update": "optimizer update",
}


class TrainPlan(BaseModel):
    """What a run costs per device and in time; ``fits`` and ``advice`` say whether it works."""

    model_config = ConfigDict(frozen=True)

    config_name: str
    mesh: dict[str, int]
    devices: int
    chip: str
    parameters: int
    flops_per_token: float
    tokens_per_step: int
    max_steps: int
    grad_accum_steps: int
    remat: str
    rows_per_device_per_microbatch: float
    params_gib: float
    grads_gib: float
    optimizer_gib: float
    gathered_layer_gib: float
    activations_gib: float
    layer_grad_gib: float = 0.0
    accumulation_gib: float = 0.0
    update_gib: float = 0.0
    backward_gib: float = 0.0
    batch_gib: float = 0.0
    peak_at: str = "loss"
    total_gib: float
    device_memory_gib: float
    fits: bool
    compiled_gib: float | None = None
    assumed_mfu: float
    step_seconds: float
    total_days: float
    advice: list[str]

    def render(self) -> str:
        """A human-readable multi-line report (what ``lemur-train plan`` prints)."""
        m = ",".join(f"{k}={v}" for k, v in self.mesh.items())
        lines = [
            f"plan for '{self.config_name}' on {self.devices} x {self.chip} (mesh {m})",
            f"  parameters            {self.parameters / 1e9:,.3f} B",
            f"  FLOPs per token       {self.flops_per_token / 1e9:,.1f} GFLOP (train, causal attention)",
            f"  tokens per step       {self.tokens_per_step:,} in {self.grad_accum_steps} micro-batch(es), remat={self.remat}",
            f"  memory per device at the peak ({_MOMENTS[self.peak_at]}), GiB:",
            f"    params (fp32)       {self.params_gib:8.2f}",
            f"    grads (fp32)        {self.grads_gib:8.2f}",
            f"    optimizer (Adam)    {self.optimizer_gib:8.2f}",
            f"    gathered layer      {self.gathered_layer_gib:8.2f}",
            f"    layer grad (unsh.)  {self.layer_grad_gib:8.2f}",
            f"    grad accumulation   {self.accumulation_gib:8.2f}",
            f"    clipped gradient    {self.update_gib:8.2f}",
            f"    saved activations   {self.activations_gib:8.2f}",
            f"    backward working    {self.backward_gib:8.2f}",
            f"    batch               {self.batch_gib:8.2f}",
            f"    total               {self.total_gib:8.2f} of {self.device_memory_gib:.1f}"
            f" -> {'FITS' if self.fits else 'DOES NOT FIT'}",
        ]
        if self.compiled_gib is not None:
            lines.append(f"    compiler analysis   {self.compiled_gib:8.2f}")
        lines += [
            f"  step time             {self.step_seconds:,.2f} s at MFU {self.assumed_mfu:.0%}",
            f"  total                 {self.total_days:,.2f} days for {self.max_steps:,} steps",
        ]
        lines += [f"  advice: {a}" for a in self.advice]
        return "\n".join(lines)


def _shard_elems(shape: tuple[int, ...], spec: Any, sizes: dict[str, int]) -> int:
    elems = 1
    for dim, axes in zip(shape, tuple(spec), strict=True):
        names = () if axes is None else (axes,) if isinstance(axes, str) else tuple(axes)
        elems *= dim // math.prod(sizes[a] for a in names)
    return elems


def _local_model(cfg: ModelConfig, tensor: int) -> ModelConfig:
    # One device's slice of the model under tensor parallelism (heads, MLP and vocab split as
    # the sharding rules split them; a dimension the axis does not divide stays whole).
    def split(n: int) -> int:
        return n // tensor if n % tensor == 0 else n

    return cfg.model_copy(
        update={
            "num_attention_heads": split(cfg.num_attention_heads),
            "num_key_value_heads": split(cfg.num_key_value_heads)
            if cfg.num_attention_heads % tensor == 0
            else cfg.num_key_value_heads,
            "head_dim": cfg.resolved_head_dim,
            "intermediate_size": split(cfg.intermediate_size),
            "vocab_size": split(cfg.vocab),
        }
    )


def _abstract_loss(
    cfg: ModelConfig, compute_dtype: str, remat: str, rows: int, seq_len: int
) -> tuple[Any, Any, dict[str, jax.ShapeDtypeStruct]]:
    """The real loss of a ``[rows, seq_len]`` batch with abstract parameters and batch, for
    tracing (nothing is allocated)."""
    from lemur_train.train_step import token_losses

    model = build_model(cfg, compute_dtype, remat)  # type: ignore[arg-type]
    params = nn.unbox(abstract_params_boxed(model))
    batch = {
        k: jax.ShapeDtypeStruct((rows, seq_len), jax.numpy.int32)
        for k in ("tokens", "segment_ids", "source_ids")
    }

    def loss(p: Any, b: Any) -> jax.Array:
        return token_losses(model, p, b, 1, cfg.cross_document_attention)["loss_sum"]

    return loss, params, batch


def saved_residual_bytes(
    cfg: ModelConfig, compute_dtype: str, remat: str, rows: int, seq_len: int
) -> float:
    """Bytes of every activation the real model's backward pass reads (its autodiff
    residuals: remat checkpoints, attention probabilities, log-softmax of the logits...) for
    ``rows`` rows of ``seq_len`` tokens, traced abstractly (nothing allocated). Parameters and
    inputs are not counted here (they are held anyway)."""
    # saved_residuals is what jax.ad_checkpoint.print_saved_residuals prints, as data.
    from jax._src.ad_checkpoint import saved_residuals

    loss, params, batch = _abstract_loss(cfg, compute_dtype, remat, rows, seq_len)

    return float(
        sum(
            int(aval.size) * aval.dtype.itemsize  # type: ignore[attr-defined]
            for aval, why in saved_residuals(loss, params, batch)
            if not why.startswith("from the argument")
        )
    )


def _logits_slices(cfg: ModelConfig, compute_dtype: str, rows: int, seq_len: int) -> int:
    """How many slices the real loss takes of the ``[rows, T, vocab]`` logits before using them
    (the gradient of each is a padded copy of the whole array), read from its traced jaxpr."""
    loss, params, batch = _abstract_loss(cfg, compute_dtype, "none", rows, seq_len)

    logits = (rows, seq_len, cfg.vocab)

    def count(jaxpr: Any) -> int:
        found = 0
        for eqn in jaxpr.eqns:
            if eqn.primitive.name in ("slice", "dynamic_slice", "gather") and any(
                tuple(getattr(v.aval, "shape", ())) == logits for v in eqn.invars
            ):
                found += 1
            for value in eqn.params.values():
                inner = getattr(value, "jaxpr", value)
                if hasattr(inner, "eqns"):
                    found += count(inner)
        return found

    return count(jax.make_jaxpr(loss)(params, batch).jaxpr)


def _mlp_recomputed_bytes(
    cfg: ModelConfig, compute_dtype: str, remat: str, rows: int, seq_len: int
) -> float:
    """Bytes of the MLP's residuals that a layer under ``remat`` recomputes in its backward pass
    (the MLP's own residuals without remat less those the policy saves), from the real MLP
    module's trace on ``rows`` rows."""
    from jax._src.ad_checkpoint import saved_residuals

    from lemur_train.model import _DTYPES, _REMAT_POLICIES, MLP

    mlp = MLP(cfg, _DTYPES[compute_dtype])
    x = jax.ShapeDtypeStruct((rows, seq_len, cfg.hidden_size), _DTYPES[compute_dtype])
    params = nn.unbox(jax.eval_shape(lambda h: mlp.init(jax.random.key(0), h), x)["params"])

    def residuals(policy: Any) -> float:
        def apply(p: Any, h: jax.Array) -> jax.Array:
            return jax.numpy.sum(cast(jax.Array, mlp.apply({"params": p}, h)))

        fn = apply if policy is None else jax.checkpoint(apply, policy=policy)
        return float(
            sum(
                int(aval.size) * aval.dtype.itemsize  # type: ignore[attr-defined]
                for aval, why in saved_residuals(fn, params, x)
                if not why.startswith("from the argument")
            )
        )

    saved = 0.0 if remat == "none" else residuals(_REMAT_POLICIES[remat])
    return max(0.0, residuals(None) - saved)


def _residuals_by_place(
    cfg: ModelConfig, compute_dtype: str, remat: str, rows: int, seq_len: int
) -> tuple[float, float]:
    """(per layer, outside the layers): the saved residuals of one decoder layer under
    ``remat`` and those of the embedding, final norm, head and loss, from a 1- and a 2-layer
    trace (the layers are one ``nn.scan``, so each layer adds the same residuals)."""

    def traced(layers: int) -> float:
        one = cfg.model_copy(update={"num_hidden_layers": layers})
        return saved_residual_bytes(one, compute_dtype, remat, rows, seq_len)

    one, two = traced(1), traced(2)
    return two - one, 2 * one - two


def memory_inventory(
    config: TrainConfig,
    sizes: dict[str, int],
    params_bytes: float,
    layer_params: float,
) -> tuple[str, dict[str, float]]:
    """The moment of the step with the most bytes live on one device, and those buffers by name.

    What is live changes through the step, so the peak is the largest of three moments rather
    than the sum of every buffer the step ever makes. With ``p`` the local float32 parameter
    bytes, ``r`` rows per device per micro-batch, ``T`` the sequence length, ``V``/``H`` the
    vocabulary and query heads on one device, held throughout:

    * ``params`` (p), ``optimizer`` (2p, Adam's two moments) and ``batch`` (the device's int32
      tokens, segment ids and source ids): the step's arguments. The optimizer writes its
      results into these donated buffers in place, so the update tree is never a buffer;
    * ``grads`` (p): the gradient being built by the backward pass;
    * ``accumulation`` (``grad_accum_steps > 1``): the running gradient sum (p) and the batch
      laid out again as micro-batches.

    The moments, each adding its own buffers to those:

    * ``loss``, where the backward pass starts: every residual the forward pass saved for it
      (``activations``: from the real model's autodiff trace for ``r`` rows of one device's slice
      of the model, under the run's remat policy) and the loss's gradient as ``r x T x V`` float32
      arrays (``backward``): the gradient with respect to the logits, its copy laid out for the
      head's weight-gradient matmul, and one padded copy for each slice the loss takes of the
      logits (the slice's gradient; counted in the loss's own jaxpr);
    * ``layer``, a decoder layer's backward pass: the residuals of every layer (the layers are
      one scan, whose stacked residuals stay live until the scan's backward pass ends; those of
      the head and loss are freed by then), and the layer's working set (``backward``): what
      the remat policy did not save and the layer recomputes (one layer's residuals without
      remat less those with it), then the larger of its MLP's backward pass (all of that live,
      plus the gate and up projections' gradients, 2 x r x T x ffn float32) and its
      attention's (the MLP's recomputed residuals freed, plus the gradients of the attention
      scores and probabilities, 2 x r x H x T^2 float32). With FSDP also ``gathered_layer`` (two layers' weights
      all-gathered in compute dtype: the current one and the prefetched next) and
      ``layer_grad`` (one layer's float32 weight gradient in full, before its reduce-scatter);
    * ``update``: the summed gradient and its normalized, clipped copy (``update``, p).
    """
    cfg = config.model
    seq_len = config.seq_len or 2
    tensor = sizes["tensor"]
    batch_shards = sizes["data"] * sizes["fsdp"]
    device_rows = max(1, math.ceil(config.global_batch_size / batch_shards))
    rows = max(1, math.ceil(config.global_batch_size / config.grad_accum_steps / batch_shards))
    compute_bytes = 2 if config.compute_dtype == "bfloat16" else 4
    local = _local_model(cfg, tensor)
    layer_saved, head_saved = _residuals_by_place(
        local, config.compute_dtype, config.remat, rows, seq_len
    )
    layers_saved = layer_saved * cfg.num_hidden_layers
    if config.remat == "none":
        recomputed = mlp_recomputed = 0.0
    else:
        layer_all, _ = _residuals_by_place(local, config.compute_dtype, "none", rows, seq_len)
        recomputed = max(0.0, layer_all - layer_saved)
        mlp_recomputed = min(
            recomputed,
            _mlp_recomputed_bytes(local, config.compute_dtype, config.remat, rows, seq_len),
        )
    # A layer's backward pass walks the MLP first, with everything recomputed live and the
    # gradients of the gate and up projections, then the attention, with the MLP's recomputed
    # residuals freed and the score and probability gradients formed.
    mlp_backward = recomputed + 2.0 * rows * seq_len * local.intermediate_size * 4
    scores_grad = 2.0 * rows * local.num_attention_heads * seq_len * seq_len * 4
    attention_backward = recomputed - mlp_recomputed + scores_grad
    slices = _logits_slices(local, config.compute_dtype, rows, seq_len)
    logits_grad = (2.0 + slices) * rows * seq_len * local.vocab * 4
    batch = 3.0 * device_rows * seq_len * 4
    fsdp = sizes["fsdp"] > 1
    held = {
        "params": params_bytes,
        "optimizer": 2 * params_bytes,
        "batch": batch,
        "grads": params_bytes,
        "accumulation": (params_bytes + batch) if config.grad_accum_steps > 1 else 0.0,
    }
    moments = {
        "loss": {"activations": layers_saved + head_saved, "backward": logits_grad},
        "layer": {
            "activations": layers_saved,
            "backward": max(mlp_backward, attention_backward),
            "gathered_layer": 2 * layer_params / tensor * compute_bytes if fsdp else 0.0,
            "layer_grad": layer_params / tensor * 4 if fsdp else 0.0,
        },
        "update": {"update": params_bytes},
    }
    moment = max(moments, key=lambda name: sum(moments[name].values()))
    names = ("gathered_layer", "layer_grad", "update", "activations", "backward")
    return moment, {**held, **{n: moments[moment].get(n, 0.0) for n in names}}


def plan(
    config: TrainConfig,
    *,
    mesh: MeshConfig | None = None,
    chip: str | None = None,
    devices: int | None = None,
    assumed_mfu: float = 0.4,
    compile: bool = False,
) -> TrainPlan:
    """Plan ``config`` on ``mesh`` (default: the config's) of ``devices`` chips of kind ``chip``.

    When the mesh has a ``-1`` axis and ``devices`` is None, that axis is taken as 1. Where the
    config leaves vocab size or sequence length to the corpus, :data:`DEFAULT_VOCAB_SIZE` and
    ``min(max_position_embeddings, DEFAULT_SEQ_LEN)`` are assumed (the CLI assumes the same). Each assumption is listed first in
    ``advice``. Nothing is allocated: shapes come from ``jax.eval_shape``. ``compile=True``
    also lowers and compiles the real train step on the local devices and reports XLA's memory
    analysis (needs the mesh to fit locally).
    """
    mesh = mesh or config.mesh
    chip_name = chip or config.chip
    notes: list[str] = []
    if devices is None:
        devices = abs(mesh.data * mesh.fsdp * mesh.tensor)
        if -1 in (mesh.data, mesh.fsdp, mesh.tensor):
            notes.append(f"mesh {mesh.spelled()}: -1 axis taken as 1 (pass devices=N)")
    hw = _chip(chip_name, devices, notes)
    sizes = mesh_axis_sizes(mesh, devices)
    starts = True
    try:
        config.model_copy(update={"mesh": mesh}).check_mesh_fit(devices)
    except ValueError as err:  # still plan it: the memory figures show what to change
        starts = False
        notes.append(f"this config will not start: {err}")
    cfg = config.model
    if cfg.vocab_size is None:
        cfg = cfg.model_copy(update={"vocab_size": DEFAULT_VOCAB_SIZE})
        notes.append(f"vocab_size assumed {DEFAULT_VOCAB_SIZE} (a run takes it from the corpus)")
    seq_len = config.seq_len or min(cfg.max_position_embeddings, DEFAULT_SEQ_LEN)
    if config.seq_len is None:
        notes.append(f"seq_len assumed {seq_len} (a run takes it from the corpus)")
    config = config.model_copy(update={"model": cfg, "seq_len": seq_len})
    model = build_model(cfg, config.compute_dtype, config.remat)
    boxed = abstract_params_boxed(model)
    specs = nn.get_partition_spec(boxed)
    shapes = nn.unbox(boxed)
    local_elems = sum(
        _shard_elems(leaf.shape, physical_spec(spec, leaf.shape, sizes), sizes)
        for spec, leaf in zip(
            jax.tree.leaves(specs, is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec)),
            jax.tree.leaves(shapes),
            strict=True,
        )
    )
    n_params = sum(int(x.size) for x in jax.tree.leaves(shapes))
    assert n_params == total_params(cfg), "flops.total_params disagrees with the model"
    layer_params = (n_params - total_params(cfg.model_copy(update={"num_hidden_layers": 0}))) / max(
        cfg.num_hidden_layers, 1
    )
    batch_shards = sizes["data"] * sizes["fsdp"]
    rows = config.global_batch_size / config.grad_accum_steps / batch_shards
    params_b = local_elems * 4.0
    peak_at, memory = memory_inventory(config, sizes, params_b, layer_params)
    total = sum(memory.values())
    state_b = memory["params"] + memory["grads"] + memory["optimizer"] + memory["update"]
    gathered = memory["gathered_layer"] + memory["layer_grad"] + memory["accumulation"]
    acts = memory["activations"] + memory["backward"] + memory["batch"]
    flops_tok = train_flops_per_token(cfg, seq_len)
    tokens_step = config.global_batch_size * seq_len
    step_s = tokens_step * flops_tok / (devices * hw.peak_flops * assumed_mfu)
    fits = starts and total <= hw.hbm_bytes * _HEADROOM
    advice = _advice(config, sizes, rows, state_b, gathered, acts, hw.hbm_bytes * _HEADROOM)
    compiled = _compiled_gib(config, mesh) if compile else None
    return TrainPlan(
        config_name=config.name,
        mesh=sizes,
        devices=devices,
        chip=chip_name,
        parameters=n_params,
        flops_per_token=flops_tok,
        tokens_per_step=tokens_step,
        max_steps=config.max_steps,
        grad_accum_steps=config.grad_accum_steps,
        remat=config.remat,
        rows_per_device_per_microbatch=rows,
        params_gib=params_b / _GIB,
        grads_gib=params_b / _GIB,
        optimizer_gib=2 * params_b / _GIB,
        gathered_layer_gib=memory["gathered_layer"] / _GIB,
        activations_gib=memory["activations"] / _GIB,
        layer_grad_gib=memory["layer_grad"] / _GIB,
        accumulation_gib=memory["accumulation"] / _GIB,
        update_gib=memory["update"] / _GIB,
        backward_gib=memory["backward"] / _GIB,
        batch_gib=memory["batch"] / _GIB,
        peak_at=peak_at,
        total_gib=total / _GIB,
        device_memory_gib=hw.hbm_bytes / _GIB,
        fits=fits,
        compiled_gib=compiled,
        assumed_mfu=assumed_mfu,
        step_seconds=step_s,
        total_days=step_s * config.max_steps / 86400,
        advice=notes + advice,
    )


def _chip(name: str, devices: int, notes: list[str]) -> Chip:
    """The datasheet chip ``name``, or for ``cpu`` (the trainer's default) this host: its
    measured matmul peak and its RAM, shared by ``devices`` JAX CPU devices."""
    if name == "cpu":
        from lemur_train.flops import measure_cpu_peak

        ram = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        notes.append(
            "chip 'cpu': this host's measured float32 matmul peak and RAM "
            f"({ram / _GIB:.1f} GiB), split over {devices} device(s)"
        )
        return Chip(name="cpu", peak_flops=measure_cpu_peak() / devices, hbm_bytes=ram / devices)
    if name not in CHIPS:
        raise ValueError(f"unknown chip '{name}'; known: cpu, {', '.join(CHIPS)}")
    return CHIPS[name]


def _advice(
    config: TrainConfig,
    sizes: dict[str, int],
    rows: float,
    state_b: float,
    gathered: float,
    acts: float,
    budget: float,
) -> list[str]:
    out: list[str] = []
    if rows < 1:
        out.append(
            f"each microbatch has {rows:.2f} rows per device: lower grad_accum_steps or shrink the "
            "data*fsdp axes (a device cannot hold a fraction of a row)"
        )
    elif rows != int(rows):
        out.append(f"rows per device per microbatch is {rows:.2f}: make it an integer")
    if state_b + gathered + acts <= budget:
        return out
    if state_b + gathered > budget:
        out.append(
            "parameters + optimizer alone exceed device memory: raise fsdp (or tensor) so that "
            "the state is split over more devices"
        )
        return out
    room = budget - state_b - gathered
    if config.remat != "full":
        out.append(f"use remat='full' (now '{config.remat}') to keep only each layer's input")
    for factor in (2, 4, 8, 16, 32, 64):
        micro = config.grad_accum_steps * factor
        if config.global_batch_size % micro or rows / factor < 1:
            break
        if acts / factor <= room:
            out.append(f"raise grad_accum_steps to {micro} (activations shrink {factor}x)")
            return out
    out.append("activations still do not fit: add tensor parallelism or devices")
    return out


def compiled_memory(
    config: TrainConfig, mesh_cfg: MeshConfig, devices: list[jax.Device] | None = None
) -> dict[str, int] | None:
    """XLA's memory analysis of the real compiled train step on local ``devices`` (default:
    all), per device: argument, output, alias and temp bytes, and ``peak`` (arguments +
    outputs - aliased + temp). None where the backend reports nothing."""
    from lemur_train.optim import lr_schedule, make_optimizer
    from lemur_train.sharding import batch_sharding, make_mesh
    from lemur_train.train_state import state_layout
    from lemur_train.train_step import jit_train_step, make_train_step

    mesh = make_mesh(mesh_cfg, devices)
    model = build_model(config.model, config.compute_dtype, config.remat)
    tx = make_optimizer(config.optimizer, config.max_steps)
    layout = state_layout(model, tx, mesh)
    step = jit_train_step(
        make_train_step(
            model,
            tx,
            lr_schedule(config.optimizer, config.max_steps),
            num_sources=1,
            microbatches=config.grad_accum_steps,
            cross_document=config.model.cross_document_attention,
        ),
        layout.shardings,
        batch_sharding(mesh),
    )
    shape = (config.global_batch_size, config.seq_len or 2)
    batch = {
        k: jax.ShapeDtypeStruct(shape, jax.numpy.int32)
        for k in ("tokens", "segment_ids", "source_ids")
    }
    analysis = step.lower(layout.abstract, batch).compile().memory_analysis()  # type: ignore[attr-defined]
    if analysis is None:
        return None
    out = {
        "argument": int(analysis.argument_size_in_bytes),
        "output": int(analysis.output_size_in_bytes),
        "alias": int(analysis.alias_size_in_bytes),
        "temp": int(analysis.temp_size_in_bytes),
    }
    out["peak"] = out["argument"] + out["output"] - out["alias"] + out["temp"]
    return out


def _compiled_gib(config: TrainConfig, mesh_cfg: MeshConfig) -> float | None:
    # memory_analysis() describes one device's program (SPMD): no division by the mesh size.
    memory = compiled_memory(config, mesh_cfg)
    return None if memory is None else memory["peak"] / _GIB
