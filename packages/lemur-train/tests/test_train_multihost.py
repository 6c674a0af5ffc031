"""Multi-host training with the real ``jax.distributed``: 2 local processes x 2 CPU devices
from an HF checkpoint equal 1 process x 4 devices on the same global mesh."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lemur_train.config import DistributedConfig, MeshConfig
from lemur_train.distributed import Launch, detect_launch
from lemur_train.safetensors_io import read_safetensors

WORKER = Path(__file__).with_name("multihost_worker.py")


def test_explicit_flags_win_over_environment_and_config() -> None:
    env = {"LEMUR_COORDINATOR": "h:1", "LEMUR_NUM_PROCESSES": "4", "LEMUR_PROCESS_ID": "3"}
    flags = Launch("127.0.0.1:9", 2, 1)
    assert detect_launch(flags, DistributedConfig(), env) == flags
    assert detect_launch(None, DistributedConfig(), env) == Launch("h:1", 4, 3, "environment")
    assert detect_launch(Launch(), DistributedConfig(), {}) is None


def test_slurm_and_tpu_launches_are_left_to_jax_cluster_detection() -> None:
    slurm = detect_launch(None, DistributedConfig(), {"SLURM_NTASKS": "8", "SLURM_PROCID": "5"})
    assert slurm == Launch(source="slurm")
    assert (
        detect_launch(None, DistributedConfig(), {"SLURM_NTASKS": "1", "SLURM_PROCID": "0"}) is None
    )
    tpu = detect_launch(None, DistributedConfig(), {"TPU_WORKER_HOSTNAMES": "w0,w1,w2,w3"})
    assert tpu == Launch(source="tpu")
    enabled = detect_launch(None, DistributedConfig(enabled=True), {})
    assert enabled == Launch(source="config")


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"LEMUR_NUM_PROCESSES": "2"}, "give all three"),
        (
            {"LEMUR_COORDINATOR": "h:1", "LEMUR_NUM_PROCESSES": "2", "LEMUR_PROCESS_ID": "2"},
            "not in 0..1",
        ),
        ({"LEMUR_NUM_PROCESSES": "two"}, "not an integer"),
    ],
)
def test_an_incomplete_launch_is_one_usage_error(env: dict[str, str], needle: str) -> None:
    from lemur_core.cli_errors import UsageError

    with pytest.raises(UsageError, match=needle):
        detect_launch(None, DistributedConfig(), env)


def test_the_launch_is_not_part_of_the_run_identity(make_train_config: Any) -> None:
    from lemur_train.trainer import run_identity

    tiny_train_config = make_train_config
    one = tiny_train_config(distributed=DistributedConfig(enabled=True, process_id=0))
    other = tiny_train_config(distributed=DistributedConfig(enabled=True, process_id=1))
    assert run_identity(one) == run_identity(other)
    assert "distributed" not in run_identity(one)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_hf_checkpoint(out: Path, cfg: Any) -> None:
    """A random 2-layer Llama in the project's own HF export (what Transformers loads)."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    from lemur_train.hf_format import save_hf
    from lemur_train.model import build_model

    model = build_model(cfg, "float32", "none")
    params = nn.unbox(model.init(jax.random.PRNGKey(7), jnp.zeros((1, 2), jnp.int32))["params"])
    save_hf(jax.device_get(params), cfg, out, tokenizer_dir=None)


