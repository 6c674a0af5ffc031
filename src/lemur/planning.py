"""``lemur plan``: each stage's resources and time at the recipe's scale, without running it."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from lemur.recipe import Recipe


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        names = [str(v.get("name")) for v in value if isinstance(v, dict) and "name" in v]
        return ", ".join(names) if len(names) == len(value) else f"{len(value)} items"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def plan_recipe(recipe: Recipe) -> dict[str, dict[str, Any]]:
    """Every stage's :meth:`~lemur_core.protocols.Stage.estimate` on the recipe's ``resources``
    for it: a mapping stage -> named estimates (nothing runs)."""
    return {
        stage.name: stage.estimate(config, recipe.resources.get(stage.name, {}))
        for stage, config in recipe.planned()
    }


def print_plan(recipe: Recipe, console: Console) -> dict[str, dict[str, Any]]:
    """Print :func:`plan_recipe` (a stage's ready-made ``report`` as text, the rest as a
    table) and return it."""
    plans = plan_recipe(recipe)
    console.rule(f"[bold]plan for recipe '{recipe.name}'")
    for stage, estimates in plans.items():
        rest = {k: v for k, v in estimates.items() if k != "report"}
        if "report" in estimates:
            console.print(f"[bold]{stage}[/bold]")
            console.print(str(estimates["report"]), markup=False, highlight=False)
        if rest:
            table = Table(title=stage, show_header=False)
            table.add_column("estimate")
            table.add_column("value", justify="right")
            for key, value in rest.items():
                table.add_row(key, _fmt(value))
            console.print(table)
    return plans
