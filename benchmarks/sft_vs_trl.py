"""Training throughput of lemur-sft against TRL's SFTTrainer, same model, data and batch, on CPU.

Both train the same tiny Llama (ChatML tokens added) on the same toy conversations with the same
global batch (micro-batch x accumulation), assistant-only loss, AdamW, for the same number of
steps; the first step is excluded (warm-up). Throughput counts real (non-padding) tokens per
second of optimizer steps. TRL runs its default padded collator (its padding-free mode needs
FlashAttention); lemur-sft packs each micro-batch into one padding-free row. Also printed: the
share of computed tokens that are real (packing efficiency) for each.

    uv run python benchmarks/sft_vs_trl.py              # ~2-4 minutes on 2 busy cores
    uv run python benchmarks/sft_vs_trl.py --hidden 512 # a wider model: attention matters less
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from _results import JSON_HELP, Results

# Same loss masking for TRL: its assistant_only_loss reads {% generation %} blocks in the template.
TRL_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}{{ '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _ours(root: Path, base: Path, instruct: Path, args: argparse.Namespace) -> dict[str, Any]:
    from lemur_sft import SFTCheckpointConfig, SFTConfig, SFTOptimizerConfig, finetune

    config = SFTConfig(
        name="bench",
        epochs=1,
        max_steps=args.steps,
        global_batch_size=args.micro * args.accum,
        micro_batch_size=args.micro,
        grad_accum_steps=args.accum,
        seq_len=args.max_len,
        optimizer=SFTOptimizerConfig(peak_lr=1e-3, schedule="constant", warmup_ratio=0.0),
        checkpoint=SFTCheckpointConfig(every_steps=10_000),
        torch_threads=args.threads,
    )
    manifest = finetune(config, instruct, base, root / "ours", force=True).manifest
    rows = [json.loads(x) for x in (root / "ours" / "metrics.jsonl").read_text().splitlines()][1:]
    tokens = sum(r["tokens"] for r in rows)
    seconds = sum(r["step_s"] for r in rows)
    return {
        "tokens_per_s": tokens / seconds,
        "real_token_share": manifest.stats["packing_efficiency"]["packed"],
        "padded_share_same_batches": manifest.stats["packing_efficiency"]["padded_to_longest"],
        "final_loss": rows[-1]["loss"],
    }


def _trl(root: Path, base: Path, instruct: Path, args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from lemur_sft.chat_format import add_chatml
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig as TRLConfig
    from trl import SFTTrainer

    tok = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(
        base, dtype=torch.float32, attn_implementation="sdpa"
    )
    add_chatml(tok, model)
    tok.chat_template = TRL_TEMPLATE
    rows = [json.loads(x) for x in (instruct / "examples.jsonl").read_text().splitlines()]
    data = Dataset.from_list([{"messages": r["messages"]} for r in rows])
    counts = {"real": 0, "computed": 0}
    clock = {"t0": 0.0, "seconds": 0.0, "on": False}

    def count(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        if clock["on"]:
            ids, mask = kwargs["input_ids"], kwargs.get("attention_mask")
            counts["computed"] += ids.numel()
            counts["real"] += int(mask.sum()) if mask is not None else ids.numel()

    model.register_forward_pre_hook(count, with_kwargs=True)

    class Clock(TrainerCallback):
        # Optimizer steps after the first (warm-up), as for lemur-sft.
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            clock["on"] = state.global_step >= 1
            clock["t0"] = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if clock["on"]:
                clock["seconds"] += time.perf_counter() - clock["t0"]

    config = TRLConfig(
        output_dir=str(root / "trl"),
        per_device_train_batch_size=args.micro,
        gradient_accumulation_steps=args.accum,
        max_steps=args.steps,
        learning_rate=1e-3,
        lr_scheduler_type="constant",
        max_length=args.max_len,
        assistant_only_loss=True,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
        seed=0,
    )
    trainer = SFTTrainer(
        model=model, args=config, train_dataset=data, processing_class=tok, callbacks=[Clock()]
    )
    trainer.train()
    seconds = clock["seconds"]
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "tokens_per_s": counts["real"] / seconds,
        "real_token_share": counts["real"] / max(1, counts["computed"]),
        "final_loss": losses[-1] if losses else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--micro", type=int, default=8)
    parser.add_argument("--accum", type=int, default=2)
    parser.add_argument("--max-len", type=int, default=512)
    parser.add_argument("--examples", type=int, default=600)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each trainer")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both trainers")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help=JSON_HELP)
    args = parser.parse_args()
    results = Results("sft_vs_trl", vars(args))

    import torch

    # One thread each: on a shared machine this keeps both runs off each other's spin-waits.
    torch.set_num_threads(args.threads)

    from lemur_sft.toy import write_toy_base_model, write_toy_instruct_set

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = write_toy_base_model(
            root / "base", hidden_size=args.hidden, layers=args.layers, vocab_size=1024
        )
        instruct = write_toy_instruct_set(root / "instruct", args.examples)
        # Alternate the two and keep each one's best run: the machine's load drifts over minutes.
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "trl": []}
        for _ in range(args.repeats):
            runs["ours"].append(_ours(root, base, instruct, args))
            runs["trl"].append(_trl(root, base, instruct, args))
        ours = max(runs["ours"], key=lambda r: r["tokens_per_s"])
        trl = max(runs["trl"], key=lambda r: r["tokens_per_s"])
        spread = {k: [round(r["tokens_per_s"]) for r in v] for k, v in runs.items()}
    print(
        f"model: {args.layers} layers, d{args.hidden}; batch {args.micro} x {args.accum}; {args.steps} steps"
    )
    print(
        f"lemur-sft : {ours['tokens_per_s']:8.0f} real tokens/s, real-token share {ours['real_token_share']:.3f} "
        f"(padding the same micro-batches would give {ours['padded_share_same_batches']:.3f}), final loss {ours['final_loss']:.3f}"
    )
    print(
        f"TRL SFT   : {trl['tokens_per_s']:8.0f} real tokens/s, real-token share {trl['real_token_share']:.3f}, "
        f"final loss {trl['final_loss']}"
    )
    print(f"tokens/s of every run (best kept): {spread}")
    print(f"ratio lemur-sft / TRL tokens/s: {ours['tokens_per_s'] / trl['tokens_per_s']:.2f}x")
    model_desc = f"{args.layers} layers d{args.hidden}, batch {args.micro} x {args.accum}"
    results.add(
        f"SFT throughput ({model_desc})",
        metric="real tokens/s",
        ours=ours["tokens_per_s"],
        peer="TRL SFTTrainer",
        peers=trl["tokens_per_s"],
        parameters={"tokens_per_s_every_run": spread},
    )
    results.add(
        "SFT real-token share",
        metric="real / computed tokens",
        ours=ours["real_token_share"],
        peer="TRL SFTTrainer",
        peers=trl["real_token_share"],
    )
    results.write(args.json)


if __name__ == "__main__":
    main()
