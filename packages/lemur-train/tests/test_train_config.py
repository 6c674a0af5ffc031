"""Configs: YAML round trip, presets, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from lemur_train.config import MeshConfig, ModelConfig, TrainConfig
from pydantic import ValidationError


@pytest.mark.parametrize("name", ["tiny", "lemur-70b"])
def test_presets_round_trip_through_yaml(tmp_path: Path, name: str) -> None:
    config = TrainConfig.preset(name)
    (tmp_path / "c.yaml").write_text(config.to_yaml())
    assert TrainConfig.from_yaml(tmp_path / "c.yaml") == config


def test_lemur_70b_preset_is_the_paper_recipe() -> None:
    c = TrainConfig.preset("lemur-70b")
    assert c.tokens_per_step == 1024 * 4096
    assert 21_000 < c.steps < 22_000 and c.steps * c.tokens_per_step >= 90e9
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
    (tmp_path / "c.yaml").write_text("preset: tiny\nsteps: 7\nmodel:\n  num_hidden_layers: 2\n")
    c = TrainConfig.from_yaml(tmp_path / "c.yaml")
    assert (c.steps, c.model.num_hidden_layers, c.model.hidden_size) == (7, 2, 128)


def test_invalid_values_name_the_field() -> None:
    with pytest.raises(ValidationError, match="num_key_value_heads"):
        ModelConfig(
            hidden_size=64,
            intermediate_size=8,
            num_hidden_layers=1,
            num_attention_heads=4,
            num_key_value_heads=3,
        )
    with pytest.raises(ValidationError, match="microbatches"):
        TrainConfig.tiny(global_batch_rows=8, microbatches=3)
    with pytest.raises(ValidationError, match="stepz"):
        TrainConfig.tiny(stepz=3)
    with pytest.raises(ValueError, match="unknown preset 'lemur-7b'"):
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
            "global_batch_rows": 6,
            "microbatches": 1,
            "mesh": MeshConfig.parse("data=2,fsdp=2"),
        }
    )
    with pytest.raises(
        ValueError, match=r"6 rows .* data x fsdp = 2 x 2 = 4 .* global_batch_rows=8"
    ):
        cfg.check_mesh_fit(4)
    assert cfg.model_copy(update={"global_batch_rows": 8}).check_mesh_fit(4) == (2, 2, 1)
    # microbatches split the rows first: 16 rows in 4 micro-batches of 4 fit data x fsdp = 4.
    assert cfg.model_copy(update={"global_batch_rows": 16, "microbatches": 4}).check_mesh_fit(4)
