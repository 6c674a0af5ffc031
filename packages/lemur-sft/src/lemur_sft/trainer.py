"""The SFT job, top to bottom: read -> encode -> schedule -> train (resumable) -> export.

``finetune`` runs in the calling process (one process, no launcher) or in each process of a
``torchrun`` / ``accelerate launch`` job; the code path is the same.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from lemur_core import (
    ArtifactKind,
    ArtifactManifest,
    InputRef,
    Producer,
    StaleArtifactError,
    atomic_write_text,
    canonical_sha256,
    find_reusable,
    tree_sha256,
)
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import AutoModelForCausalLM, AutoTokenizer

from lemur_sft import __version__
from lemur_sft.chat_format import add_chatml
from lemur_sft.checkpointing import CHECKPOINTS, latest_checkpoint, load_checkpoint, save_checkpoint
from lemur_sft.config import SFTConfig
from lemur_sft.dataset import encode_all
from lemur_sft.deepspeed_config import zero_stage
from lemur_sft.estimate import estimate_sft
from lemur_sft.export import export_hf
from lemur_sft.instruct_data import read_instruct
from lemur_sft.launch_check import check_global_batch
from lemur_sft.lr_schedule import learning_rate
from lemur_sft.masking import IGNORE_INDEX
from lemur_sft.mixture import epoch_order
from lemur_sft.packing import StepSchedule, pack, packing_efficiency
from lemur_sft.runtime import build_accelerator, launched_world_size, reset_accelerate_state

log = logging.getLogger(__name__)

MODEL_SCHEMA_VERSION = 1
RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
HF_DIR = "hf"
# Set to N to SIGKILL the process right after optimizer step N (tests of resume).
KILL_ENV = "LEMUR_SFT_KILL_AFTER_STEP"


def _inputs(instruct_dir: Path, base_model_dir: Path) -> list[InputRef]:
    return [
        InputRef(
            path=str(instruct_dir),
            kind=ArtifactKind.INSTRUCT.value,
            sha256=tree_sha256(instruct_dir),
        ),
        InputRef(
            path=str(base_model_dir),
            kind=ArtifactKind.MODEL.value,
            sha256=tree_sha256(base_model_dir),
        ),
    ]


def _claim_out_dir(
    out_dir: Path, config: dict[str, Any], inputs: list[InputRef], force: bool
) -> None:
    """Refuse to resume checkpoints made from another config or other inputs (unless forced)."""
    run_file = out_dir / RUN_FILE
    fingerprint = {
        "config_sha256": canonical_sha256(config),
        "inputs": sorted(i.sha256 for i in inputs),
    }
    if run_file.exists() and not force:
        found = json.loads(run_file.read_text(encoding="utf-8"))
        if found.get("fingerprint") != fingerprint:
            differing = sorted(
                k
                for k in set(config) | set(found.get("config", {}))
                if canonical_sha256(config.get(k))
                != canonical_sha256(found.get("config", {}).get(k))
            )
            raise StaleArtifactError(
                f"{out_dir} holds checkpoints of another run (config fields differ: "
                f"{', '.join(differing) or 'none; the inputs differ'}); use a new out_dir or force=True"
            )
        return
    if force:
        for name in (CHECKPOINTS, HF_DIR, METRICS_FILE, RUN_FILE):
            path = out_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        run_file, json.dumps({"fingerprint": fingerprint, "config": config}, indent=2)
    )


def _truncate_metrics(path: Path, start_step: int) -> None:
    # Lines logged after the checkpoint we resume from are replayed, so drop them.
    if not path.exists():
        return
    keep = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line)["step"] <= start_step
    ]
    atomic_write_text(path, "".join(line + "\n" for line in keep))


def finetune(
    config: SFTConfig,
    instruct_dir: Path,
    base_model_dir: Path,
    out_dir: Path,
    *,
    force: bool = False,
) -> ArtifactManifest:
    """Fine-tune ``base_model_dir`` on the instruct artifact ``instruct_dir`` into ``out_dir``.

    Writes ``out_dir/metrics.jsonl`` (one JSON line per logged step), step checkpoints under
    ``out_dir/checkpoints`` (a rerun resumes from the latest at the same step, same data order),
    and the model artifact ``out_dir/hf`` (kind ``model``: HF weights, tokenizer with the ChatML
    chat template, ``manifest.json``), whose manifest is returned. A finished run with the same
    config and inputs is reused; another config in ``out_dir`` raises
    :class:`~lemur_core.StaleArtifactError` unless ``force`` (which starts over).
    """
    instruct_dir, base_model_dir, out_dir = Path(instruct_dir), Path(base_model_dir), Path(out_dir)
    config_dict = config.model_dump(mode="json")
    inputs = _inputs(instruct_dir, base_model_dir)
    if not force:
        try:
            reused = find_reusable(
                out_dir / HF_DIR,
                kind=ArtifactKind.MODEL.value,
                schema_version=MODEL_SCHEMA_VERSION,
                config=config_dict,
                inputs=inputs,
            )
        except StaleArtifactError as exc:
            raise StaleArtifactError(f"{exc} (pass force=True / --force to retrain)") from exc
        if reused is not None:
            log.info("%s is up to date; reusing it", out_dir / HF_DIR)
            return reused
    world_size = launched_world_size()
    check_global_batch(config, world_size)
    accelerator, ds_config = build_accelerator(config)
    try:
        return _train(
            config,
            config_dict,
            inputs,
            instruct_dir,
            base_model_dir,
            out_dir,
            force,
            accelerator,
            ds_config,
        )
    finally:
        accelerator.free_memory()
        reset_accelerate_state()


def _train(
    config: SFTConfig,
    config_dict: dict[str, Any],
    inputs: list[InputRef],
    instruct_dir: Path,
    base_model_dir: Path,
    out_dir: Path,
    force: bool,
    accelerator: Any,
    ds_config: dict[str, Any] | None,
) -> ArtifactManifest:
    started = time.perf_counter()
    rank, world = accelerator.process_index, accelerator.num_processes
    check_global_batch(config, world)
    if accelerator.is_main_process:
        _claim_out_dir(out_dir, config_dict, inputs, force)
    accelerator.wait_for_everyone()
    if config.torch_threads is not None:
        torch.set_num_threads(config.torch_threads)
    torch.manual_seed(config.seed)

    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    model = AutoModelForCausalLM.from_pretrained(
        base_model_dir, dtype=torch.float32, attn_implementation="sdpa"
    )
    chatml = add_chatml(tokenizer, model)
    model.config.use_cache = False
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    examples, read_stats = read_instruct(instruct_dir)
    encoded, enc_stats = encode_all(tokenizer, examples, config.seq_len)
    sources = [e.source for e in encoded]
    orders = functools.lru_cache(maxsize=2)(
        lambda epoch: epoch_order(sources, config.mixture, config.seed, epoch)
    )
    per_epoch = int(orders(0).shape[0])
    schedule = StepSchedule(
        epoch_orders=orders,
        steps_per_epoch=per_epoch // config.global_batch_size,
        epochs=config.epochs,
        global_batch_size=config.global_batch_size,
        micro_batch_size=config.micro_batch_size,
        grad_accum_steps=config.grad_accum_steps,
        world_size=world,
        max_steps=config.max_steps,
    )
    total_steps = schedule.total_steps
    # Under ZeRO-3 init a parameter holds only its shard; ds_numel is its full size.
    n_params = sum(int(getattr(p, "ds_numel", p.numel())) for p in model.parameters())
    stage = zero_stage(ds_config) if ds_config else 0
    offload = bool(ds_config and "offload_optimizer" in ds_config.get("zero_optimization", {}))
    estimate = estimate_sft(
        config,
        n_params,
        world,
        stage,
        offload=offload,
        num_examples=per_epoch,
        mean_tokens_per_example=enc_stats.tokens / max(1, enc_stats.encoded),
    )
    if accelerator.is_main_process:
        atomic_write_text(out_dir / "estimate.json", json.dumps(estimate, indent=2))
        log.info(
            "%d params, ZeRO-%d x %d: ~%.2f GiB/GPU; %d steps of %d examples",
            n_params,
            stage,
            world,
            estimate["memory_per_gpu_gib"],
            total_steps,
            config.global_batch_size,
        )

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.optimizer.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.optimizer.peak_lr,
        betas=(config.optimizer.beta1, config.optimizer.beta2),
        eps=config.optimizer.eps,
    )
    model, prepared_optimizer = accelerator.prepare(model, optimizer)

    start_step = 0
    resume = latest_checkpoint(out_dir)
    if resume is not None:
        start_step = int(load_checkpoint(accelerator, resume[1])["step"])
        log.info("resumed from %s at step %d", resume[1], start_step)
    metrics_path = out_dir / "metrics.jsonl"
    if accelerator.is_main_process:
        _truncate_metrics(metrics_path, start_step)
    accelerator.wait_for_everyone()

    device = accelerator.device
    kill_after = int(os.environ.get(KILL_ENV, "0") or 0)
    source_names = sorted(set(sources))
    last: dict[str, Any] = {}
    with Progress(
        TextColumn("sft"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeRemainingColumn(),
        disable=not accelerator.is_main_process,
    ) as progress:
        task = progress.add_task("train", total=total_steps, completed=start_step, loss="-")
        for step in range(start_step, total_steps):
            t0 = time.perf_counter()
            lr = learning_rate(config, step, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            packed = [pack([encoded[i] for i in mb]) for mb in schedule.micro_batches(step, rank)]
            local = torch.tensor([float(p.num_targets) for p in packed], device=device).sum()
            global_targets = accelerator.reduce(local, reduction="sum")
            # Each token's loss counts once in the global mean, whatever the micro-batch it sits in:
            # the backward passes are pre-multiplied by world x accumulation because DDP/DeepSpeed
            # average over ranks and Accelerate/DeepSpeed divide by the accumulation steps.
            scale = world * config.grad_accum_steps / global_targets
            loss_sum = torch.zeros(len(source_names), device=device, dtype=torch.float64)
            tok_sum = torch.zeros(len(source_names), device=device, dtype=torch.float64)
            grad_norm: float | None = None
            for mb in packed:
                with accelerator.accumulate(model):
                    out = model(
                        input_ids=torch.as_tensor(mb.input_ids, device=device)[None],
                        position_ids=torch.as_tensor(mb.position_ids, device=device)[None],
                        use_cache=False,
                    )
                    targets = torch.as_tensor(mb.targets, device=device)
                    token_loss = F.cross_entropy(
                        out.logits[0].float(), targets, ignore_index=IGNORE_INDEX, reduction="none"
                    )
                    accelerator.backward(token_loss.sum() * scale)
                    if (
                        accelerator.sync_gradients
                        and config.optimizer.grad_clip_norm is not None
                        and ds_config is None
                    ):
                        grad_norm = float(
                            accelerator.clip_grad_norm_(
                                model.parameters(), config.optimizer.grad_clip_norm
                            )
                        )
                    prepared_optimizer.step()
                    prepared_optimizer.zero_grad()
                per_tok = token_loss.detach().double()
                owner = np.repeat([source_names.index(s) for s in mb.sources], mb.lengths)
                owner_t = torch.as_tensor(owner, device=device)
                valid = targets != IGNORE_INDEX
                loss_sum.index_add_(0, owner_t[valid], per_tok[valid])
                tok_sum.index_add_(0, owner_t[valid], torch.ones_like(per_tok[valid]))
            loss_sum = accelerator.reduce(loss_sum, reduction="sum")
            tok_sum = accelerator.reduce(tok_sum, reduction="sum")
            tokens = accelerator.reduce(
                torch.tensor(float(sum(p.num_tokens for p in packed)), device=device),
                reduction="sum",
            )
            if ds_config is not None:
                norm = accelerator.deepspeed_engine_wrapped.engine.get_global_grad_norm()
                grad_norm = float(norm) if norm is not None else None
            dt = time.perf_counter() - t0
            loss = float(loss_sum.sum() / tok_sum.sum())
            last = {
                "step": step + 1,
                "epoch": step // schedule.steps_per_epoch,
                "loss": loss,
                "loss_by_source": {
                    s: float(loss_sum[i] / tok_sum[i])
                    for i, s in enumerate(source_names)
                    if tok_sum[i] > 0
                },
                "lr": lr,
                "grad_norm": grad_norm,
                "target_tokens": int(tok_sum.sum()),
                "tokens": int(tokens),
                "tokens_per_s": float(tokens) / dt,
                "step_s": dt,
            }
            if accelerator.is_main_process and (
                (step + 1) % config.log_every_steps == 0 or step + 1 == total_steps
            ):
                with metrics_path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(last) + "\n")
            progress.update(task, advance=1, loss=f"{loss:.4f}")
            if kill_after == step + 1:
                # Fault injection for resume tests: die like a preempted job (no cleanup at all).
                os.kill(os.getpid(), signal.SIGKILL)
            if (step + 1) % config.checkpoint.every_steps == 0 and step + 1 < total_steps:
                save_checkpoint(
                    accelerator,
                    out_dir,
                    step + 1,
                    {"epoch": last["epoch"]},
                    config.checkpoint.keep_last,
                )

    lengths = [int(encoded[i].input_ids.shape[0]) for i in orders(0)]
    stats = {
        "steps": total_steps,
        "resumed_from_step": start_step,
        "world_size": world,
        "zero_stage": stage,
        "params": n_params,
        "final_loss": last.get("loss"),
        "examples_read": read_stats.read,
        "examples_skipped_reading": dict(read_stats.skipped),
        "examples_encoded": enc_stats.encoded,
        "examples_truncated": enc_stats.truncated,
        "examples_skipped_encoding": dict(enc_stats.skipped),
        "examples_per_epoch": per_epoch,
        "chatml_tokens_added": list(chatml.added_tokens),
        "vocab_size": chatml.vocab_size,
        "packing_efficiency": packing_efficiency(lengths, config.micro_batch_size),
        "train_seconds_this_session": time.perf_counter() - started,
    }
    manifest = ArtifactManifest.create(
        kind=ArtifactKind.MODEL.value,
        schema_version=MODEL_SCHEMA_VERSION,
        producer=Producer(package="lemur-sft", version=__version__),
        config=config_dict,
        inputs=inputs,
        stats=stats,
    )
    dtype = torch.bfloat16 if config.compute_dtype == "bfloat16" else None
    export_hf(accelerator, model, tokenizer, out_dir / HF_DIR, manifest, dtype=dtype)
    # The last checkpoint is kept so that a longer rerun (more max_steps) could continue it.
    return manifest
