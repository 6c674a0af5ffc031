"""The ``lemur`` command: run recipes end to end, validate them, plan them at paper scale.

A recipe argument is a YAML path or a shipped recipe's name (``tiny``, ``lemur-70b``), so
``lemur validate tiny`` and ``lemur demo`` work from any directory. ``--set STAGE.field=VALUE``
overrides any stage's config (``--set pretrain.optimizer.peak_lr=1e-4``); a bad recipe is one
line and exit code 2 (docs/errors.md lists every exit code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from lemur_core.cli_app import lemur_typer
from lemur_core.cli_errors import ExitCode
from lemur_core.config import ConfigError
from rich.console import Console
from rich.table import Table

from lemur.versions import package_versions

# lemur_typer: expected errors are one line with their class's exit code (docs/errors.md).
app = lemur_typer(
    help="Lemur: the recipe of arXiv 2310.06830 end to end.",
    version=lambda: "\n".join(f"{n} {v}" for n, v in package_versions().items()),
)
console = Console()

TINY_RECIPE = "tiny"
_STAGES_HELP = "corpus, instruct, pretrain, sft, eval"

RecipeArgument = Annotated[
    str, typer.Argument(help="a recipe YAML file, or a shipped recipe: tiny, lemur-70b")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help=(
            "override a recipe value: STAGE.field=VALUE (pretrain.max_steps=5, "
            "sft.optimizer.peak_lr=1e-4), workdir=DIR or resources.STAGE.key=VALUE; repeatable"
        ),
    ),
]
WorkdirOption = Annotated[
    Path | None, typer.Option(help="Where artifacts go (default: the recipe's workdir).")
]
VerifyOption = Annotated[
    bool, typer.Option(help="Re-hash every file of a finished stage's artifact before reusing it.")
]
ForceOption = Annotated[
    str | None,
    typer.Option(help=f"Re-run this stage and every later one ({_STAGES_HELP})."),
]


def _version_callback(value: bool) -> None:
    if value:
        for name, ver in package_versions().items():
            typer.echo(f"{name} {ver}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="List every package's version.",
        ),
    ] = False,
) -> None:
    """Lemur: corpus -> continued pre-training -> instruction tuning -> agent evaluation."""


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(ExitCode.USAGE)  # a bad recipe, --set or stage name


@app.command()
def validate(recipe: RecipeArgument, overrides: SetOption = None) -> None:
    """Check a recipe against every stage's config model (nothing runs)."""
    from lemur.recipe import load_recipe
    from lemur.stages import STAGES

    try:
        loaded = load_recipe(recipe, overrides or ())
    except ConfigError as exc:
        raise _fail(exc) from exc
    table = Table(title=f"recipe '{loaded.name}' is valid")
    table.add_column("stage")
    table.add_column("config")
    for stage in STAGES:
        config = loaded.configs.get(stage.name)
        table.add_row(stage.name, type(config).__name__ if config is not None else "(not run)")
    console.print(table)


def _run(
    recipe_arg: str,
    overrides: list[str] | None,
    force: str | None,
    workdir: Path | None,
    verify: bool,
) -> None:
    from dataclasses import replace

    from lemur.pipeline import run_recipe
    from lemur.recipe import load_recipe

    try:
        recipe = load_recipe(recipe_arg, overrides or ())
        if workdir is not None:
            recipe = replace(recipe, workdir=workdir)
        run_recipe(recipe, force_from=force, verify=verify, console=console)
    except ConfigError as exc:
        raise _fail(exc) from exc


@app.command()
def demo(
    force: ForceOption = None,
    workdir: WorkdirOption = None,
    overrides: SetOption = None,
    verify: VerifyOption = False,
) -> None:
    """Run the shipped tiny recipe end to end on CPU, then print the summary."""
    _run(TINY_RECIPE, overrides, force, workdir, verify)


@app.command()
def run(
    recipe: RecipeArgument,
    force: ForceOption = None,
    workdir: WorkdirOption = None,
    overrides: SetOption = None,
    verify: VerifyOption = False,
) -> None:
    """Run any recipe's stages in order, reusing those whose artifact already matches."""
    _run(recipe, overrides, force, workdir, verify)


@app.command()
def plan(recipe: RecipeArgument, overrides: SetOption = None) -> None:
    """Print each stage's resources and time estimate without running anything."""
    from lemur.planning import print_plan
    from lemur.recipe import load_recipe

    try:
        print_plan(load_recipe(recipe, overrides or ()), console=console)
    except ConfigError as exc:
        raise _fail(exc) from exc


@app.command("show-config")
def show_config(
    recipe: RecipeArgument,
    stage: Annotated[str, typer.Argument(help=f"the stage to print ({_STAGES_HELP})")],
    overrides: SetOption = None,
) -> None:
    """Print one stage's full config, as the recipe (and --set) resolve it, as YAML."""
    from lemur.recipe import load_recipe
    from lemur.stages import STAGE_NAMES

    try:
        loaded = load_recipe(recipe, overrides or ())
        config = loaded.configs.get(stage)
        if config is None:
            known = ", ".join(loaded.configs) or "none"
            where = "a stage" if stage in STAGE_NAMES else f"one of {', '.join(STAGE_NAMES)}"
            raise ConfigError(
                f"recipe '{loaded.name}' has no '{stage}' section (it has: {known}); name {where}"
            )
    except ConfigError as exc:
        raise _fail(exc) from exc
    typer.echo(config.to_yaml(), nl=False)


@app.command()
def recipes() -> None:
    """List the shipped recipes (usable by name from any directory)."""
    from lemur.recipe import shipped_recipes

    for name, path in sorted(shipped_recipes().items()):
        typer.echo(f"{name}\t{path}")


@app.command()
def version() -> None:
    """Print every Lemur package's version."""
    for name, ver in package_versions().items():
        typer.echo(f"{name} {ver}")
