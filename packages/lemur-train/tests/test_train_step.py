"""The train step: sharding, accumulation, remat and precision change nothing they should not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest
from lemur_train.config import MeshConfig, ModelConfig, OptimizerConfig
from lemur_train.model import build_model, default_unroll_layers, swiglu
from lemur_train.optim import lr_schedule, make_optimizer
from lemur_train.sharding import batch_sharding, make_mesh
from lemur_train.train_state import init_state, state_layout
from lemur_train.train_step import jit_train_step, make_train_step

CFG = ModelConfig(
    vocab_size=384,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
)
OPT = OptimizerConfig(peak_lr=1e-2, warmup_steps=1)


def _batch(rows: int = 8, length: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 384, (rows, length)).astype(np.int32)
    cut = rng.integers(4, length - 4, rows)
    pos = np.arange(length)
    segments = np.where(pos < cut[:, None], 1, 2).astype(np.int32)
    segments[:, -3:] = 0  # padding tail
    sources = np.where(segments == 0, -1, segments - 1).astype(np.int32)
    return {"tokens": tokens, "segment_ids": segments, "source_ids": sources}


def _run(
    mesh: MeshConfig,
    devices: list[Any],
    *,
    microbatches: int = 1,
    remat: str = "none",
    dtype: str = "float32",
    steps: int = 2,
    unroll_layers: bool = False,
    batch: dict[str, np.ndarray] | None = None,
) -> tuple[list[float], Any]:
    mesh_obj = make_mesh(mesh, devices)
    model = build_model(CFG, dtype, remat, unroll_layers)  # type: ignore[arg-type]
    tx = make_optimizer(OPT, 10)
    layout = state_layout(model, tx, mesh_obj)
    state = init_state(model, tx, layout, seed=0)
    step = jit_train_step(
        make_train_step(model, tx, lr_schedule(OPT, 10), num_sources=2, microbatches=microbatches),
        layout.shardings,
        batch_sharding(mesh_obj),
    )
    losses = []
    for i in range(steps):
        host = batch if batch is not None else _batch(seed=i)
        placed = {k: jax.device_put(v, batch_sharding(mesh_obj)) for k, v in host.items()}
        state, metrics = step(state, placed)
        losses.append(float(metrics["loss"]))
    return losses, jax.device_get(state.params)


def _assert_trees_close(a: Any, b: Any, atol: float = 1e-4) -> None:
    # Adam's first steps move every weight by about +-lr (1e-2) whatever the gradient's size,
    # so float reassociation in near-zero gradients shows up at ~1e-5 of a step; 1e-4 is 1%.
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, atol=atol, rtol=0)


@pytest.fixture(scope="module")
def single_device_run() -> tuple[list[float], Any]:
    return _run(MeshConfig(data=1), jax.devices()[:1])


def test_sharded_step_equals_single_device_step(
    single_device_run: tuple[list[float], Any],
) -> None:
    if jax.device_count() < 8:
        # jax was imported before our conftest could ask for 8 CPU devices: rerun in a process
        # that gets them.
        env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
        node = f"{Path(__file__)}::test_sharded_step_equals_single_device_step"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", node], env=env
        )
        assert done.returncode == 0
        return
    losses, params = _run(MeshConfig(data=2, fsdp=2, tensor=2), jax.devices()[:8])
    ref_losses, ref_params = single_device_run
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    _assert_trees_close(params, ref_params)


def test_gradient_accumulation_equals_full_batch_step(
    single_device_run: tuple[list[float], Any],
) -> None:
    losses, params = _run(MeshConfig(data=1), jax.devices()[:1], microbatches=4)
    ref_losses, ref_params = single_device_run
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    _assert_trees_close(params, ref_params)


def test_full_remat_changes_nothing(single_device_run: tuple[list[float], Any]) -> None:
    # (bf16 compute and the "dots" policy are exercised by the trainer test's real run)
    ref_losses, ref_params = single_device_run
    losses, params = _run(MeshConfig(data=1), jax.devices()[:1], remat="full")
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    _assert_trees_close(params, ref_params)


def test_unrolled_layers_change_nothing(single_device_run: tuple[list[float], Any]) -> None:
    ref_losses, ref_params = single_device_run
    losses, params = _run(MeshConfig(data=1), jax.devices()[:1], unroll_layers=True)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    _assert_trees_close(params, ref_params)
    # the same parameter tree: layers stacked on a leading axis either way
    assert str(jax.tree.structure(params)) == str(jax.tree.structure(ref_params))
    for x, y in zip(jax.tree.leaves(params), jax.tree.leaves(ref_params), strict=True):
        assert x.shape == y.shape


def test_unrolled_stack_compiles_without_a_loop_and_is_the_cpu_default_for_few_layers() -> None:
    tokens = np.zeros((2, 16), np.int32)

    def hlo(unroll: bool) -> str:
        model = build_model(CFG, unroll_layers=unroll)
        params = model.init(jax.random.PRNGKey(0), tokens)
        return jax.jit(model.apply).lower(params, tokens).as_text()

    assert "while" not in hlo(True)
    assert "while" in hlo(False)
    assert default_unroll_layers(4) is (jax.default_backend() == "cpu")
    assert default_unroll_layers(32) is False


def test_swiglu_rule_gives_autodiff_value_and_gradients() -> None:
    rng = np.random.default_rng(0)
    gate, up, cot = (rng.standard_normal((64, 96)).astype(np.float32) * 4 for _ in range(3))

    def plain(g: jax.Array, u: jax.Array) -> jax.Array:
        return jax.nn.silu(g) * u

    value, pull = jax.vjp(swiglu, gate, up)
    ref_value, ref_pull = jax.vjp(plain, gate, up)
    np.testing.assert_array_equal(value, ref_value)
    for got, want in zip(pull(cot), ref_pull(cot), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_schedule_warms_up_linearly_then_decays_to_ten_percent() -> None:
    cfg = OptimizerConfig()  # the paper's: 4e-5 peak, 2000 warm-up steps, floor 10%
    schedule = lr_schedule(cfg, 21458)
    lr = np.asarray([float(schedule(s)) for s in (0, 999, 1999, 2000, 11728, 21457, 30000)])
    np.testing.assert_allclose(lr[:3], [4e-5 / 2000, 4e-5 / 2, 4e-5], rtol=1e-5)
    assert lr[2] * (1 + 1e-6) >= lr[3] > lr[4] > lr[5]
    np.testing.assert_allclose(lr[4], 4e-6 + (4e-5 - 4e-6) / 2, rtol=1e-3)  # cosine midpoint
    np.testing.assert_allclose(lr[5:], [4e-6, 4e-6], rtol=1e-5)
