"""The SFT job, top to bottom: claim -> read -> encode -> schedule -> train (resumable) -> export.

``finetune`` runs in the calling process (one process, no launcher) or in each process of a
``torchrun`` / ``accelerate launch`` job; the code path is the same. The output directory goes
through :mod:`lemur_core.stage` (one writer, checked reuse, resume, atomic publish); one
optimizer step is :func:`lemur_sft.train_step.optimizer_step`; what happens after each step
(metrics, progress, checkpoints, the caller's own hooks) is in :mod:`lemur_sft.hooks`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lemur_core import ArtifactKind, ArtifactManifest, Producer
from lemur_core.atomic import atomic_write_text
from lemur_core.stage import StageResult, StageStatus
from transformers import AutoModelForCausalLM, AutoTokenizer

from lemur_sft import __version__
from lemur_sft.chat_format import ChatMLSetup, add_chatml
from lemur_sft.checkpointing import latest_checkpoint, load_checkpoint
from lemur_sft.config import SFTConfig
from lemur_sft.dataset import encode_all
from lemur_sft.deepspeed_config import zero_stage
from lemur_sft.estimate import estimate_sft
from lemur_sft.export import export_hf
from lemur_sft.heldout import HeldOutLossHook, split_heldout
from lemur_sft.hooks import CheckpointHook, MetricsWriter, ProgressHook, StepInfo, TrainHook
from lemur_sft.instruct_data import read_instruct
from lemur_sft.launch_check import check_global_batch
from lemur_sft.lr_schedule import learning_rate
from lemur_sft.masking import EncodedExample
from lemur_sft.mixture import epoch_order
from lemur_sft.packing import StepSchedule, pack, packing_efficiency
from lemur_sft.run import HF_DIR, MODEL_SCHEMA_VERSION, SFTRun, claim_on_all_ranks, claim_run
from lemur_sft.runtime import build_accelerator, launched_world_size, reset_accelerate_state
from lemur_sft.train_step import StepOutput, optimizer_step

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"


def finetune(
    config: SFTConfig,
    instruct_dir: Path,
    base_model_dir: Path,
    out_dir: Path,
    *,
    force: bool = False,
    verify: bool = False,
    hooks: Sequence[TrainHook] = (),
) -> StageResult:
    """Fine-tune ``base_model_dir`` on the instruct artifact ``instruct_dir`` into ``out_dir``.

    Writes ``out_dir/metrics.jsonl`` (one JSON line per logged step), step checkpoints under
    ``out_dir/checkpoints`` (a rerun resumes from the latest at the same step, same data order),
    and the model artifact ``out_dir/hf`` (kind ``model``: HF weights, tokenizer with the ChatML
    chat template, ``manifest.json`` listing every file). A second run into ``out_dir`` while
    one is alive refuses; a finished run with the same config and inputs is ``reused`` (its
    files' sizes checked, and sha256 with ``verify``); another config in ``out_dir`` raises
    :class:`~lemur_core.StaleArtifactError` unless ``force`` (which starts over). ``hooks`` run
    after every optimizer step (see :mod:`lemur_sft.hooks`).
    """
    run = SFTRun.create(config, instruct_dir, base_model_dir, out_dir)
    world = launched_world_size()
    check_global_batch(config, world)
    with contextlib.ExitStack() as stack:
        if world == 1:
            # Claim first: a reused artifact then costs no Accelerator (nor DeepSpeed start-up).
            owner = stack.enter_context(claim_run(run, force, verify, primary=True))
            if owner.status is StageStatus.REUSED:
                return owner.result()
            accelerator, ds_config = stack.enter_context(_accelerator(config))
        else:
            accelerator, ds_config = stack.enter_context(_accelerator(config))
            owner = stack.enter_context(claim_on_all_ranks(run, force, verify, accelerator))
            if owner.status is StageStatus.REUSED:
                return owner.result()
        staging = run.out_dir / f".{HF_DIR}.tmp"
        manifest = _train(run, accelerator, ds_config, staging, hooks)
        if not accelerator.is_main_process:
            return StageResult(owner.name, owner.out, owner.status, manifest)
        return owner.publish(manifest, staging=staging)
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.contextmanager
def _accelerator(config: SFTConfig) -> Iterator[tuple[Any, dict[str, Any] | None]]:
    accelerator, ds_config = build_accelerator(config)
    try:
        yield accelerator, ds_config
    finally:
        accelerator.free_memory()
        reset_accelerate_state()


@dataclass(frozen=True)
class _Data:
    encoded: list[EncodedExample]
    schedule: StepSchedule
    source_names: list[str]
    per_epoch: int
    epoch_zero: np.ndarray
    stats: dict[str, Any]
    heldout: list[EncodedExample]


def _train(
    run: SFTRun,
    accelerator: Any,
    ds_config: dict[str, Any] | None,
    staging: Path,
    extra_hooks: Sequence[TrainHook],
) -> ArtifactManifest:
    """Model and data -> resumed optimizer state -> the step loop with hooks -> the export."""
    started = time.perf_counter()
    config, out_dir, main = run.config, run.out_dir, accelerator.is_main_process
    if config.torch_threads is not None:
        torch.set_num_threads(config.torch_threads)
    torch.manual_seed(config.seed)

    tokenizer, model, chatml = _load_model(config, run.base_model_dir)
    data = _load_data(config, tokenizer, run.instruct_dir, accelerator.num_processes)
    total_steps = data.schedule.total_steps
    n_params, stage = _report_plan(run, accelerator, ds_config, model, data)

    model, optimizer = accelerator.prepare(model, _adamw(config, model))
    start_step = _resume(accelerator, out_dir)
    metrics = MetricsWriter(out_dir / METRICS_FILE, every=config.log_every_steps, main_process=main)
    metrics.truncate_after(start_step)
    accelerator.wait_for_everyone()

    last: dict[str, Any] = {}
    with ProgressHook(total_steps=total_steps, start_step=start_step, main_process=main) as bar:
        hooks: list[TrainHook] = [
            # First: it adds the held-out loss to the record the metrics writer then logs.
            HeldOutLossHook(accelerator, model, data.heldout, every=config.eval_every_steps),
            metrics,
            bar,
            *extra_hooks,
            CheckpointHook(
                accelerator,
                out_dir,
                every=config.checkpoint.every_steps,
                keep=config.checkpoint.keep_last,
            ),
        ]
        for step in range(start_step, total_steps):
            t0 = time.perf_counter()
            lr = learning_rate(config, step, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            micro_batches = [
                pack([data.encoded[i] for i in mb])
                for mb in data.schedule.micro_batches(step, accelerator.process_index)
            ]
            out = optimizer_step(
                accelerator,
                model,
                optimizer,
                micro_batches,
                grad_accum_steps=config.grad_accum_steps,
                source_names=data.source_names,
                max_grad_norm=config.optimizer.grad_clip_norm,
                deepspeed=ds_config is not None,
            )
            dt = time.perf_counter() - t0
            last = _step_record(step, data, out, lr, dt)
            info = StepInfo(step + 1, total_steps, last["epoch"], last)
            for hook in hooks:
                hook.on_step(info)

    lengths = [int(data.encoded[i].input_ids.shape[0]) for i in data.epoch_zero]
    stats = {
        "steps": total_steps,
        "resumed_from_step": start_step,
        "world_size": accelerator.num_processes,
        "zero_stage": stage,
        "params": n_params,
        "final_loss": last.get("loss"),
        "final_heldout_loss": last.get("heldout_loss"),
        **data.stats,
        "chatml_tokens_added": list(chatml.added_tokens),
        "vocab_size": chatml.vocab_size,
        "packing_efficiency": packing_efficiency(lengths, config.micro_batch_size),
        "train_seconds_this_session": time.perf_counter() - started,
    }
    manifest = ArtifactManifest.create(
        kind=ArtifactKind.MODEL.value,
        schema_version=MODEL_SCHEMA_VERSION,
        producer=Producer(package="lemur-sft", version=__version__),
        config=run.config_dict,
        inputs=run.inputs,
        stats=stats,
    )
    dtype = torch.bfloat16 if config.compute_dtype == "bfloat16" else None
    export_hf(accelerator, model, tokenizer, staging, dtype=dtype)
    # The last checkpoint is kept so that a longer rerun (more max_steps) could continue it.
    return manifest


def _load_model(config: SFTConfig, base_model_dir: Path) -> tuple[Any, Any, ChatMLSetup]:
    """The base model and tokenizer, with the ChatML tokens added (embeddings resized)."""
    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    model = AutoModelForCausalLM.from_pretrained(
        base_model_dir, dtype=torch.float32, attn_implementation="sdpa"
    )
    chatml = add_chatml(tokenizer, model)
    model.config.use_cache = False
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return tokenizer, model, chatml


def _load_data(config: SFTConfig, tokenizer: Any, instruct_dir: Path, world: int) -> _Data:
    """Read and encode the instruct set; the step schedule is a pure function of the step."""
    examples, read_stats = read_instruct(instruct_dir)
    encoded, enc_stats = encode_all(tokenizer, examples, config.seq_len)
    encoded, heldout = split_heldout(encoded, config.eval_examples)  # never trained on
    sources = [e.source for e in encoded]
    orders: Callable[[int], np.ndarray] = functools.lru_cache(maxsize=2)(
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
    stats = {
        "examples_read": read_stats.read,
        "examples_skipped_reading": dict(read_stats.skipped),
        "examples_encoded": enc_stats.encoded,
        "examples_truncated": enc_stats.truncated,
        "examples_skipped_encoding": dict(enc_stats.skipped),
        "examples_per_epoch": per_epoch,
        "examples_heldout": len(heldout),
        "mean_tokens_per_example": enc_stats.tokens / max(1, enc_stats.encoded),
    }
    return _Data(encoded, schedule, sorted(set(sources)), per_epoch, orders(0), stats, heldout)


def _report_plan(
    run: SFTRun, accelerator: Any, ds_config: dict[str, Any] | None, model: Any, data: _Data
) -> tuple[int, int]:
    """Write ``estimate.json`` (memory per GPU, time) and log it; returns (params, ZeRO stage)."""
    # Under ZeRO-3 init a parameter holds only its shard; ds_numel is its full size.
    n_params = sum(int(getattr(p, "ds_numel", p.numel())) for p in model.parameters())
    stage = zero_stage(ds_config) if ds_config else 0
    offload = bool(ds_config and "offload_optimizer" in ds_config.get("zero_optimization", {}))
    estimate = estimate_sft(
        run.config,
        n_params,
        accelerator.num_processes,
        stage,
        offload=offload,
        num_examples=data.per_epoch,
        mean_tokens_per_example=data.stats["mean_tokens_per_example"],
    )
    if accelerator.is_main_process:
        atomic_write_text(run.out_dir / "estimate.json", json.dumps(estimate, indent=2))
        log.info(
            "%d params, ZeRO-%d x %d: ~%.2f GiB/GPU; %d steps of %d examples",
            n_params,
            stage,
            accelerator.num_processes,
            estimate["memory_per_gpu_gib"],
            data.schedule.total_steps,
            run.config.global_batch_size,
        )
    return n_params, stage


def _adamw(config: SFTConfig, model: Any) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on norms and biases)."""
    opt = config.optimizer
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": opt.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=opt.peak_lr,
        betas=(opt.beta1, opt.beta2),
        eps=opt.eps,
    )


def _resume(accelerator: Any, out_dir: Path) -> int:
    """Restore the newest complete checkpoint into the prepared objects; its step (or 0)."""
    found = latest_checkpoint(out_dir)
    if found is None:
        return 0
    step = int(load_checkpoint(accelerator, found[1])["step"])
    log.info("resumed from %s at step %d", found[1], step)
    return step


def _step_record(step: int, data: _Data, out: StepOutput, lr: float, dt: float) -> dict[str, Any]:
    """The ``metrics.jsonl`` record of optimizer step ``step`` (0-based)."""
    return {
        "step": step + 1,
        "epoch": step // data.schedule.steps_per_epoch,
        "loss": out.loss,
        "loss_by_source": {
            s: float(out.loss_by_source[i] / out.targets_by_source[i])
            for i, s in enumerate(data.source_names)
            if out.targets_by_source[i] > 0
        },
        "lr": lr,
        "grad_norm": out.grad_norm,
        "target_tokens": out.target_tokens,
        "tokens": out.tokens,
        "tokens_per_s": float(out.tokens) / dt,
        "step_s": dt,
    }
