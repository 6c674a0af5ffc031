"""`lemur-data instruct ...` commands: build, stats, estimate, show-config, presets.

A config argument is a YAML file or a preset name, with ``--set KEY=VALUE`` overrides
(lemur_core.config); a bad config is one line and exit code 2. Errors are reported by the
``lemur-data`` app (lemur_core.cli_app): one line, the exit code of their class.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer
from lemur_core import StaleArtifactError, read_manifest
from lemur_core.cli_app import SetOption

from lemur_data.instruct.config import InstructConfig

app = typer.Typer(help="Build and inspect the instruction-tuning set.", no_args_is_help=True)


@app.command()
def build(
    config: str = typer.Argument(
        ..., help="YAML config file, or a preset name: tiny, lemur-chat-v1"
    ),
    out: Path = typer.Option(..., "--out", help="artifact directory to write"),
    force: bool = typer.Option(
        False, "--force", help="rebuild over an artifact made from another config"
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="log the first removals per reason"
    ),
    overrides: SetOption = None,
    verify: bool = typer.Option(
        False, "--verify", help="re-hash every file of an existing artifact before reusing it"
    ),
) -> None:
    """Build the instruction set artifact (examples.jsonl + manifest.json) and print Table 1."""
    from lemur_data.instruct.build import build_instruct

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        result = build_instruct(
            InstructConfig.load(config, overrides), out, force=force, progress=True, verify=verify
        )
    except StaleArtifactError as exc:  # one line, exit 3 (lemur_core.cli_app reports it)
        if "--force" in str(exc):
            raise
        raise StaleArtifactError(
            f"{exc} (pass --force to rebuild)", changed_fields=exc.changed_fields
        ) from exc
    manifest = result.manifest
    _print_stats(manifest.stats)
    typer.echo(f"wrote {manifest.stats['examples']} examples to {out / 'examples.jsonl'}")


@app.command()
def stats(directory: Path = typer.Argument(..., help="an instruct artifact directory")) -> None:
    """Print an instruct artifact's Table 1 and its removal counts by reason."""
    manifest = read_manifest(directory, kind="instruct")  # ManifestError: one line, exit 3
    _print_stats(manifest.stats)


@app.command()
def estimate(
    config: str = typer.Argument(..., help="YAML config file or preset name"),
    overrides: SetOption = None,
) -> None:
    """Print expected examples, cost and size of a build as JSON (no data is read)."""
    from lemur_data.instruct.estimate import estimate_instruct

    typer.echo(json.dumps(estimate_instruct(InstructConfig.load(config, overrides)), indent=2))


@app.command("show-config")
def show_config(
    config: str = typer.Argument(..., help="YAML config file or preset name"),
    overrides: SetOption = None,
) -> None:
    """Print a config (a preset, say) as the YAML that `build` reads."""
    typer.echo(InstructConfig.load(config, overrides).to_yaml(), nl=False)


@app.command()
def presets() -> None:
    """List the shipped presets."""
    for name in InstructConfig.preset_names():
        typer.echo(name)


def _print_stats(stats: dict) -> None:  # type: ignore[type-arg]
    from rich.console import Console
    from rich.table import Table

    console = Console()
    unit = stats.get("token_unit", "tokens")
    table = Table(title="Instruction set (laid out like Lemur Table 1)")
    for col in (
        "Dataset",
        "#Instances",
        "Paper #Instances",
        "Mean #Rounds",
        "Paper #Rounds",
        f"Mean Prompt Len ({unit})",
        f"Mean Completion Len ({unit})",
    ):
        table.add_column(col, justify="left" if col == "Dataset" else "right")
    for r in stats.get("table1", []):
        table.add_row(
            r["dataset"],
            f"{r['instances']:,}",
            f"{r['paper_instances']:,}" if r.get("paper_instances") else "-",
            f"{r['mean_rounds']:.2f}",
            f"{r['paper_mean_rounds']:.1f}" if r.get("paper_mean_rounds") else "-",
            f"{r['mean_prompt_tokens']:.2f}",
            f"{r['mean_completion_tokens']:.2f}",
        )
    console.print(table)
    removed = stats.get("removed_by_reason", {})
    if removed:
        console.print("removed: " + ", ".join(f"{k}={v}" for k, v in removed.items()))
    sem = stats.get("semantic_dedup", {})
    if sem.get("enabled"):
        console.print(
            f"semantic dedup: {sem['removed']}/{sem['rows']} removed at cos > {sem['threshold']} with {sem['embedder']['name']}; embed {sem['embed_rows_per_s']} rows/s, search {sem['search_rows_per_s']} rows/s"
        )
