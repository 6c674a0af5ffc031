"""Train-step throughput: lemur-train's JAX step vs Transformers + torch on the same model and batch.

Both sides start from the same weights (ours exported to an HF directory and loaded by
``LlamaForCausalLM``), take the same batch, and run AdamW with global-norm clipping. The first
losses are printed side by side as a check that the work is the same; then tokens/s of each
(best of ``--rounds`` rounds that alternate JAX, torch, JAX, torch, ... so load changes hit both
sides alike), their ratio, and each side's MFU against a float32 matmul peak measured in this
run with the same threads (the higher of JAX's and torch's).

Threads are pinned before either library loads: the process is bound to ``--threads`` CPUs
(XLA's CPU thread pool is sized from the CPUs the process may run on), with one thread XLA's
Eigen pool is off (``--xla_cpu_multi_thread_eigen=false``), YNNPACK's dot fusions are off
unless ``XLA_FLAGS`` names ``--xla_cpu_experimental_ynn_fusion_type``, and torch gets
``torch.set_num_threads(N)`` and one inter-op thread. The settings and the load average at
start and end are printed and recorded.

``--preset matmul`` is the bench config where matmuls dominate (4 layers, d=512, 8 x 256).

    uv run python benchmarks/train_step_throughput.py                      # 4 layers d256, ~1 min
    uv run python benchmarks/train_step_throughput.py --preset matmul --threads 2 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _results import JSON_HELP, Results

PRESETS: dict[str, dict[str, int]] = {
    "small": {"layers": 4, "hidden": 256, "vocab": 4096, "seq": 256, "batch": 8},
    "matmul": {"layers": 4, "hidden": 512, "vocab": 4096, "seq": 256, "batch": 8},
}


def pin_threads(threads: int | None) -> dict[str, Any]:
    """Bind this process to ``threads`` CPUs and set XLA's flags; call before importing jax/torch."""
    allowed = sorted(os.sched_getaffinity(0))
    n = threads or len(allowed)
    if not 1 <= n <= len(allowed):
        sys.exit(
            f"--threads {n}: this process may run on {len(allowed)} CPUs; pass 1..{len(allowed)}"
        )
    os.sched_setaffinity(0, allowed[:n])
    flags = os.environ.get("XLA_FLAGS", "")
    if n == 1 and "xla_cpu_multi_thread_eigen" not in flags:
        flags = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    if "xla_cpu_experimental_ynn_fusion_type" not in flags:
        # jaxlib 0.10's YNNPACK dot fusions cost ~7% more CPU per d512 step than XLA's Eigen dots
        # here (2.87 vs 2.66 s on one thread); an empty list turns them off. Pass the flag in
        # XLA_FLAGS to measure another setting.
        flags = f"{flags} --xla_cpu_experimental_ynn_fusion_type=".strip()
    os.environ["XLA_FLAGS"] = flags
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    return {"threads": n, "cpus": allowed[:n], "xla_flags": flags}


