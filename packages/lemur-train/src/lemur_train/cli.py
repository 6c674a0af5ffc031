"""Command line of lemur-train: ``run``, ``plan``, ``show-config``, ``presets``,
``convert from-hf|to-hf``, ``synthetic-corpus``.

Every command that takes a config takes a YAML file or a preset name and ``--set KEY=VALUE``
overrides (lemur_core.config); a bad config is one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from lemur_core.cli_app import SetOption, lemur_typer

from lemur_train import __version__
from lemur_train.config import TrainConfig

# lemur_typer: expected errors are one line with their class's exit code (docs/errors.md).
app = lemur_typer(
    help="lemur-train: JAX/Flax continued pre-training of Llama-2", version=__version__
)
convert_app = typer.Typer(
    help="Convert weights between Hugging Face and lemur", no_args_is_help=True
)
app.add_typer(convert_app, name="convert")


ConfigArgument = Annotated[
    str, typer.Argument(help="YAML train config, or a preset name (tiny, lemur-70b)")
]


@app.command()
def version() -> None:
    """Print the package version."""
    typer.echo(__version__)


@app.command()
def run(
    config: ConfigArgument,
    corpus: Annotated[
        Path,
        typer.Option(exists=True, file_okay=False, help="corpus artifact directory (shards.json)"),
    ],
    out: Annotated[Path, typer.Option(help="output directory (checkpoints, metrics, hf/)")],
    overrides: SetOption = None,
    force: Annotated[bool, typer.Option(help="discard what out holds and start over")] = False,
    verify: Annotated[
        bool, typer.Option(help="re-hash every file of an existing OUT/hf before reusing it")
    ] = False,
    coordinator: Annotated[
        str | None,
        typer.Option(help="multi-host: HOST:PORT of process 0 (also LEMUR_COORDINATOR)"),
    ] = None,
    num_processes: Annotated[
        int | None, typer.Option(help="multi-host: number of processes (LEMUR_NUM_PROCESSES)")
    ] = None,
    process_id: Annotated[
        int | None, typer.Option(help="multi-host: this process's id (LEMUR_PROCESS_ID)")
    ] = None,
) -> None:
    """Train (resuming from OUT's checkpoints) and export OUT/hf.

    Multi-host: run the same command on every host with --coordinator/--num-processes/
    --process-id (or under Slurm / on a TPU slice, where JAX reads them itself).
    """
    from lemur_train.distributed import Launch
    from lemur_train.trainer import train

    # absl (imported by orbax) may have claimed the root logger already: attach our own.
    logger = logging.getLogger("lemur_train")
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.StreamHandler())
    cfg = TrainConfig.load(config, overrides)
    # Busy, stale, damaged or unwritable OUT, a bad corpus or checkpoint: one line, exit 3/5.
    launch = Launch(coordinator, num_processes, process_id, source="the command line")
    result = train(cfg, corpus, out, force=force, verify=verify, launch=launch)
    loss = result.manifest.stats.get("final_loss")
    shown = f"{loss:.4f}" if isinstance(loss, float) else str(loss)
    typer.echo(f"model: {out / 'hf'}  final loss: {shown}")


@convert_app.command("from-hf")
def from_hf(
    hf_dir: Annotated[
        Path,
        typer.Argument(
            exists=True, file_okay=False, help="HF Llama directory (config.json + safetensors)"
        ),
    ],
    out: Annotated[Path, typer.Argument(help="lemur params checkpoint to write")],
) -> None:
    """HF LlamaForCausalLM directory -> lemur params checkpoint (usable as init_from)."""
    from lemur_train.weights import hf_to_lemur

    typer.echo(hf_to_lemur(hf_dir, out))


@convert_app.command("to-hf")
def to_hf(
    checkpoint: Annotated[
        Path,
        typer.Argument(exists=True, help="lemur params checkpoint, training run dir, or HF dir"),
    ],
    out: Annotated[Path, typer.Argument(help="HF directory to write")],
    tokenizer: Annotated[Path | None, typer.Option(help="tokenizer directory to include")] = None,
    dtype: Annotated[str, typer.Option(help="float32 or bfloat16")] = "float32",
) -> None:
    """Lemur weights -> HF directory that AutoModelForCausalLM loads."""
    from lemur_train.weights import lemur_to_hf

    if dtype not in ("float32", "bfloat16"):
        raise typer.BadParameter("dtype must be float32 or bfloat16")
    typer.echo(lemur_to_hf(checkpoint, out, tokenizer_dir=tokenizer, dtype=dtype))


@app.command()
def plan(
    config: ConfigArgument,
    overrides: SetOption = None,
    mesh: Annotated[str | None, typer.Option(help="e.g. data=1,fsdp=256,tensor=1")] = None,
    chip: Annotated[
        str | None, typer.Option(help="tpu-v4, tpu-v5e, tpu-v5p, a100-80g, h100-80g")
    ] = None,
    devices: Annotated[
        int | None, typer.Option(help="device count when the mesh has a -1 axis")
    ] = None,
    mfu: Annotated[float, typer.Option(help="assumed model FLOPs utilization")] = 0.4,
    seq_len: Annotated[
        int | None, typer.Option(help="sequence length if the config leaves it to the corpus")
    ] = None,
    vocab_size: Annotated[
        int | None, typer.Option(help="vocab size if the config leaves it to the corpus")
    ] = None,
    compile: Annotated[
        bool, typer.Option(help="also compile on local devices for XLA's memory analysis")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False,
) -> None:
    """Memory per device and time of a config on a mesh, without allocating weights."""
    from lemur_train.config import MeshConfig
    from lemur_train.planner import plan as make_plan

    cfg = TrainConfig.load(config, overrides)
    # Unset here, the planner assumes its defaults (the same as the API's) and says so.
    if seq_len is not None:
        cfg = cfg.model_copy(update={"seq_len": seq_len})
    if vocab_size is not None:
        cfg = cfg.model_copy(
            update={"model": cfg.model.model_copy(update={"vocab_size": vocab_size})}
        )
    try:
        result = make_plan(
            cfg,
            mesh=MeshConfig.parse(mesh) if mesh else None,
            chip=chip,
            devices=devices,
            assumed_mfu=mfu,
            compile=compile,
        )
    except ValueError as exc:  # an unknown chip, a mesh that does not parse
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(result.model_dump(), indent=2) if as_json else result.render())
    if not result.fits:
        raise typer.Exit(code=2)


@app.command("show-config")
def show_config(config: ConfigArgument, overrides: SetOption = None) -> None:
    """Print a preset's (or a YAML file's) full config as YAML, ready to edit and pass to `run`."""
    typer.echo(TrainConfig.load(config, overrides).to_yaml(), nl=False)


@app.command()
def presets() -> None:
    """List the shipped presets."""
    for name in TrainConfig.preset_names():
        typer.echo(name)


@app.command("synthetic-corpus")
def synthetic_corpus(
    out: Annotated[Path, typer.Argument(help="directory to write the corpus artifact to")],
    rows: int = 64,
    seq_len: int = 64,
    shards: int = 2,
) -> None:
    """Write a small synthetic corpus artifact (for trying the trainer without lemur-data)."""
    from lemur_train.synthetic import write_synthetic_corpus

    typer.echo(write_synthetic_corpus(out, rows=rows, seq_len=seq_len, shards=shards))


if __name__ == "__main__":
    app()
