"""The training job, top to bottom: corpus -> resolved config -> mesh -> state -> steps -> export.

``train`` claims ``out_dir`` through :mod:`lemur_core.stage` (one writer; reuse of a finished
``out_dir/hf`` made from the same config and corpus), resumes from the newest checkpoint in
``out_dir`` when there is one, and publishes the exported model atomically.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from lemur_core.atomic import atomic_write_text, file_sha256, tree_sha256
from lemur_core.hashing import canonical_sha256
from lemur_core.manifest import ArtifactManifest, InputRef, Producer
from lemur_core.stage import StageResult, StageStatus, claim
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from lemur_train import __version__
from lemur_train.checkpoint import Checkpointer, CheckpointError
from lemur_train.config import DistributedConfig, TrainConfig
from lemur_train.data import PackedCorpus, StepSampler
from lemur_train.distributed import Launch, barrier, detect_launch, join
from lemur_train.evaluation import HeldOutEvaluator, split_of
from lemur_train.flops import chip, measure_cpu_peak, mfu, train_flops_per_token
from lemur_train.hf_format import save_hf
from lemur_train.metrics import MetricsLog
from lemur_train.model import build_model, default_unroll_layers
from lemur_train.optim import lr_schedule, make_optimizer
from lemur_train.sharding import batch_sharding, make_mesh
from lemur_train.train_state import count_params, init_state, state_layout
from lemur_train.train_step import jit_train_step, make_train_step
from lemur_train.weights import (
    RUN_CONFIG_FILE,
    load_sharded_params,
    read_model_config,
    special_token_ids,
)

MODEL_SCHEMA_VERSION = 1
HF_DIR = "hf"
log = logging.getLogger(__name__)


def resolve_config(config: TrainConfig, corpus: PackedCorpus) -> TrainConfig:
    """``config`` with vocab size and sequence length filled from the corpus, checked against it
    and against the ``init_from`` checkpoint's architecture."""
    model = config.model
    if config.init_from is not None:
        # The architecture only: the weights are loaded once, when the state is initialized.
        init_model = read_model_config(config.init_from)
        differing = [
            k
            for k, v in init_model.model_dump().items()
            if k not in ("cross_document_attention", "vocab_size", "head_dim")
            and getattr(model, k) != v
            and k in model.model_fields_set
        ]
        # head_dim None means hidden_size // heads: compare what the model will use (a preset
        # leaves it None, an HF config.json states it).
        if "head_dim" in model.model_fields_set and (
            model.resolved_head_dim != init_model.resolved_head_dim
        ):
            differing.append("head_dim")
        if differing:
            raise ValueError(
                f"model fields {differing} differ from the init_from checkpoint {config.init_from}; "
                "remove them from the config (the checkpoint's architecture is used)"
            )
        model = init_model.model_copy(
            update={"cross_document_attention": model.cross_document_attention}
        )
    if model.vocab_size is None:
        model = model.model_copy(update={"vocab_size": corpus.spec.vocab_size})
    if model.vocab < corpus.spec.vocab_size:
        raise ValueError(
            f"model.vocab_size={model.vocab} is smaller than the corpus tokenizer's "
            f"{corpus.spec.vocab_size}; leave vocab_size unset to take it from the corpus"
        )
    if config.seq_len not in (None, corpus.seq_len):
        raise ValueError(
            f"seq_len={config.seq_len} but the corpus rows hold {corpus.seq_len} tokens; "
            "leave seq_len unset or re-pack the corpus"
        )
    return config.model_copy(update={"model": model, "seq_len": corpus.seq_len})


def corpus_input(corpus_dir: Path) -> InputRef:
    """The corpus pinned by content: ``shards.json`` pins every shard file by sha256."""
    corpus = PackedCorpus(corpus_dir)
    digest = canonical_sha256(
        [file_sha256(corpus_dir / "shards.json"), tree_sha256(corpus.tokenizer_dir)]
    )
    return InputRef(path=str(corpus_dir), kind="corpus", sha256=digest)


