"""Train-step throughput: lemur-train's JAX step vs Transformers + torch on the same model and batch.

Both sides start from the same weights (ours exported to an HF directory and loaded by
``LlamaForCausalLM``), take the same batch, and run AdamW with global-norm clipping. The first
losses are printed side by side as a check that the work is the same; then tokens/s of each,
their ratio, and each side's MFU against a float32 matmul peak measured in this run.

    uv run python benchmarks/train_step_throughput.py [--layers 4 --hidden 256 --seq 256 --batch 8 --steps 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import torch
from _results import Results, add_json_option
from lemur_train.config import MeshConfig, ModelConfig, OptimizerConfig
from lemur_train.flops import measure_cpu_peak, train_flops_per_token
from lemur_train.hf_format import save_hf
from lemur_train.model import build_model
from lemur_train.optim import lr_schedule, make_optimizer
from lemur_train.sharding import batch_sharding, make_mesh
from lemur_train.train_state import init_state, state_layout
from lemur_train.train_step import jit_train_step, make_train_step
from transformers import LlamaForCausalLM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    add_json_option(parser)
    args = parser.parse_args()
    results = Results("train_step_throughput", vars(args))

    cfg = ModelConfig(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        intermediate_size=int(args.hidden * 8 / 3) // 16 * 16,
        num_hidden_layers=args.layers,
        num_attention_heads=max(args.hidden // 64, 1),
        num_key_value_heads=max(args.hidden // 128, 1),
    )
    opt = OptimizerConfig(peak_lr=1e-4, warmup_steps=1, weight_decay=0.0)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, args.vocab, (args.batch, args.seq)).astype(np.int32)
    batch = {
        "tokens": tokens,
        "segment_ids": np.ones_like(tokens),  # one document per row: same loss as HF labels
        "source_ids": np.zeros_like(tokens),
    }
    tokens_per_step = args.batch * args.seq

    # --- lemur-train (JAX) ---
    mesh = make_mesh(MeshConfig(data=1), jax.devices()[:1])
    model = build_model(cfg)
    tx = make_optimizer(opt, 1000)
    layout = state_layout(model, tx, mesh)
    state = init_state(model, tx, layout, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        save_hf(jax.device_get(state.params), cfg, Path(tmp), tokenizer_dir=None)
        hf = LlamaForCausalLM.from_pretrained(tmp, dtype=torch.float32)
    step = jit_train_step(
        make_train_step(model, tx, lr_schedule(opt, 1000), num_sources=1),
        layout.shardings,
        batch_sharding(mesh),
    )
    placed = {k: jax.device_put(jnp.asarray(v), batch_sharding(mesh)) for k, v in batch.items()}
    state, metrics = step(state, placed)  # compile + first step
    jax_first_loss = float(metrics["loss"])
    start = time.perf_counter()
    for _ in range(args.steps):
        state, metrics = step(state, placed)
    jax.block_until_ready(metrics)
    jax_tps = args.steps * tokens_per_step / (time.perf_counter() - start)

    # --- Transformers + torch ---
    hf.train()
    optimizer = torch.optim.AdamW(hf.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0)
    inputs = torch.tensor(tokens, dtype=torch.long)

    def torch_step() -> float:
        loss = hf(input_ids=inputs, labels=inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(hf.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    torch_first_loss = torch_step()
    start = time.perf_counter()
    for _ in range(args.steps):
        torch_step()
    torch_tps = args.steps * tokens_per_step / (time.perf_counter() - start)

    peak = measure_cpu_peak()
    flops = train_flops_per_token(cfg, args.seq)
    print(
        f"model: {args.layers} layers, d={args.hidden}, vocab {args.vocab}; batch {args.batch} x {args.seq}"
    )
    print(
        f"first-step loss  jax {jax_first_loss:.5f}  torch {torch_first_loss:.5f}  (same weights, same batch)"
    )
    print(f"matmul peak      {peak / 1e9:,.1f} GFLOP/s (float32, measured now)")
    print(f"lemur-train JAX  {jax_tps:10,.0f} tokens/s   MFU {flops * jax_tps / peak:6.1%}")
    print(f"HF torch         {torch_tps:10,.0f} tokens/s   MFU {flops * torch_tps / peak:6.1%}")
    print(f"ratio JAX/torch  {jax_tps / torch_tps:.2f}x")
    model_desc = f"{args.layers} layers d{args.hidden}, batch {args.batch} x {args.seq}"
    results.add(
        f"pre-training step ({model_desc})",
        metric="tokens/s",
        ours=jax_tps,
        peer="Transformers + torch",
        peers=torch_tps,
        parameters={"first_loss": [jax_first_loss, torch_first_loss]},
    )
    results.add(
        f"pre-training step MFU ({model_desc})",
        metric="share of measured matmul peak",
        ours=flops * jax_tps / peak,
        peer="Transformers + torch",
        peers=flops * torch_tps / peak,
        parameters={"peak_gflops": peak / 1e9},
    )
    results.write(args.json)


if __name__ == "__main__":
    main()