def model_config(layers: int, hidden: int, vocab: int, intermediate: int | None = None) -> Any:
    """A Llama config with SmolLM-like proportions (heads of 64, GQA 2:1)."""
    from lemur_train.config import ModelConfig

    return ModelConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=intermediate or int(hidden * 8 / 3) // 16 * 16,
        num_hidden_layers=layers,
        num_attention_heads=max(hidden // 64, 1),
        num_key_value_heads=max(hidden // 128, 1),
    )


def make_tokens(batch: int, seq: int, vocab: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, vocab, (batch, seq)).astype(np.int32)


class JaxSide:
    """lemur-train's compiled step (``jit_train_step``: state donated, no host sync in the loop)."""

    def __init__(self, cfg: Any, tokens: np.ndarray, compute_dtype: str, remat: str) -> None:
        import jax
        import jax.numpy as jnp
        from lemur_train.config import MeshConfig, OptimizerConfig
        from lemur_train.model import build_model, default_unroll_layers
        from lemur_train.optim import lr_schedule, make_optimizer
        from lemur_train.sharding import batch_sharding, make_mesh
        from lemur_train.train_state import init_state, state_layout
        from lemur_train.train_step import jit_train_step, make_train_step

        opt = OptimizerConfig(peak_lr=1e-4, warmup_steps=1, weight_decay=0.0)
        mesh = make_mesh(MeshConfig(data=1), jax.devices()[:1])
        # The trainer's default: on CPU a small stack is compiled unrolled.
        self.unroll_layers = default_unroll_layers(cfg.num_hidden_layers)
        model = build_model(cfg, compute_dtype, remat, self.unroll_layers)  # type: ignore[arg-type]
        tx = make_optimizer(opt, 1000)
        layout = state_layout(model, tx, mesh)
        self.state = init_state(model, tx, layout, seed=0)
        self.step = jit_train_step(
            make_train_step(model, tx, lr_schedule(opt, 1000), num_sources=1),
            layout.shardings,
            batch_sharding(mesh),
        )
        batch = {
            "tokens": tokens,
            "segment_ids": np.ones_like(tokens),  # one document per row: same loss as HF labels
            "source_ids": np.zeros_like(tokens),
        }
        self.batch = {
            k: jax.device_put(jnp.asarray(v), batch_sharding(mesh)) for k, v in batch.items()
        }
        self._jax = jax

    def save_hf(self, cfg: Any, out: Path) -> None:
        from lemur_train.hf_format import save_hf

        save_hf(self._jax.device_get(self.state.params), cfg, out, tokenizer_dir=None)

    def first_step(self) -> float:
        """Compile and take one step; its loss."""
        self.state, metrics = self.step(self.state, self.batch)
        return float(metrics["loss"])

    def timed(self, steps: int) -> float:
        """Seconds for ``steps`` steps, dispatched back to back and waited for once."""
        start = time.perf_counter()
        for _ in range(steps):
            self.state, metrics = self.step(self.state, self.batch)
        self._jax.block_until_ready((self.state, metrics))
        return time.perf_counter() - start


class TorchSide:
    """Transformers' ``LlamaForCausalLM`` with torch AdamW and global-norm clipping."""

    def __init__(self, hf_dir: Path, tokens: np.ndarray, device: str, dtype: Any) -> None:
        import torch
        from transformers import LlamaForCausalLM

        self.torch = torch
        self.device = device
        model = LlamaForCausalLM.from_pretrained(hf_dir, dtype=dtype)
        # transformers types ``to`` through a decorator that mypy reads as taking the model first.
        self.model = model.to(device)  # type: ignore[arg-type]
        self.model.train()
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0
        )
        self.inputs = torch.tensor(tokens, dtype=torch.long, device=device)

    def _step(self) -> Any:
        loss = self.model(input_ids=self.inputs, labels=self.inputs).loss
        loss.backward()
        self.torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def first_step(self) -> float:
        return float(self._step())

    def timed(self, steps: int) -> float:
        self._sync()
        start = time.perf_counter()
        for _ in range(steps):
            self._step()
        self._sync()
        return time.perf_counter() - start


def best_of_alternating(
    sides: dict[str, Callable[[int], float]], steps: int, rounds: int
) -> dict[str, float]:
    """Best (lowest) seconds per ``steps`` steps of each side over ``rounds`` alternating rounds."""
    best = dict.fromkeys(sides, float("inf"))
    for r in range(rounds):
        for name, timed in sides.items():
            seconds = timed(steps)
            best[name] = min(best[name], seconds)
            print(f"  round {r + 1}: {name:<6} {seconds:7.3f} s for {steps} steps")
    return best


