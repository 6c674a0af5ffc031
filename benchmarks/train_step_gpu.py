"""Train-step throughput on a GPU: lemur-train's JAX step vs Transformers + torch, ~1B Llama in bf16.

The same two sides as ``train_step_throughput.py`` (same weights, same batch, AdamW with
global-norm clipping; best of ``--rounds`` alternating rounds) on one GPU: lemur-train computes
in bfloat16 with float32 master weights (its ``compute_dtype: bfloat16``), the torch peer holds
bfloat16 weights with SDPA attention. Printed: the first losses side by side, tokens/s of each
and their ratio, and MFU against the chip's datasheet dense-bf16 peak and against a bf16 matmul
peak measured in this run. The default model is TinyLlama-shaped (22 layers, d=2048, 32 heads,
4 KV heads, MLP 5632, vocab 32000: 1.1B parameters).

Without a GPU (no CUDA device for JAX or for torch) it prints why and exits 0: nothing depends
on it, and it runs where a GPU is lent:

    uv run python benchmarks/train_step_gpu.py [--batch 4 --seq 2048 --steps 5 --rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _results import JSON_HELP, Results
from train_step_throughput import (
    JaxSide,
    TorchSide,
    best_of_alternating,
    make_tokens,
    model_config,
    torch_matmul_peak,
)

#: Dense bf16 datasheet peaks (FLOP/s, no sparsity) by a name fragment of the device.
DATASHEET_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}


def gpu_present() -> str | None:
    """Why this harness cannot run here, or None when JAX and torch both see a CUDA GPU."""
    import torch

    if not torch.cuda.is_available():
        return "torch sees no CUDA device"
    import jax

    try:
        jax.devices("gpu")
    except RuntimeError:
        return f"JAX has no GPU backend (backends: {jax.default_backend()}; needs jax[cuda12])"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--layers", type=int, default=22)
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--intermediate", type=int, default=5632)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--remat", choices=("none", "dots", "full"), default="dots")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help=JSON_HELP)
    args = parser.parse_args()
    why = gpu_present()
    if why is not None:
        print(f"skipped: {why}; this harness runs on a GPU machine")
        return
    results = Results("train_step_gpu", vars(args))

    import torch
    from lemur_train.flops import measure_matmul_peak, total_params, train_flops_per_token

    name = torch.cuda.get_device_name(0)
    datasheet = next((v for k, v in DATASHEET_BF16.items() if k in name), None)
    cfg = model_config(args.layers, args.hidden, args.vocab, args.intermediate)
    cfg = cfg.model_copy(
        update={"num_attention_heads": args.hidden // 64, "num_key_value_heads": 4}
    )
    tokens = make_tokens(args.batch, args.seq, args.vocab)
    print(
        f"device {name}; {total_params(cfg) / 1e9:.2f}B parameters; load {results.machine['load_average']}"
    )
    jax_side = JaxSide(cfg, tokens, "bfloat16", args.remat)
    with tempfile.TemporaryDirectory() as tmp:
        jax_side.save_hf(cfg, Path(tmp))
        torch_side = TorchSide(Path(tmp), tokens, "cuda", torch.bfloat16)
    jax_first, torch_first = jax_side.first_step(), torch_side.first_step()
    best = best_of_alternating(
        {"jax": jax_side.timed, "torch": torch_side.timed}, args.steps, args.rounds
    )
    per_step = args.batch * args.seq
    jax_tps, torch_tps = (args.steps * per_step / best[k] for k in ("jax", "torch"))
    measured = max(
        measure_matmul_peak(8192, 10, "bfloat16"),
        torch_matmul_peak("cuda", torch.bfloat16, size=8192),
    )
    flops = train_flops_per_token(cfg, args.seq)
    peak_note = f"{datasheet / 1e12:.0f} TFLOP/s datasheet" if datasheet else "datasheet unknown"
    print(
        f"first-step loss  jax {jax_first:.4f}  torch {torch_first:.4f}  (same weights, same batch)"
    )
    print(f"bf16 peak        {peak_note}; measured matmul {measured / 1e12:.0f} TFLOP/s")
    for label, tps in (("lemur-train JAX", jax_tps), ("HF torch", torch_tps)):
        mfu = f"{flops * tps / datasheet:6.1%}" if datasheet else "   n/a"
        print(
            f"{label:<16} {tps:10,.0f} tokens/s   MFU {mfu} (measured peak {flops * tps / measured:6.1%})"
        )
    print(f"ratio JAX/torch  {jax_tps / torch_tps:.2f}x")
    desc = f"{total_params(cfg) / 1e9:.1f}B bf16, batch {args.batch} x {args.seq}, {name}"
    results.add(
        f"GPU pre-training step ({desc})",
        metric="tokens/s",
        ours=jax_tps,
        peer="Transformers + torch",
        peers=torch_tps,
        parameters={"first_loss": [jax_first, torch_first], "remat": args.remat},
    )
    peak = datasheet or measured
    results.add(
        f"GPU pre-training step MFU ({desc})",
        metric="share of datasheet bf16 peak" if datasheet else "share of measured bf16 peak",
        ours=flops * jax_tps / peak,
        peer="Transformers + torch",
        peers=flops * torch_tps / peak,
        parameters={"peak_tflops": peak / 1e12, "measured_tflops": measured / 1e12},
    )
    results.write(args.json)


if __name__ == "__main__":
    main()