def run_identity(config: TrainConfig) -> dict[str, Any]:
    """The config as the run's identity: everything but how the processes were launched (the
    ``distributed`` section), so every host of a multi-host job claims the same run."""
    return config.model_dump(mode="json", exclude={"distributed"})


def maybe_init_distributed(config: DistributedConfig, launch: Launch | None = None) -> None:
    """Join the multi-host job (:mod:`lemur_train.distributed`) when the launcher says so."""
    join(detect_launch(launch, config))


def train(
    config: TrainConfig,
    corpus_dir: Path,
    out_dir: Path,
    *,
    force: bool = False,
    verify: bool = False,
    launch: Launch | None = None,
) -> StageResult:
    """Train on the corpus at ``corpus_dir``, resuming from ``out_dir``'s checkpoints, and export.

    Writes ``out_dir/metrics.jsonl`` (loss overall and per source, lr, grad norm, tokens/s,
    MFU), ``out_dir/checkpoints/`` (Orbax), and ``out_dir/hf`` — an HF ``LlamaForCausalLM``
    directory with the corpus tokenizer and a manifest of kind "model" listing every file.
    The run directory is claimed through :func:`lemur_core.stage.claim`: a second run into it
    refuses while one is alive; a run killed at any point resumes from its newest checkpoint;
    when ``out_dir/hf`` was already made from the same config and corpus (and its files check
    out; ``verify`` re-hashes them) the result is ``reused`` at once; checkpoints of another
    config raise :class:`StaleArtifactError` naming the fields; ``force`` discards everything in
    ``out_dir`` and starts over.

    A multi-host job runs this on every host with the same config; ``launch`` (or the launcher's
    environment, see :mod:`lemur_train.distributed`) says which process this is. Only process 0
    writes ``metrics.jsonl``, ``run_config.json`` and the manifest.
    """
    # Before anything else: jax.distributed.initialize refuses once JAX has computed anything.
    maybe_init_distributed(config.distributed, launch)
    corpus_dir, out = Path(corpus_dir).absolute(), Path(out_dir).absolute()
    corpus = PackedCorpus(corpus_dir)
    cfg = resolve_config(config, corpus)
    inputs = (corpus_input(corpus_dir),)
    primary = jax.process_index() == 0
    with claim(
        out / HF_DIR,
        "model",
        run_identity(cfg),
        inputs,
        force,
        schema_version=MODEL_SCHEMA_VERSION,
        name="pretrain",
        scratch=out,
        verify=verify,
        stale_scratch="refuse",
        primary=primary,
    ) as run:
        # Process 0 claims (and may clear) the run directory; the others wait before reading it.
        barrier("lemur-train: run directory claimed", cfg.distributed.barrier_timeout_s)
        if run.status is StageStatus.REUSED:
            return run.result()
        if primary:
            atomic_write_text(
                out / RUN_CONFIG_FILE,
                cfg.model_dump_json(indent=2, exclude={"distributed"}) + "\n",
            )
        staging = out / f".{HF_DIR}.tmp"
        manifest = _train_and_export(cfg, corpus, out, inputs, staging)
        if not primary:
            return StageResult(run.name, run.out, run.status, manifest)
        return run.publish(manifest, staging=staging)


def _restore_newest(checkpointer: Checkpointer, layout: Any) -> tuple[int, Any, Any]:
    """The newest checkpoint that restores, as ``(step, state, data position)``; ``(0, None,
    None)`` when there is none. A damaged newer one (a torn copy, a bad disk) is logged,
    deleted and the previous one used; when none restores, the newest one's error is raised."""
    steps = sorted(checkpointer.all_steps(), reverse=True)
    first_error: CheckpointError | None = None
    for step in steps:
        try:
            state, position = checkpointer.restore(step, layout.abstract, layout.shardings)
        except CheckpointError as exc:
            first_error = first_error or exc
            log.warning("%s; trying the previous checkpoint", exc)
            continue
        for newer in steps[: steps.index(step)]:
            log.warning("deleting checkpoint step %d, which cannot be restored", newer)
            checkpointer.delete(newer)
        return step, state, position
    if first_error is not None:
        raise first_error
    return 0, None, None


