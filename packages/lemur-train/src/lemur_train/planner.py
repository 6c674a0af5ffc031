"""Memory and time of a training config on a mesh, from abstract shapes, without allocating.

Parameter shapes come from ``jax.eval_shape`` of the real model's ``init`` and are split with
the same logical-axis rules the trainer uses, so per-device parameter, gradient and optimizer
bytes are exact. Activation memory is an analytic estimate per remat policy (documented on
:func:`activation_bytes`); where the mesh fits on the local devices the compiler's own memory
analysis of the real train step can be added (``compile=True``).
"""

from __future__ import annotations

import math
import os
from typing import Any

import flax.linen as nn
import jax
from pydantic import BaseModel, ConfigDict

from lemur_train.config import MeshConfig, ModelConfig, TrainConfig
from lemur_train.flops import CHIPS, Chip, total_params, train_flops_per_token
from lemur_train.model import build_model
from lemur_train.sharding import mesh_axis_sizes, physical_spec
from lemur_train.train_state import abstract_params_boxed

_GIB = 2.0**30
_HEADROOM = 0.9  # leave 10% of device memory to the runtime and fragmentation


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
            "  memory per device (GiB):",
            f"    params (fp32)       {self.params_gib:8.2f}",
            f"    grads (fp32)        {self.grads_gib:8.2f}",
            f"    optimizer (Adam)    {self.optimizer_gib:8.2f}",
            f"    gathered layer      {self.gathered_layer_gib:8.2f}",
            f"    activations (est.)  {self.activations_gib:8.2f}",
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


def activation_bytes(
    cfg: ModelConfig, tokens: float, seq_len: int, tensor: int, remat: str, compute_bytes: int
) -> float:
    """Estimated activation bytes per device for ``tokens`` tokens of one microbatch.

    Per layer and token, with ``p`` bytes per compute value and ``t`` the tensor-parallel size:

    * ``none`` keeps everything the backward pass reads: layer input and two norm outputs
      (3h), q/k/v before and after rotary (2(a+2k)d/t), attention scores, probabilities and the
      mask (a/t * T * (4 + 4 + 1) bytes, float32 softmax), attention output (ad/t) and o-proj (h),
      SwiGLU gate/up/silu/product (4I/t) and down-proj (h);
    * ``dots`` keeps the outputs of weight matmuls only (q, k, v, o, gate, up, down) and the
      layer input, then recomputes the rest, attention included;
    * ``full`` keeps only each layer's input and recomputes one layer at a time, whose
      working set (the ``none`` amount for one layer) is added once.

    Logits, their log-softmax and gradient (3 x V/t float32 per token) are added in every case.
    """
    h, a, k, d = (
        cfg.hidden_size,
        cfg.num_attention_heads,
        cfg.num_key_value_heads,
        cfg.resolved_head_dim,
    )
    i, layers, p = cfg.intermediate_size, cfg.num_hidden_layers, compute_bytes
    everything = (
        3 * h * p
        + 2 * (a + 2 * k) * d / tensor * p
        + a / tensor * seq_len * 9
        + a * d / tensor * p
        + h * p
        + 4 * i / tensor * p
        + h * p
    )
    matmul_outputs = (h + (a + 2 * k) * d / tensor + h + 2 * i / tensor + h) * p
    per_token = {
        "none": layers * everything,
        "dots": layers * matmul_outputs + everything,
        "full": layers * h * p + everything,
    }[remat]
    logits = 3 * cfg.vocab / tensor * 4
    return tokens * (per_token + logits)


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
    config leaves vocab size or sequence length to the corpus, 32000 and
    ``min(max_position_embeddings, 4096)`` are assumed. Each assumption is listed first in
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
        cfg = cfg.model_copy(update={"vocab_size": 32000})
        notes.append("vocab_size assumed 32000 (a run takes it from the corpus)")
    seq_len = config.seq_len or min(cfg.max_position_embeddings, 4096)
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
    compute_bytes = 2 if config.compute_dtype == "bfloat16" else 4
    layer_params = (n_params - total_params(cfg.model_copy(update={"num_hidden_layers": 0}))) / max(
        cfg.num_hidden_layers, 1
    )
    # FSDP gathers one layer's weights (sharded only by tensor) in compute dtype; XLA usually
    # prefetches the next layer, hence 2 layers.
    gathered = 2 * layer_params / sizes["tensor"] * compute_bytes
    batch_shards = sizes["data"] * sizes["fsdp"]
    rows = config.global_batch_size / config.grad_accum_steps / batch_shards
    acts = activation_bytes(
        cfg, max(rows, 1.0) * seq_len, seq_len, sizes["tensor"], config.remat, compute_bytes
    )
    params_b = local_elems * 4.0
    total = params_b * 4 + gathered + acts  # params + grads + 2 Adam moments
    flops_tok = train_flops_per_token(cfg, seq_len)
    tokens_step = config.global_batch_size * seq_len
    step_s = tokens_step * flops_tok / (devices * hw.peak_flops * assumed_mfu)
    fits = starts and total <= hw.hbm_bytes * _HEADROOM
    advice = _advice(config, sizes, rows, params_b * 4, gathered, acts, hw.hbm_bytes * _HEADROOM)
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
        gathered_layer_gib=gathered / _GIB,
        activations_gib=acts / _GIB,
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


def _compiled_gib(config: TrainConfig, mesh_cfg: MeshConfig) -> float | None:
    from lemur_train.model import build_model as _build
    from lemur_train.optim import lr_schedule, make_optimizer
    from lemur_train.sharding import batch_sharding, make_mesh
    from lemur_train.train_state import state_layout
    from lemur_train.train_step import jit_train_step, make_train_step

    mesh = make_mesh(mesh_cfg)
    model = _build(config.model, config.compute_dtype, config.remat)
    tx = make_optimizer(config.optimizer, config.max_steps)
    layout = state_layout(model, tx, mesh)
    step = jit_train_step(
        make_train_step(
            model,
            tx,
            lr_schedule(config.optimizer, config.max_steps),
            num_sources=1,
            microbatches=config.grad_accum_steps,
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
    used = (
        analysis.argument_size_in_bytes
        + analysis.output_size_in_bytes
        - analysis.alias_size_in_bytes
        + analysis.temp_size_in_bytes
    )
    return float(used) / len(mesh.devices.flat) / _GIB
