"""`lemur-data corpus ...` commands: build, stats, inspect, estimate, show-config, presets.

A config argument is a YAML file or a preset name, with ``--set KEY=VALUE`` overrides
(lemur_core.config); a bad config is one line and exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from lemur_core.cli_app import SetOption
from lemur_core.humanize import human_value
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from lemur_data.corpus.build import build_corpus
from lemur_data.corpus.config import CorpusConfig
from lemur_data.corpus.estimate import estimate_corpus
from lemur_data.corpus.report import decode_row, mixture_table

app = typer.Typer(help="Build and inspect the pre-training corpus.", no_args_is_help=True)
# Piped output (CI logs, tests) gets a wide console so the Table 8 layout is not truncated.
_console = Console() if sys.stdout.isatty() else Console(width=160)


ConfigArgument = Annotated[str, typer.Argument(help="corpus YAML, or a preset: tiny, lemur-v1")]


@app.command()
def build(
    config: ConfigArgument,
    out: Annotated[Path, typer.Option("--out", help="artifact directory to create")],
    overrides: SetOption = None,
    workers: Annotated[
        int, typer.Option(min=1, help="local worker processes (output is the same)")
    ] = 1,
    force: Annotated[bool, typer.Option(help="replace an existing artifact")] = False,
    keep_work: Annotated[bool, typer.Option(help="keep the scratch directory")] = False,
    verify: Annotated[
        bool, typer.Option(help="re-hash every file of an existing corpus before reusing it")
    ] = False,
    executor: Annotated[
        str | None,
        typer.Option(
            help="local, ray or slurm: shorthand for --set executor.kind=... (see docs/scaling-out.md)"
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster to run on (host:port, ray://host:10001 or auto); default "
            "$RAY_ADDRESS, else a local cluster with --workers CPUs"
        ),
    ] = None,
) -> None:
    """Build a corpus artifact (resumes an interrupted build of the same config)."""
    if executor is not None:
        overrides = [*(overrides or []), f"executor.kind={executor}"]
    cfg = CorpusConfig.load(config, overrides)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} stages"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_console,
    ) as progress:
        task = progress.add_task("corpus", total=None)

        def on_stage(index: int, count: int, name: str) -> None:
            progress.update(task, total=count, completed=index, description=f"stage {name}")

        result = build_corpus(
            cfg,
            out,
            workers=workers,
            force=force,
            keep_work=keep_work,
            verify=verify,
            on_stage=on_stage,
            ray_address=ray_address,
        )
        progress.update(task, completed=progress.tasks[0].total or 0, description="done")
    # Config errors, stale, busy, damaged or unwritable OUT and bad inputs (MixError ...) propagate: the
    # lemur-data app prints them as one line with their class's exit code (docs/errors.md).
    _console.print(mixture_table(out))
    manifest = result.manifest
    _console.print(f"wrote {out} (config {manifest.config_sha256[:12]})")


@app.command()
def stats(corpus_dir: Annotated[Path, typer.Argument(help="a corpus artifact directory")]) -> None:
    """Print the mixture as paper Table 8: type, source, weight, effective tokens, epochs."""
    _console.print(mixture_table(corpus_dir))  # ManifestError: one line, exit 3


@app.command()
def inspect(
    corpus_dir: Annotated[Path, typer.Argument(help="a corpus artifact directory")],
    row: Annotated[int, typer.Option("--row", help="packed row to decode")] = 0,
) -> None:
    """Decode one packed row, showing document boundaries and sources."""
    try:
        segments = decode_row(corpus_dir, row)
    except IndexError as exc:  # a row past the end
        raise typer.BadParameter(str(exc), param_hint="--row") from exc
    for seg in segments:
        _console.print(
            Panel(
                seg.text,
                title=f"segment {seg.segment_id} · {seg.source} · {len(seg.token_ids)} tokens",
                expand=True,
            ),
            markup=False,
        )


@app.command("show-config")
def show_config(config: ConfigArgument, overrides: SetOption = None) -> None:
    """Print a preset's (or a YAML file's) full config as YAML, a starting point for your own."""
    typer.echo(CorpusConfig.load(config, overrides).to_yaml(), nl=False)


@app.command()
def presets() -> None:
    """List the shipped presets."""
    for name in CorpusConfig.preset_names():
        typer.echo(name)


@app.command()
def estimate(config: ConfigArgument, overrides: SetOption = None) -> None:
    """Estimate bytes, tokens and CPU-hours of a build without running it."""
    cfg = CorpusConfig.load(config, overrides)
    table = Table("quantity", "value")
    for key, value in estimate_corpus(cfg).items():
        table.add_row(key, human_value(key, value))  # 3.42 TB, 951.0B tokens
    _console.print(table)
