"""StageConfig: presets, YAML deep merge, dotted overrides and one-line errors, the same for
every stage config."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from lemur_core.config import ConfigError, StageConfig, deep_merge
from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Optimizer(_Frozen):
    peak_lr: float = Field(default=4e-5, gt=0)
    warmup_steps: int = Field(default=10, ge=0)
    schedule: Literal["cosine", "linear"] = "cosine"


class Source(_Frozen):
    name: str
    weight: float = Field(default=1.0, gt=0)


class Extra(_Frozen):
    every_steps: int = 5


class DemoConfig(StageConfig):
    config_label: ClassVar[str] = "demo config"
    renamed_fields: ClassVar[Mapping[str, str]] = {"learning_rate": "optimizer.peak_lr"}

    name: str = "demo"
    max_steps: int = Field(default=10, ge=1)
    optimizer: Optimizer = Optimizer()
    sources: tuple[Source, ...] = (Source(name="a"), Source(name="b"))
    extra: Extra | None = None
    mixture: dict[str, int | float] | None = None


@DemoConfig.register_preset("tiny")
def _tiny() -> DemoConfig:
    return DemoConfig(name="tiny", max_steps=3, optimizer=Optimizer(peak_lr=1e-3))


@DemoConfig.register_preset("big")
def _big() -> DemoConfig:
    return DemoConfig(name="big", max_steps=1000)


class OtherConfig(StageConfig):
    value: int = 0


def test_presets_belong_to_their_own_class() -> None:
    assert DemoConfig.preset_names() == ["big", "tiny"]
    assert OtherConfig.preset_names() == []
    assert DemoConfig.tiny() == _tiny()


def test_unknown_preset_suggests_the_closest_and_lists_all() -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown demo config preset 'tinny' \(did you mean 'tiny'\?\); known presets: big, tiny",
    ):
        DemoConfig.preset("tinny")


def test_yaml_preset_deep_merges_nested_keys_and_replaces_lists(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("preset: tiny\noptimizer:\n  warmup_steps: 2\nsources:\n  - name: only\n")
    config = DemoConfig.from_yaml(path)
    # The preset's peak_lr survives beside the override: nested mappings merge key by key.
    assert config.optimizer == Optimizer(peak_lr=1e-3, warmup_steps=2)
    assert config.max_steps == 3 and config.name == "tiny"
    assert config.sources == (Source(name="only"),)


def test_yaml_and_mapping_mean_the_same(tmp_path: Path) -> None:
    data = {"preset": "tiny", "optimizer": {"schedule": "linear"}}
    path = tmp_path / "c.yaml"
    path.write_text("preset: tiny\noptimizer: {schedule: linear}\n")
    assert DemoConfig.from_yaml(path) == DemoConfig.from_mapping(data)


def test_to_yaml_round_trips(tmp_path: Path) -> None:
    config = DemoConfig.tiny().with_overrides(["extra.every_steps=7", "mixture.a=3"])
    path = tmp_path / "c.yaml"
    path.write_text(config.to_yaml())
    assert DemoConfig.from_yaml(path) == config


def test_unknown_nested_field_names_the_path_and_the_closest_field() -> None:
    with pytest.raises(ConfigError) as info:
        DemoConfig.from_mapping({"optimizer": {"peak_lrr": 1.0}}, origin="x.yaml")
    message = str(info.value)
    assert message == "x.yaml: unknown field 'optimizer.peak_lrr' (did you mean 'peak_lr'?)"
    assert "\n" not in message


def test_bad_value_names_the_field_in_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        DemoConfig.from_mapping({"sources": [{"name": "a", "weight": -1}]})
    message = str(info.value)
    assert message.startswith("demo config: sources.0.weight: Input should be greater than 0")
    assert "\n" not in message


def test_old_field_name_is_an_error_naming_the_new_one() -> None:
    with pytest.raises(ConfigError, match=r"'learning_rate' was renamed to 'optimizer\.peak_lr'"):
        DemoConfig.from_mapping({"preset": "tiny", "learning_rate": 1e-4})
    with pytest.raises(ConfigError, match=r"renamed to 'optimizer\.peak_lr'"):
        DemoConfig.tiny().with_overrides(["learning_rate=1e-4"])


def test_overrides_parse_values_by_the_field_type() -> None:
    config = DemoConfig.tiny().with_overrides(
        [
            "optimizer.peak_lr=1e-4",  # YAML 1.1 would read this as a string
            "max_steps=7",
            "name=123",  # a text field keeps the text
            "sources.1.weight=2.5",
            "extra.every_steps=9",  # an unset optional sub-config starts from its defaults
        ]
    )
    assert config.optimizer.peak_lr == pytest.approx(1e-4)
    assert config.max_steps == 7 and config.name == "123"
    assert config.sources[1].weight == 2.5 and config.sources[0].weight == 1.0
    assert config.extra == Extra(every_steps=9)
    assert config.with_overrides(["extra=null"]).extra is None


def test_later_override_wins_and_the_original_is_untouched() -> None:
    base = DemoConfig.tiny()
    config = base.with_overrides(["max_steps=4", "max_steps=5"])
    assert config.max_steps == 5 and base.max_steps == 3


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "optimizer.peak_lrr=1",
            r"unknown field 'optimizer.peak_lrr' \(did you mean 'optimizer.peak_lr'\?\)",
        ),
        ("max_step=1", r"unknown field 'max_step' \(did you mean 'max_steps'\?\)"),
        ("sources.5.weight=1", r"'sources' is a list of 2 item\(s\); index it with 0..1"),
        ("max_steps", r"expected KEY=VALUE"),
        ("max_steps=0", r"max_steps: Input should be greater than or equal to 1"),
        ("optimizer.schedule=cosin", r"optimizer.schedule: Input should be 'cosine' or 'linear'"),
        ("max_steps.x=1", r"'max_steps' is a single value"),
    ],
)
def test_bad_override_is_one_line_naming_the_key(override: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as info:
        DemoConfig.tiny().with_overrides([override])
    assert "\n" not in str(info.value)


def test_load_takes_a_preset_name_or_a_yaml_path(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("preset: big\n")
    assert DemoConfig.load("tiny") == DemoConfig.tiny()
    assert DemoConfig.load(path, ["max_steps=2"]).max_steps == 2
    with pytest.raises(
        ConfigError, match=r"neither a YAML file nor a demo config preset \(did you mean 'big'\?\)"
    ):
        DemoConfig.load("bgi")
    with pytest.raises(ConfigError, match="does not exist"):
        DemoConfig.load(tmp_path / "missing.yaml")


def test_invalid_yaml_and_non_mapping_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("optimizer: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        DemoConfig.from_yaml(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping of DemoConfig fields"):
        DemoConfig.from_yaml(listed)


def test_deep_merge_does_not_modify_its_arguments() -> None:
    base: dict[str, Any] = {"model": {"layers": 4, "dim": 128}, "steps": 10}
    merged = deep_merge(base, {"model": {"layers": 2}})
    assert merged == {"model": {"layers": 2, "dim": 128}, "steps": 10}
    assert base["model"]["layers"] == 4


def test_validate_section_gives_the_same_one_line_errors() -> None:
    from lemur_core.config import validate_section

    assert validate_section(Optimizer, {"peak_lr": 1.0}, "resources.x").peak_lr == 1.0
    with pytest.raises(ConfigError) as info:
        validate_section(Optimizer, {"peak_lrr": 1.0}, "resources.x")
    assert str(info.value) == "resources.x: unknown field 'peak_lrr' (did you mean 'peak_lr'?)"