def _start(job: Path, devices: int, process_id: int | None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env.pop("LEMUR_COORDINATOR", None)
    args = [sys.executable, str(WORKER), str(job)]
    if process_id is not None:
        args.append(str(process_id))
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        pytest.fail(f"worker hung:\n{output[-3000:]}")
    assert proc.returncode == 0, output[-3000:]
    return dict(json.loads(output.strip().splitlines()[-1]))


def _losses(run: Path) -> list[tuple[int, float]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"]) for r in map(json.loads, lines)]


@pytest.mark.slow
def test_two_processes_from_an_hf_checkpoint_equal_one_process(
    tmp_path: Path,
    corpus_dir: Path,
    make_model_config: Callable[..., Any],
    make_train_config: Callable[..., Any],
) -> None:
    from lemur_train.data import PackedCorpus

    hf_init = tmp_path / "init"
    vocab = PackedCorpus(corpus_dir).spec.vocab_size
    _write_hf_checkpoint(hf_init, make_model_config(vocab_size=vocab))
    steps = 4
    # Every field set (as a YAML file or a preset would): head_dim None must not clash with
    # the checkpoint's config.json, which states head_dim.
    base = make_train_config(
        init_from=str(hf_init),
        mesh=MeshConfig(data=1, fsdp=2, tensor=2),
        max_steps=steps,
        checkpoint={"every_steps": steps, "keep_last": 1},  # one save, at the end
    ).model_dump(mode="json")
    port = _free_port()
    procs = []
    for name, config in (
        ("one", base),
        # A per-host config (each host names its own process id) claims the same run.
        ("two-0", {**base, "distributed": {"enabled": True, "process_id": 0}}),
        ("two-1", {**base, "distributed": {"enabled": True, "process_id": 1}}),
    ):
        job = tmp_path / f"{name}.json"
        out = tmp_path / ("one" if name == "one" else "two")
        job.write_text(
            json.dumps(
                {
                    "config": config,
                    "corpus": str(corpus_dir),
                    "out": str(out),
                    "coordinator": f"127.0.0.1:{port}",
                    "num_processes": 2,
                    # Process 1 reaches the run 35 s after process 0: longer than the 30 s a
                    # Gloo context waits for its peers, so only a barrier under the config's
                    # own timeout lets process 0 wait it out (CI once failed so, under load).
                    "late_s": 35,
                }
            )
        )
        if name == "one":
            procs.append(_start(job, 4, None))
        else:
            procs.append(_start(job, 2, int(name[-1])))
    reports = [_finish(p, 240) for p in procs]
    assert [(r["process_count"], r["devices"], r["local_devices"]) for r in reports] == [
        (1, 4, 4),
        (2, 4, 2),
        (2, 4, 2),
    ]
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert [s for s, _ in two] == list(range(1, steps + 1))  # complete: every step, once
    assert [s for s, _ in one] == [s for s, _ in two]
    # Same global mesh, same data order: the per-step losses agree to float32 rounding of the
    # cross-process reductions (gloo sums in another order than one process does).
    np.testing.assert_allclose([v for _, v in two], [v for _, v in one], rtol=2e-6, atol=0)
    exported_one = read_safetensors(tmp_path / "one" / "hf" / "model.safetensors")
    exported_two = read_safetensors(tmp_path / "two" / "hf" / "model.safetensors")
    assert sorted(exported_one) == sorted(exported_two)
    for name in exported_one:
        np.testing.assert_allclose(exported_two[name], exported_one[name], rtol=0, atol=1e-6)
    manifest = json.loads((tmp_path / "two" / "hf" / "manifest.json").read_text())
    assert "distributed" not in manifest["config"]


def test_hf_init_is_read_shard_by_shard_into_the_mesh(
    tmp_path: Path, make_model_config: Callable[..., Any]
) -> None:
    # Every device asks for its own slice only; the placed params equal a whole-file load.
    import flax.linen as nn
    import jax
    from jax.sharding import NamedSharding
    from lemur_train.hf_format import LazyTensor, hf_sources, load_hf
    from lemur_train.model import build_model
    from lemur_train.sharding import make_mesh, tree_shardings
    from lemur_train.train_state import abstract_params_boxed, place_params

    cfg = make_model_config(vocab_size=384)
    _write_hf_checkpoint(tmp_path / "hf", cfg)
    mesh = make_mesh(MeshConfig(data=1, fsdp=4, tensor=2))
    boxed = abstract_params_boxed(build_model(cfg))
    shardings, abstract = tree_shardings(boxed, mesh), nn.unbox(boxed)
    reads: list[int] = []

    def spy(leaf: LazyTensor) -> LazyTensor:
        def read(index: tuple[slice, ...]) -> Any:
            out = leaf.read(index)
            reads.append(out.size)
            return out

        return LazyTensor(leaf.shape, leaf.dtype, read)

    sources = jax.tree.map(
        spy, hf_sources(tmp_path / "hf")[1], is_leaf=lambda x: isinstance(x, LazyTensor)
    )
    placed = place_params(sources, shardings, abstract)
    whole = load_hf(tmp_path / "hf")[1]
    for got, want, sharding in zip(
        jax.tree.leaves(placed), jax.tree.leaves(whole), jax.tree.leaves(shardings), strict=True
    ):
        assert isinstance(sharding, NamedSharding) and got.sharding == sharding
        np.testing.assert_array_equal(np.asarray(got), want)
    # The q kernel [layers, embed/fsdp, heads/tensor, head_dim] is read in 8 slices of 1/8 each.
    q = whole["layers"]["self_attn"]["q_proj"]["kernel"]
    assert q.size // 8 in reads and max(reads) < whole["embed_tokens"]["embedding"].size


def test_a_preset_with_init_from_does_not_clash_on_head_dim(
    tmp_path: Path, corpus_dir: Path
) -> None:
    # The tiny preset leaves head_dim unset; the checkpoint's config.json states it (32).
    from lemur_train.config import TrainConfig
    from lemur_train.data import PackedCorpus
    from lemur_train.hf_format import hf_config_from_model
    from lemur_train.trainer import resolve_config

    corpus = PackedCorpus(corpus_dir)
    arch = TrainConfig.tiny().model.model_copy(update={"vocab_size": corpus.spec.vocab_size})
    hf = hf_config_from_model(arch, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    assert hf["head_dim"] == arch.resolved_head_dim
    (tmp_path / "config.json").write_text(json.dumps(hf))
    config = TrainConfig.from_mapping({"preset": "tiny", "init_from": str(tmp_path)})
    assert "head_dim" in config.model.model_fields_set  # the preset merge sets every field
    assert resolve_config(config, corpus).model.resolved_head_dim == arch.resolved_head_dim
    other = TrainConfig.from_mapping(
        {"preset": "tiny", "init_from": str(tmp_path), "model": {"head_dim": 64}}
    )
    with pytest.raises(ValueError, match="head_dim"):
        resolve_config(other, corpus)


_BARRIER_WORKER = """
import sys, time
import jax
jax.distributed.initialize(sys.argv[1], 2, int(sys.argv[2]))
jax.devices()
from lemur_train.distributed import barrier
if sys.argv[2] == "0":
    barrier("lemur-train: test", 1.0)
else:
    time.sleep(6)  # never at the barrier while process 0 waits
"""


@pytest.mark.slow
def test_a_barrier_the_other_process_never_reaches_is_an_env_error_naming_the_timeout() -> None:
    from lemur_core.cli_errors import EnvError

    address = f"127.0.0.1:{_free_port()}"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _BARRIER_WORKER, address, str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in (0, 1)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert procs[0].returncode != 0 and procs[1].returncode == 0, outputs
    last = [line for line in outputs[0].splitlines() if line.strip()][-1]
    assert last.startswith(f"{EnvError.__module__}.EnvError: process 0 of 2 waited 1 s"), last
    assert "'lemur-train: test'" in last and "distributed.barrier_timeout_s" in last
