"""The recipe file: one YAML that describes every stage of the Lemur pipeline.

A recipe names a working directory and has one section per stage (:data:`lemur.stages.STAGES`).
Each section is that stage's config in the one dialect of :class:`lemur_core.config.StageConfig`:
``preset: NAME`` starts from a named preset of the owning package and the other keys deep-merge
onto it, exactly as in the package's own CLI. ``resources`` holds, per stage, the hardware
``lemur plan`` assumes. The shipped recipes (``tiny``, ``lemur-70b``) are package data, so they
are found by name from any directory.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources as package_files
from pathlib import Path
from typing import Any, TypeVar

from lemur_core.config import ConfigError, StageConfig
from lemur_core.protocols import Stage

from lemur.stages import STAGE_NAMES, STAGES, stage_needs

C = TypeVar("C", bound=StageConfig)
_TOP_LEVEL = ("name", "description", "workdir", "resources")


class RecipeError(ConfigError):
    """A recipe that cannot be run; the one-line message names the field and the fix."""


def shipped_recipes() -> dict[str, Path]:
    """The recipes shipped inside the ``lemur`` package, by name (``tiny``, ``lemur-70b``)."""
    folder = package_files.files("lemur") / "recipes"
    return {
        entry.name.removesuffix(".yaml"): Path(str(entry))
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    }


def recipe_path(source: str | Path) -> Path:
    """The file a recipe argument names: an existing path, or a shipped recipe by name
    (``tiny``), also when spelled as the repository path (``recipes/tiny.yaml``)."""
    path = Path(source)
    if path.is_file():
        return path
    shipped = shipped_recipes()
    name = path.name.removesuffix(".yaml").removesuffix(".yml")
    if str(path.parent) in (".", "recipes") and name in shipped:
        return shipped[name]
    close = difflib.get_close_matches(name, shipped, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise RecipeError(
        f"recipe {source} does not exist{hint}; give a YAML path or a shipped recipe: "
        f"{', '.join(sorted(shipped))}"
    )


@dataclass(frozen=True)
class Recipe:
    """A whole Lemur run: where it writes and each stage's typed config, in pipeline order."""

    name: str
    workdir: Path = Path("runs/tiny")
    configs: Mapping[str, StageConfig] = field(default_factory=dict)
    description: str = ""
    resources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def stages(self) -> list[str]:
        """The names of the stages this recipe runs, in pipeline order."""
        return [stage.name for stage, _ in self.planned()]

    def planned(self) -> Iterator[tuple[Stage[Any], StageConfig]]:
        """Each stage this recipe runs with its config, in pipeline order."""
        for stage in STAGES:
            if stage.name in self.configs:
                yield stage, self.configs[stage.name]

    def config(self, stage: Stage[C]) -> C | None:
        """The typed config of ``stage`` (``recipe.config(PRETRAIN)`` is a ``TrainConfig``)."""
        found = self.configs.get(stage.name)
        return found if isinstance(found, stage.config_class) else None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, origin: str = "recipe") -> Recipe:
        """Validate a recipe mapping: top-level fields, then each stage section into its
        config class; the first problem is a :class:`RecipeError` naming ``stage.field``."""
        if not isinstance(raw, Mapping):
            raise RecipeError(
                f"{origin} must be a mapping with keys name, workdir and stage sections "
                f"({', '.join(STAGE_NAMES)})"
            )
        known = (*_TOP_LEVEL, *STAGE_NAMES)
        for key in raw:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise RecipeError(
                    f"{origin}: unknown field '{key}'{hint}; a recipe has {', '.join(known)}"
                )
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise RecipeError(f"{origin}: name: give the recipe a non-empty name")
        description = raw.get("description") or ""
        workdir = raw.get("workdir", "runs/tiny")
        if not isinstance(workdir, str | Path) or not str(workdir):
            raise RecipeError(f"{origin}: workdir: give a directory path")
        configs: dict[str, StageConfig] = {}
        for stage in STAGES:
            section = raw.get(stage.name)
            if section is None:
                continue
            configs[stage.name] = stage.config_class.from_mapping(
                section, origin=f"{origin}: {stage.name}"
            )
        recipe = cls(
            name=name,
            description=str(description).strip(),
            workdir=Path(workdir),
            configs=configs,
            resources=_resources(raw.get("resources") or {}, origin),
        )
        recipe.check_inputs(origin)
        return recipe

    def check_inputs(self, origin: str = "recipe") -> None:
        """Every stage's inputs are produced by an earlier stage of this recipe."""
        done: set[str] = set()
        for stage, config in self.planned():
            for need in stage_needs(stage, config):
                if need not in done:
                    raise RecipeError(
                        f"{origin}: stage '{stage.name}' needs the '{need}' stage before it: "
                        f"add a '{need}' section to the recipe"
                    )
            done.add(stage.name)

    def with_overrides(self, overrides: Sequence[str]) -> Recipe:
        """This recipe with ``--set`` overrides: ``STAGE.field=VALUE`` goes to that stage's
        config (:meth:`StageConfig.with_overrides`), ``workdir=DIR`` / ``name=N`` to the recipe,
        ``resources.STAGE.key=VALUE`` to the plan's hardware."""
        recipe = self
        for item in overrides:
            key, sep, value = item.partition("=")
            head, _, rest = key.strip().partition(".")
            if not sep:
                raise RecipeError(f"--set {item!r}: expected KEY=VALUE, e.g. pretrain.max_steps=5")
            if head in STAGE_NAMES:
                config = recipe.configs.get(head)
                if config is None:
                    raise RecipeError(
                        f"--set {key}: the recipe has no '{head}' section; add one first"
                    )
                if not rest:
                    raise RecipeError(f"--set {key}: name a field, e.g. {head}.name=x")
                try:
                    changed = config.with_overrides([f"{rest}={value}"])
                except ConfigError as exc:
                    raise RecipeError(f"{head}: {exc}") from exc
                recipe = replace(recipe, configs={**recipe.configs, head: changed})
            elif head in ("workdir", "name", "description") and not rest:
                update: Any = Path(value) if head == "workdir" else value
                recipe = replace(recipe, **{head: update})
            elif head == "resources" and rest.count(".") == 1:
                stage, _, field_name = rest.partition(".")
                import yaml

                parsed = yaml.safe_load(value) if value.strip() else value
                merged = {**recipe.resources.get(stage, {}), field_name: parsed}
                recipe = replace(
                    recipe,
                    resources=_resources({**recipe.resources, stage: merged}, "--set"),
                )
            else:
                known = (*_TOP_LEVEL, *STAGE_NAMES)
                close = difflib.get_close_matches(head, known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise RecipeError(
                    f"--set {key}: unknown recipe key '{head}'{hint}; use STAGE.field "
                    f"({', '.join(STAGE_NAMES)}), workdir, name or resources.STAGE.key"
                )
        recipe.check_inputs("--set")
        return recipe


def _resources(raw: Any, origin: str) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, Mapping):
        raise RecipeError(f"{origin}: resources: expected a mapping of stage -> settings")
    out: dict[str, dict[str, Any]] = {}
    for stage, settings in raw.items():
        if stage not in STAGE_NAMES:
            close = difflib.get_close_matches(str(stage), STAGE_NAMES, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise RecipeError(
                f"{origin}: resources.{stage}: unknown stage{hint}; use {', '.join(STAGE_NAMES)}"
            )
        if not isinstance(settings, Mapping):
            raise RecipeError(f"{origin}: resources.{stage}: expected a mapping of settings")
        out[str(stage)] = dict(settings)
    return out


def load_recipe(source: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Read and validate a recipe: a YAML path or a shipped recipe's name (see
    :func:`recipe_path`), with ``--set`` ``overrides`` applied."""
    import yaml

    path = recipe_path(source)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise RecipeError(f"recipe {path} is not valid YAML{at}: fix the syntax") from exc
    except OSError as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc.strerror}") from exc
    try:
        return Recipe.from_mapping(raw, origin=str(source)).with_overrides(overrides)
    except RecipeError:
        raise
    except ConfigError as exc:
        raise RecipeError(str(exc)) from exc


__all__ = ["Recipe", "RecipeError", "load_recipe", "recipe_path", "shipped_recipes"]