def _train_and_export(
    cfg: TrainConfig,
    corpus: PackedCorpus,
    out: Path,
    inputs: tuple[InputRef, ...],
    staging: Path,
) -> ArtifactManifest:
    """The job itself, in the claimed run directory ``out``: mesh, state (restored from the
    newest checkpoint, if any), the step loop with metrics and checkpoints, then the export."""
    cfg.check_mesh_fit(jax.device_count())
    mesh = make_mesh(cfg.mesh)
    unroll = cfg.unroll_layers
    if unroll is None:
        unroll = default_unroll_layers(cfg.model.num_hidden_layers)
    model = build_model(cfg.model, cfg.compute_dtype, cfg.remat, unroll)
    schedule = lr_schedule(cfg.optimizer, cfg.max_steps)
    tx = make_optimizer(cfg.optimizer, cfg.max_steps)
    layout = state_layout(model, tx, mesh)
    split = split_of(corpus)  # the corpus's held-out rows are evaluated on, never trained on
    sampler = StepSampler(len(split.train_rows), cfg.global_batch_size, cfg.data_seed)
    checkpointer = Checkpointer(out / "checkpoints", cfg.checkpoint)
    start, state, position = _restore_newest(checkpointer, layout)
    if start:
        if position != sampler.position(start).as_dict():
            raise CheckpointError(
                f"checkpoint {start} stands at data position {position}, but this corpus and "
                f"batch size put step {start} at {sampler.position(start).as_dict()}: the corpus "
                "or batch changed; use a new output directory"
            )
        log.info("resumed from checkpoint step %d", start)
    else:
        # Read straight into each device's shard: no whole tensor on one device, and a host
        # reads only the slices its own devices hold.
        params = (
            load_sharded_params(cfg.init_from, layout.abstract.params, layout.param_shardings)
            if cfg.init_from
            else None
        )
        state = init_state(model, tx, layout, cfg.seed, params)
    step_fn = jit_train_step(
        make_train_step(
            model,
            tx,
            schedule,
            num_sources=len(corpus.sources),
            microbatches=cfg.grad_accum_steps,
            cross_document=cfg.model.cross_document_attention,
        ),
        layout.shardings,
        batch_sharding(mesh),
    )
    seq_len = corpus.seq_len
    flops_per_token = train_flops_per_token(cfg.model, seq_len)
    peak = (
        measure_cpu_peak() if cfg.chip == "cpu" else chip(cfg.chip).peak_flops * jax.device_count()
    )
    # Process 0 alone owns metrics.jsonl (another process opening it would rewrite it).
    metrics = (
        MetricsLog(
            out / "metrics.jsonl",
            resume_step=start,
            tensorboard_dir=out / "tensorboard" if cfg.tensorboard else None,
        )
        if jax.process_index() == 0
        else None
    )
    sharding = batch_sharding(mesh)
    evaluator = HeldOutEvaluator(
        model,
        corpus,
        split.heldout_rows,
        every_steps=cfg.eval_every_steps,
        max_rows=cfg.eval_max_rows,
        batch_rows=cfg.global_batch_size // cfg.grad_accum_steps,
        sharding=sharding,
        cross_document=cfg.model.cross_document_attention,
    )
    last_record: dict[str, Any] = {}
    compile_s = 0.0
    # Reading a checkpoint and measuring the CPU's peak take each process its own time; the
    # first step's collectives then start together.
    barrier("lemur-train: state ready", cfg.distributed.barrier_timeout_s)
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("[bold]train[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            disable=jax.process_index() != 0,
        ) as progress:
            task = progress.add_task("", total=cfg.max_steps, completed=start)
            window_start, window_steps = time.perf_counter(), 0
            for step in range(start, cfg.max_steps):
                rows = split.train_row(
                    sampler.rows_for_step(step, jax.process_index(), jax.process_count())
                )
                local = corpus.read_rows(rows)
                batch = {
                    name: jax.make_array_from_process_local_data(sharding, array)
                    for name, array in local.items()
                }
                state, step_metrics = step_fn(state, batch)
                window_steps += 1
                done = step + 1
                if step == start:
                    # The first step of a process includes compilation: keep it out of tokens/s.
                    jax.block_until_ready(step_metrics)
                    compile_s = time.perf_counter() - window_start
                    window_start, window_steps = time.perf_counter(), 0
                evaluate = evaluator.due(done, cfg.max_steps)
                if done % cfg.log_every_steps == 0 or done == cfg.max_steps or evaluate:
                    host = jax.device_get(step_metrics)
                    elapsed = time.perf_counter() - window_start
                    tokens_per_s = (
                        window_steps * cfg.global_batch_size * seq_len / elapsed
                        if window_steps
                        else None
                    )
                    last_record = _record(
                        done, host, corpus.sources, tokens_per_s, flops_per_token, peak
                    )
                    last_record["compile_s"] = round(compile_s, 3) if step == start else None
                    if evaluate:
                        last_record.update(evaluator.evaluate(state.params))
                    if metrics is not None:
                        metrics.write(last_record)
                    progress.update(task, description=f"loss {last_record['loss']:.4f}")
                    window_start, window_steps = time.perf_counter(), 0
                progress.update(task, completed=done)
                checkpointer.save(
                    done, state, sampler.position(done).as_dict(), force=done == cfg.max_steps
                )
        checkpointer.wait()
    finally:
        if metrics is not None:
            metrics.close()
        checkpointer.close()
    return _export(cfg, state, corpus, staging, inputs, last_record, time.perf_counter() - started)


