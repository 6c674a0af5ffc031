"""Configs: YAML round trip, presets, and errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from lemur_core.config import ConfigError
from lemur_train.cli import app
from lemur_train.config import MeshConfig, ModelConfig, TrainConfig
from pydantic import ValidationError
from typer.testing import CliRunner


@pytest.mark.parametrize("name", ["tiny", "lemur-70b"])
def test_presets_round_trip_through_yaml(tmp_path: Path, name: str) -> None:
    config = TrainConfig.preset(name)
    (tmp_path / "c.yaml").write_text(config.to_yaml())
    assert TrainConfig.from_yaml(tmp_path / "c.yaml") == config


def test_lemur_70b_preset_is_the_paper_recipe() -> None:
    c = TrainConfig.preset("lemur-70b")
    assert c.tokens_per_step == 1024 * 4096
    assert 21_000 < c.max_steps < 22_000 and c.max_steps * c.tokens_per_step >= 90e9
    o = c.optimizer
    assert (o.peak_lr, o.beta1, o.beta2, o.grad_clip_norm, o.warmup_steps, o.min_lr_ratio) == (
        4e-5,
        0.9,
        0.95,
        1.0,
        2000,
        0.1,
    )
    m = c.model
    assert (m.num_hidden_layers, m.hidden_size, m.num_key_value_heads, m.tie_word_embeddings) == (
        80,
        8192,
        8,
        False,
    )


def test_yaml_preset_with_overrides(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("preset: tiny\nmax_steps: 7\nmodel:\n  num_hidden_layers: 2\n")
    c = TrainConfig.from_yaml(tmp_path / "c.yaml")
    assert (c.max_steps, c.model.num_hidden_layers, c.model.hidden_size) == (7, 2, 128)


def test_invalid_values_name_the_field() -> None:
    with pytest.raises(ValidationError, match="num_key_value_heads"):
        ModelConfig(
            hidden_size=64,
            intermediate_size=8,
            num_hidden_layers=1,
            num_attention_heads=4,
            num_key_value_heads=3,
        )
    with pytest.raises(ValidationError, match="grad_accum_steps"):
        TrainConfig.model_validate({**TrainConfig.tiny().model_dump(), "grad_accum_steps": 3})
    with pytest.raises(
        ConfigError, match=r"unknown field 'max_stepz' \(did you mean 'max_steps'\?\)"
    ):
        TrainConfig.from_mapping({"preset": "tiny", "max_stepz": 3})
    with pytest.raises(
        ConfigError, match=r"unknown train config preset 'lemur-7b' \(did you mean 'lemur-70b'\?\)"
    ):
        TrainConfig.preset("lemur-7b")


def test_mesh_resolution() -> None:
    assert MeshConfig.parse("fsdp=4").resolve(4) == (1, 4, 1)
    assert MeshConfig(data=-1, tensor=2).resolve(8) == (4, 1, 2)
    with pytest.raises(ValueError, match="has 4 devices but 8"):
        MeshConfig.parse("fsdp=4").resolve(8)
    with pytest.raises(ValueError, match="bad mesh entry"):
        MeshConfig.parse("model=2")


def test_batch_that_cannot_split_over_the_mesh_names_the_fix() -> None:
    cfg = TrainConfig.preset("tiny").model_copy(
        update={
            "global_batch_size": 6,
            "grad_accum_steps": 1,
            "mesh": MeshConfig.parse("data=2,fsdp=2"),
        }
    )
    with pytest.raises(
        ValueError, match=r"6 rows .* data x fsdp = 2 x 2 = 4 .* global_batch_size=8"
    ):
        cfg.check_mesh_fit(4)
    assert cfg.model_copy(update={"global_batch_size": 8}).check_mesh_fit(4) == (2, 2, 1)
    # grad_accum_steps split the rows first: 16 rows in 4 micro-batches of 4 fit data x fsdp = 4.
    assert cfg.model_copy(update={"global_batch_size": 16, "grad_accum_steps": 4}).check_mesh_fit(4)


def test_cli_show_config_prints_the_full_preset_with_overrides() -> None:
    out = CliRunner().invoke(
        app, ["show-config", "tiny", "--set", "max_steps=3", "--set", "optimizer.peak_lr=1e-4"]
    )
    assert out.exit_code == 0, out.output
    shown = yaml.safe_load(out.output)
    expected = TrainConfig.tiny().with_overrides(["max_steps=3", "optimizer.peak_lr=1e-4"])
    assert TrainConfig.model_validate(shown) == expected
    assert shown["max_steps"] == 3 and shown["optimizer"]["peak_lr"] == 1e-4


def test_cli_old_field_name_is_one_line_naming_the_new_one(tmp_path: Path) -> None:
    out = CliRunner().invoke(
        app,
        [
            "run",
            "tiny",
            "--corpus",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            "--set",
            "steps=3",
        ],
    )
    assert out.exit_code == 2
    assert out.output.strip() == (
        "error: --set steps: 'steps' was renamed to 'max_steps'; use 'max_steps' instead"
    )


def test_resolve_config_reads_only_the_init_checkpoints_config_json(
    tmp_path: Path, corpus_dir: Path
) -> None:
    # An HF directory with config.json and no weights: reading the architecture must not need
    # them (the weights are loaded once, when the state is initialized).
    from lemur_train.data import PackedCorpus
    from lemur_train.hf_format import hf_config_from_model
    from lemur_train.trainer import resolve_config

    corpus = PackedCorpus(corpus_dir)
    arch = TrainConfig.tiny().model.model_copy(update={"vocab_size": corpus.spec.vocab_size})
    (tmp_path / "config.json").write_text(
        json.dumps(
            hf_config_from_model(arch, bos_token_id=None, eos_token_id=None, pad_token_id=None)
        )
    )
    config = TrainConfig.tiny().model_copy(update={"init_from": str(tmp_path)})
    resolved = resolve_config(config, corpus)
    assert resolved.model.hidden_size == arch.hidden_size
    assert resolved.model.vocab_size == corpus.spec.vocab_size
