"""Run a recipe's stages in order, each through its package's :class:`~lemur_core.protocols.Stage`.

Every stage writes under ``WORKDIR/<stage>`` and reuses its artifact when config and inputs
match (the stage says so in its :class:`~lemur_core.stage.StageResult`). ``force_from``
rebuilds one stage and every stage after it.
"""

from __future__ import annotations

import time
from pathlib import Path

from lemur_core import ManifestError, StaleArtifactError
from lemur_core.config import ConfigError
from lemur_core.stage import StageError
from rich.console import Console

from lemur.layout import Layout
from lemur.recipe import Recipe, RecipeError
from lemur.stages import STAGE_NAMES
from lemur.summary import StageOutcome, write_summary


def run_recipe(
    recipe: Recipe,
    *,
    force_from: str | None = None,
    verify: bool = False,
    console: Console | None = None,
) -> list[StageOutcome]:
    """Run every stage of ``recipe``; stages whose artifacts match are reused (after their
    files' sizes are checked, and their sha256 with ``verify``)."""
    console = console or Console()
    if force_from is not None and force_from not in STAGE_NAMES:
        raise RecipeError(
            f"--force {force_from}: unknown stage; choose one of {', '.join(STAGE_NAMES)}"
        )
    forced = set(STAGE_NAMES[STAGE_NAMES.index(force_from) :]) if force_from else set()
    layout = Layout(Path(recipe.workdir).absolute())
    layout.root.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, Path] = {}
    outcomes: list[StageOutcome] = []
    planned = list(recipe.planned())
    for index, (stage, config) in enumerate(planned, start=1):
        console.rule(f"[bold]stage {index}/{len(planned)}: {stage.name}")
        out = layout.stage_dir(stage)
        start = time.perf_counter()
        try:
            result = stage.run(
                config, dict(artifacts), out, force=stage.name in forced, verify=verify
            )
        except StaleArtifactError as exc:
            raise RecipeError(
                f"stage '{stage.name}': {exc}; rebuild it with --force {stage.name}"
            ) from exc
        except (ManifestError, StageError, ConfigError) as exc:
            raise RecipeError(f"stage '{stage.name}': {exc}") from exc
        artifacts[stage.name] = layout.artifact(stage)
        outcome = StageOutcome(stage.name, out, time.perf_counter() - start, result)
        outcomes.append(outcome)
        console.print(f"  {stage.name}: {outcome.status} in {outcome.seconds:.1f} s -> {out}")
    write_summary(recipe, layout, outcomes, console)
    return outcomes


__all__ = ["run_recipe"]
