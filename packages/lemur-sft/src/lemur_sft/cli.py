"""Command line of lemur-sft: ``run`` (one process, torchrun or accelerate launch), ``plan``,
``presets``, ``show-config``, ``toy`` (inputs to try it on).

Every command that takes a config takes a YAML file or a preset name and ``--set KEY=VALUE``
overrides (lemur_core.config); a bad config is one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from lemur_core.cli_app import SetOption, lemur_typer
from lemur_core.cli_errors import InputError
from lemur_core.humanize import human_value
from rich.console import Console
from rich.table import Table

from lemur_sft import __version__
from lemur_sft.config import SFTConfig

# lemur_typer: expected errors are one line with their class's exit code (docs/errors.md).
app = lemur_typer(
    help="Lemur instruction fine-tuning (ChatML, Accelerate + DeepSpeed).", version=__version__
)
console = Console(stderr=True)


ConfigArgument = Annotated[
    str, typer.Argument(help="a YAML config file or a preset name (tiny, lemur-chat)")
]


@app.command()
def version() -> None:
    """Print the package version."""
    typer.echo(__version__)


@app.command()
def run(
    config: ConfigArgument,
    instruct: Annotated[
        Path,
        typer.Option(
            exists=True, file_okay=False, help="instruct artifact directory (examples.jsonl)"
        ),
    ],
    base_model: Annotated[
        Path, typer.Option(exists=True, file_okay=False, help="base HF model directory")
    ],
    out: Annotated[Path, typer.Option(help="output directory (checkpoints, metrics.jsonl, hf/)")],
    overrides: SetOption = None,
    force: Annotated[
        bool, typer.Option(help="discard an existing run in OUT and start over")
    ] = False,
    verify: Annotated[
        bool, typer.Option(help="re-hash every file of an existing OUT/hf before reusing it")
    ] = False,
) -> None:
    """Fine-tune; resumes from OUT's latest checkpoint. Works alone, under
    `torchrun --nproc_per_node N` and under `accelerate launch --num_processes N`."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = SFTConfig.load(config, overrides)
    # Inputs are checked before torch and the model load (a minute at 7B): the instruct
    # artifact's examples and the base model's config must be there.
    if not (instruct / "examples.jsonl").is_file():
        raise InputError(
            "not an instruct artifact (no examples.jsonl)",
            instruct,
            "build one with `lemur-data instruct build CONFIG --out DIR` (or `lemur-sft toy DIR`)",
        )
    if not (base_model / "config.json").is_file():
        raise InputError(
            "not a Hugging Face model directory (no config.json)",
            base_model,
            "give the directory holding config.json and the weights",
        )
    from lemur_sft.trainer import finetune

    # Busy, stale, damaged or unwritable OUT: one line and its class's exit code.
    result = finetune(cfg, instruct, base_model, out, force=force, verify=verify)
    loss = result.manifest.stats.get("final_loss")
    shown = f"{loss:.4f}" if isinstance(loss, float) else str(loss)
    if os.environ.get("RANK", "0") == "0":
        console.print(f"model artifact: {out / 'hf'} (final loss {shown})")


@app.command()
def plan(
    config: ConfigArgument,
    overrides: SetOption = None,
    model_size: Annotated[str, typer.Option(help="parameter count (7e9) or 7b/13b/70b")] = "70b",
    world_size: Annotated[int, typer.Option(help="number of GPUs")] = 32,
    zero_stage: Annotated[int, typer.Option(help="ZeRO stage 0-3")] = 3,
    offload: Annotated[bool, typer.Option(help="ZeRO CPU offload")] = False,
) -> None:
    """Memory per GPU and GPU-hours before anything is allocated; also checks the batch arithmetic."""
    from lemur_sft.estimate import estimate_sft
    from lemur_sft.launch_check import LaunchError, check_global_batch

    cfg = SFTConfig.load(config, overrides)
    est = estimate_sft(cfg, model_size, world_size, zero_stage, offload=offload)
    table = Table(title=f"{cfg.name}: {model_size} on {world_size} GPUs, ZeRO-{zero_stage}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key, value in est.items():
        table.add_row(key, human_value(key, value))  # 69.0B params, not 69,000,000,000.00
    Console().print(table)
    try:
        check_global_batch(cfg, world_size)
    except LaunchError as exc:
        console.print(f"[yellow]launch check:[/] {exc}")


@app.command()
def presets() -> None:
    """List the shipped presets."""
    for name in SFTConfig.preset_names():
        typer.echo(name)


@app.command("show-config")
def show_config(config: ConfigArgument, overrides: SetOption = None) -> None:
    """Print a config (or preset) as YAML, ready to edit and pass to `run`."""
    typer.echo(SFTConfig.load(config, overrides).to_yaml(), nl=False)


@app.command()
def toy(
    out: Annotated[Path, typer.Argument(help="directory to write base/ and instruct/ into")],
    examples: Annotated[int, typer.Option(help="toy conversations")] = 1200,
    hidden_size: Annotated[int, typer.Option(help="model width")] = 128,
    layers: Annotated[int, typer.Option(help="model depth")] = 4,
) -> None:
    """Write a tiny base model (no ChatML tokens) and a toy instruct set to try `run` on."""
    from lemur_sft.toy import write_toy_base_model, write_toy_instruct_set

    write_toy_base_model(out / "base", hidden_size=hidden_size, layers=layers, vocab_size=1024)
    write_toy_instruct_set(out / "instruct", examples)
    typer.echo(json.dumps({"base_model": str(out / "base"), "instruct": str(out / "instruct")}))
