"""Configs, presets, the launch check, DeepSpeed config resolution and the memory estimate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from lemur_core.config import ConfigError
from lemur_sft import (
    LEMUR_CHAT_EXAMPLES,
    LEMUR_CHAT_MIXTURE,
    LaunchError,
    SFTConfig,
    check_global_batch,
    estimate_sft,
)
from lemur_sft.deepspeed_config import (
    SHIPPED,
    load_deepspeed_config,
    resolve_deepspeed_config,
    zero_stage,
)


def test_lemur_chat_preset_is_the_papers_recipe() -> None:
    cfg = SFTConfig.preset("lemur-chat")
    assert (cfg.epochs, cfg.optimizer.peak_lr, cfg.global_batch_size) == (2, 2e-5, 128)
    assert cfg.mixture == LEMUR_CHAT_MIXTURE
    assert set(LEMUR_CHAT_MIXTURE) == {
        "oasst1",
        "openorca-gpt4",
        "sharegpt",
        "chatlogs",
        "evol-codealpaca",
    }
    assert LEMUR_CHAT_EXAMPLES == 367_817
    check_global_batch(cfg, 32)  # 2 x 2 x 32 = 128


def test_yaml_round_trips_and_presets_can_be_overridden(tmp_path: Path) -> None:
    for cfg in (SFTConfig.tiny(), SFTConfig.preset("lemur-chat")):
        path = tmp_path / f"{cfg.name}.yaml"
        path.write_text(cfg.to_yaml())
        assert SFTConfig.from_yaml(path) == cfg
    path = tmp_path / "over.yaml"
    path.write_text("preset: lemur-chat\ngrad_accum_steps: 2\n")
    assert SFTConfig.from_yaml(path).grad_accum_steps == 2


def test_bad_configs_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("optimizer:\n  peak_lrr: 0.1\n")
    with pytest.raises(
        ConfigError, match=r"unknown field 'optimizer.peak_lrr' \(did you mean 'peak_lr'\?\)"
    ):
        SFTConfig.from_yaml(path)
    path.write_text("learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"'learning_rate' was renamed to 'optimizer\.peak_lr'"):
        SFTConfig.from_yaml(path)
    with pytest.raises(ValueError, match="did you mean 'lemur-chat'"):
        SFTConfig.preset("lemur_chat")
    with pytest.raises(ValueError, match="change grad_accum_steps or micro_batch_size"):
        SFTConfig(global_batch_size=128, micro_batch_size=3, grad_accum_steps=4)
    with pytest.raises(ValueError, match=r"mixture\['x'\]"):
        SFTConfig(mixture={"x": 0})


def test_launch_check_says_which_number_to_change() -> None:
    cfg = SFTConfig.preset("lemur-chat")  # 2 x 2 = 4 per rank
    with pytest.raises(LaunchError, match="set grad_accum_steps to 8 or launch 32 processes"):
        check_global_batch(cfg, 8)
    with pytest.raises(LaunchError, match="set grad_accum_steps to 1"):
        check_global_batch(cfg, 64)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_zero_configs_resolve_against_the_sft_config(name: str) -> None:
    cfg = SFTConfig.preset("lemur-chat")
    resolved = resolve_deepspeed_config(load_deepspeed_config(name), cfg, world_size=32)
    assert resolved["train_batch_size"] == 128
    assert resolved["train_micro_batch_size_per_gpu"] == 2
    assert resolved["gradient_accumulation_steps"] == 2
    assert resolved["bf16"]["enabled"] is True
    assert zero_stage(resolved) == (2 if name == "zero2" else 3)
    assert "auto" not in str(resolved)


def test_a_deepspeed_config_contradicting_the_sft_config_is_refused() -> None:
    raw = load_deepspeed_config("zero2") | {"train_micro_batch_size_per_gpu": 16}
    with pytest.raises(
        ValueError, match="train_micro_batch_size_per_gpu=16 but the SFT config implies 2"
    ):
        resolve_deepspeed_config(raw, SFTConfig.preset("lemur-chat"), 32)
    with pytest.raises(ValueError, match="remove 'optimizer'"):
        resolve_deepspeed_config({"optimizer": {}}, SFTConfig.preset("lemur-chat"), 32)


def test_memory_estimate_follows_zero_sharding() -> None:
    cfg = SFTConfig.preset("lemur-chat")
    by_stage = [estimate_sft(cfg, "70b", 8, s)["memory_per_gpu_gib"] for s in (0, 1, 2, 3)]
    assert by_stage == sorted(by_stage, reverse=True)
    z3 = estimate_sft(cfg, "70b", 8, 3)
    # ZeRO paper: (2 + 2 + 12) bytes/param / N for stage 3.
    assert z3["weights_gib"] + z3["gradients_gib"] + z3["optimizer_gib"] == pytest.approx(
        16 * 69e9 / 8 / 1024**3
    )
    assert not z3["fits_80gb"] and estimate_sft(cfg, "70b", 32, 3)["fits_80gb"]
    assert estimate_sft(cfg, "7b", 8, 3, offload=True)["optimizer_gib"] == 0.0
    assert z3["optimizer_steps"] == 367_817 // 128 * 2


def test_cli_show_config_applies_dotted_overrides() -> None:
    from lemur_sft.cli import app
    from typer.testing import CliRunner

    out = CliRunner().invoke(app, ["show-config", "tiny", "--set", "optimizer.peak_lr=5e-4"])
    assert out.exit_code == 0, out.output
    shown = SFTConfig.model_validate(yaml.safe_load(out.output))
    assert shown == SFTConfig.tiny().with_overrides(["optimizer.peak_lr=5e-4"])
    assert shown.optimizer.peak_lr == 5e-4


def test_cli_bad_override_is_one_line_and_exit_2() -> None:
    from lemur_sft.cli import app
    from typer.testing import CliRunner

    out = CliRunner().invoke(app, ["show-config", "tiny", "--set", "seq_lenn=3"])
    assert out.exit_code == 2
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and "unknown field 'seq_lenn' (did you mean 'seq_len'?)" in lines[0]


def test_train_and_sft_share_the_names_of_shared_concepts() -> None:
    from lemur_train import TrainConfig

    shared = {"max_steps", "global_batch_size", "grad_accum_steps", "seq_len", "optimizer"}
    shared |= {"log_every_steps", "checkpoint", "compute_dtype", "seed", "name"}
    assert shared <= set(SFTConfig.model_fields) & set(TrainConfig.model_fields)
    train_opt = set(TrainConfig.model_fields["optimizer"].annotation.model_fields)  # type: ignore[union-attr]
    sft_opt = set(SFTConfig.model_fields["optimizer"].annotation.model_fields)  # type: ignore[union-attr]
    assert {
        "peak_lr",
        "beta1",
        "beta2",
        "eps",
        "weight_decay",
        "grad_clip_norm",
        "min_lr_ratio",
    } <= (train_opt & sft_opt)