def torch_matmul_peak(device: str, dtype: Any, size: int = 1024, repeats: int = 5) -> float:
    """FLOP/s of a ``size``-square matmul in torch on ``device`` (best of repeats)."""
    import torch

    a = torch.ones((size, size), dtype=dtype, device=device)
    (a @ a).sum().item()
    best = float("inf")
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        b = a @ a
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
        del b
    return 2.0 * size**3 / best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    for name in ("layers", "hidden", "vocab", "seq", "batch"):
        parser.add_argument(f"--{name}", type=int, default=None, help="overrides the preset")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round and side")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; best is kept")
    parser.add_argument("--threads", type=int, default=None, help="CPUs for both sides (all)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help=JSON_HELP)
    args = parser.parse_args()
    pinned = pin_threads(args.threads)  # before jax and torch load
    size = {k: getattr(args, k) or v for k, v in PRESETS[args.preset].items()}
    results = Results("train_step_throughput", {**vars(args), **size})

    import torch
    from lemur_train.flops import measure_cpu_peak, train_flops_per_token

    torch.set_num_threads(pinned["threads"])
    torch.set_num_interop_threads(1)
    print(
        f"threads: {pinned['threads']} (CPUs {pinned['cpus']}); XLA_FLAGS={pinned['xla_flags']!r}; "
        f"torch intra-op {torch.get_num_threads()}, inter-op {torch.get_num_interop_threads()}"
    )
    print(f"load average at start {results.machine['load_average']} on {os.cpu_count()} CPUs")

    cfg = model_config(size["layers"], size["hidden"], size["vocab"])
    tokens = make_tokens(size["batch"], size["seq"], size["vocab"])
    tokens_per_step = size["batch"] * size["seq"]
    jax_side = JaxSide(cfg, tokens, "float32", "none")
    with tempfile.TemporaryDirectory() as tmp:
        jax_side.save_hf(cfg, Path(tmp))
        torch_side = TorchSide(Path(tmp), tokens, "cpu", torch.float32)
    jax_first, torch_first = jax_side.first_step(), torch_side.first_step()
    best = best_of_alternating(
        {"jax": jax_side.timed, "torch": torch_side.timed}, args.steps, args.rounds
    )
    jax_tps = args.steps * tokens_per_step / best["jax"]
    torch_tps = args.steps * tokens_per_step / best["torch"]

    jax_peak, torch_peak = measure_cpu_peak(), torch_matmul_peak("cpu", torch.float32)
    peak = max(jax_peak, torch_peak)
    flops = train_flops_per_token(cfg, size["seq"])
    load_end = [round(x, 2) for x in os.getloadavg()]
    print(
        f"model: {size['layers']} layers, d={size['hidden']}, vocab {size['vocab']}; "
        f"batch {size['batch']} x {size['seq']}; best of {args.rounds} x {args.steps} steps; "
        f"JAX layers {'unrolled' if jax_side.unroll_layers else 'in a loop'}"
    )
    print(
        f"first-step loss  jax {jax_first:.5f}  torch {torch_first:.5f}  (same weights, same batch)"
    )
    print(
        f"matmul peak      {peak / 1e9:,.1f} GFLOP/s float32 (JAX {jax_peak / 1e9:,.1f}, "
        f"torch {torch_peak / 1e9:,.1f}; measured now, same threads)"
    )
    print(f"lemur-train JAX  {jax_tps:10,.0f} tokens/s   MFU {flops * jax_tps / peak:6.1%}")
    print(f"HF torch         {torch_tps:10,.0f} tokens/s   MFU {flops * torch_tps / peak:6.1%}")
    print(f"ratio JAX/torch  {jax_tps / torch_tps:.2f}x")
    print(f"load average at end {load_end}")
    desc = (
        f"{size['layers']} layers d{size['hidden']}, batch {size['batch']} x {size['seq']}, "
        f"{pinned['threads']} threads"
    )
    common = {
        "threads": pinned,
        "load_end": load_end,
        "rounds": args.rounds,
        "steps": args.steps,
        "unroll_layers": jax_side.unroll_layers,
    }
    results.add(
        f"pre-training step ({desc})",
        metric="tokens/s",
        ours=jax_tps,
        peer="Transformers + torch",
        peers=torch_tps,
        parameters={"first_loss": [jax_first, torch_first], **common},
    )
    results.add(
        f"pre-training step MFU ({desc})",
        metric="share of measured matmul peak",
        ours=flops * jax_tps / peak,
        peer="Transformers + torch",
        peers=flops * torch_tps / peak,
        parameters={"peak_gflops": peak / 1e9, "jax_peak_gflops": jax_peak / 1e9, **common},
    )
    results.write(args.json)


if __name__ == "__main__":
    main()