def _record(
    step: int,
    host: dict[str, Any],
    sources: tuple[str, ...],
    tokens_per_s: float | None,
    flops_per_token: float,
    peak: float,
) -> dict[str, Any]:
    counts = np.asarray(host["source_count"])
    sums = np.asarray(host["source_loss_sum"])
    return {
        "step": step,
        "loss": float(host["loss"]),
        "loss_per_source": {
            name: float(sums[i] / counts[i]) for i, name in enumerate(sources) if counts[i] > 0
        },
        "tokens_per_source": {name: int(counts[i]) for i, name in enumerate(sources)},
        "lr": float(host["lr"]),
        "grad_norm": float(host["grad_norm"]),
        "loss_tokens": int(host["tokens"]),
        "tokens_per_s": tokens_per_s,
        "mfu": mfu(flops_per_token, tokens_per_s, peak) if tokens_per_s else None,
    }


def _export(
    cfg: TrainConfig,
    state: Any,
    corpus: PackedCorpus,
    staging: Path,
    inputs: tuple[InputRef, ...],
    last_record: dict[str, Any],
    seconds: float,
) -> ArtifactManifest:
    """Write the HF model into ``staging`` (process 0); the claim publishes it as ``out/hf``."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        # Process 0 wrote the last metrics and checkpoint alone: meet before the gather.
        barrier("lemur-train: export", cfg.distributed.barrier_timeout_s)
        params = multihost_utils.process_allgather(state.params, tiled=True)
    else:
        params = jax.device_get(state.params)
    manifest = ArtifactManifest.create(
        kind="model",
        schema_version=MODEL_SCHEMA_VERSION,
        producer=Producer(package="lemur-train", version=__version__),
        config=run_identity(cfg),
        inputs=inputs,
        stats={
            "steps": cfg.max_steps,
            "tokens_seen": cfg.max_steps * cfg.tokens_per_step,
            "parameters": count_params(params),
            "final_loss": last_record.get("loss"),
            "final_heldout_loss": last_record.get("heldout_loss"),
            "seconds_this_process": round(seconds, 2),
            "architecture": "LlamaForCausalLM",
        },
    )
    if jax.process_index() == 0:
        if staging.exists():
            shutil.rmtree(staging)  # a half-written export of a killed run
        save_hf(
            params,
            cfg.model,
            staging,
            tokenizer_dir=corpus.tokenizer_dir,
            dtype=cfg.export_dtype,
            special_tokens={
                **special_token_ids(corpus.tokenizer_dir),
                "eos_token_id": corpus.spec.eos_token_id,
                "pad_token_id": corpus.spec.pad_token_id,
            },
        )
    return manifest
