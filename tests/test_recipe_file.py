"""The recipe file: one typed section per stage, the same dialect as each package's own config,
shipped recipes found by name from any directory, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from lemur_core.config import ConfigError
from lemur_core.protocols import Stage
from lemur_train import TrainConfig

from lemur.recipe import Recipe, RecipeError, load_recipe, shipped_recipes
from lemur.stages import PRETRAIN, STAGE_NAMES, STAGES

LEMUR = Path(sys.executable).parent / "lemur"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def test_unknown_top_level_field_is_named_with_the_closest(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"unknown field 'corpsu' \(did you mean 'corpus'\?\)"):
        load_recipe(_write(tmp_path, "name: x\ncorpsu: {preset: tiny}\n"))


def test_invalid_yaml_is_reported_as_such(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(_write(tmp_path, "name: [unclosed\n"))


def test_missing_recipe_lists_the_shipped_ones(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"does not exist; .* lemur-70b, tiny"):
        load_recipe(tmp_path / "nope.yaml")
    with pytest.raises(RecipeError, match=r"did you mean 'tiny'\?"):
        load_recipe("tinny")


def test_stage_order_follows_the_pipeline(tmp_path: Path) -> None:
    recipe = load_recipe(
        _write(tmp_path, "name: x\ninstruct: {preset: tiny}\ncorpus: {preset: tiny}\n")
    )
    assert recipe.stages() == ["corpus", "instruct"]


def test_a_stage_without_its_input_stage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="stage 'pretrain' needs the 'corpus' stage"):
        load_recipe(_write(tmp_path, "name: x\npretrain: {preset: tiny}\n"))
    eval_only = "name: x\neval:\n  models: [{name: m, spec: 'stage:sft'}]\n"
    with pytest.raises(RecipeError, match="stage 'eval' needs the 'sft' stage"):
        load_recipe(_write(tmp_path, eval_only))


def test_a_section_means_what_the_same_yaml_means_to_the_package(tmp_path: Path) -> None:
    section = {"preset": "tiny", "max_steps": 7, "optimizer": {"peak_lr": 1e-3}}
    path = _write(
        tmp_path, yaml.safe_dump({"name": "x", "corpus": {"preset": "tiny"}, "pretrain": section})
    )
    recipe = load_recipe(path)
    own = tmp_path / "train.yaml"
    own.write_text(yaml.safe_dump(section))
    config = recipe.config(PRETRAIN)
    assert isinstance(config, TrainConfig)
    assert config == TrainConfig.from_yaml(own)
    # deep merge: the preset's warm-up survives beside the overridden peak
    assert config.optimizer.warmup_steps == TrainConfig.tiny().optimizer.warmup_steps


def test_bad_stage_field_is_one_line_naming_stage_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\ncorpus: {preset: tiny}\npretrain: {preset: tiny, steps: 3}\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.endswith("pretrain: 'steps' was renamed to 'max_steps'; use 'max_steps' instead")


def test_set_overrides_a_stage_field_and_the_workdir() -> None:
    recipe = load_recipe("tiny", ["pretrain.optimizer.peak_lr=1e-4", "workdir=/tmp/w"])
    config = recipe.config(PRETRAIN)
    assert config is not None and config.optimizer.peak_lr == pytest.approx(1e-4)
    assert recipe.workdir == Path("/tmp/w")
    with pytest.raises(
        RecipeError, match=r"unknown recipe key 'pretrian' \(did you mean 'pretrain'\?\)"
    ):
        load_recipe("tiny", ["pretrian.max_steps=3"])


def test_every_stage_is_a_typed_stage_listed_once() -> None:
    assert STAGE_NAMES == ("corpus", "instruct", "pretrain", "sft", "eval")
    for stage in STAGES:
        assert isinstance(stage, Stage)
    import lemur_data.corpus
    import lemur_data.instruct
    import lemur_sft
    import lemur_train

    exported = [
        lemur_data.corpus.STAGE,
        lemur_data.instruct.STAGE,
        lemur_train.STAGE,
        lemur_sft.STAGE,
    ]
    assert exported == list(STAGES[:4])


def test_shipped_recipes_validate_from_any_directory() -> None:
    assert set(shipped_recipes()) == {"tiny", "lemur-70b"}
    for args in (
        ["validate", "tiny"],
        ["validate", "recipes/tiny.yaml"],
        ["validate", "lemur-70b"],
    ):
        proc = subprocess.run(
            [str(LEMUR), *args], cwd="/", capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "is valid" in proc.stdout


def test_cli_bad_recipe_is_one_line_without_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\ncorpus: {preset: tiny, pack: {seq_lenn: 3}}\n")
    proc = subprocess.run(
        [str(LEMUR), "validate", str(path)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2  # usage class (docs/errors.md)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {path}: corpus: unknown field 'pack.seq_lenn' (did you mean 'seq_len'?)"
    ]


def test_the_plan_estimates_every_stage_of_the_paper_recipe() -> None:
    from lemur.planning import plan_recipe

    plans = plan_recipe(load_recipe("lemur-70b"))
    assert list(plans) == list(STAGE_NAMES)
    assert plans["pretrain"]["fits"] and 10 < plans["pretrain"]["days"] < 30
    assert plans["sft"]["world_size"] == 32
    with pytest.raises(ConfigError, match=r"resources\.pretrain: unknown field 'chipp'"):
        plan_recipe(load_recipe("lemur-70b", ["resources.pretrain.chipp=tpu-v4"]))


def test_recipe_model_is_built_from_the_stage_list() -> None:
    recipe = Recipe.from_mapping({"name": "x", "corpus": {"preset": "tiny"}})
    assert list(recipe.configs) == ["corpus"] and recipe.resources == {}


def test_cli_show_config_prints_a_stage_as_the_recipe_resolves_it() -> None:
    from typer.testing import CliRunner

    from lemur.cli import app

    out = CliRunner().invoke(
        app, ["show-config", "tiny", "pretrain", "--set", "pretrain.max_steps=3"]
    )
    assert out.exit_code == 0, out.output
    shown = TrainConfig.model_validate(yaml.safe_load(out.output))
    # The recipe's pretrain section sets global_batch_size: 8 over the preset; --set max_steps=3.
    assert shown == TrainConfig.tiny().with_overrides(["global_batch_size=8", "max_steps=3"])
    missing = CliRunner().invoke(app, ["show-config", "tiny", "pretrian"])
    assert missing.exit_code == 2
