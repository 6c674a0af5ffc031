"""The planner: exact parameter counts from abstract shapes, memory per device, advice."""

from __future__ import annotations

import json
import resource

import pytest
from lemur_train.cli import app
from lemur_train.config import MeshConfig, TrainConfig
from lemur_train.planner import plan
from typer.testing import CliRunner

LLAMA2_70B_PARAMS = 68_976_648_192  # HF's LlamaForCausalLM for meta-llama/Llama-2-70b-hf


def test_70b_plan_on_a_v4_pod_without_allocating_weights() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fsdp_only = TrainConfig.preset("lemur-70b").model_copy(update={"grad_accum_steps": 4})
    result = plan(fsdp_only, mesh=MeshConfig.parse("fsdp=256"), chip="tpu-v4")
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 1_000_000  # 276 GB of fp32 weights were never materialized
    assert result.parameters == LLAMA2_70B_PARAMS
    # FSDP over 256 chips: fp32 params split 256 ways, except the norm scales (1.3M values)
    # that stay replicated on every chip
    replicated_gib = (2 * 80 + 1) * 8192 * 4 / 2**30
    expected = (LLAMA2_70B_PARAMS * 4 / 2**30 - replicated_gib) / 256 + replicated_gib
    assert abs(result.params_gib - expected) < 1e-6
    assert result.optimizer_gib == 2 * result.params_gib
    assert result.total_days > 1


def test_70b_fits_a_v4_pod_only_with_its_heads_split() -> None:
    # One 4096-token row per chip either way; FSDP alone leaves all 64 heads' 4096^2 float32
    # attention scores (4 GiB an array) on each chip, the preset's tensor=2 halves them.
    four = TrainConfig.preset("lemur-70b").model_copy(update={"grad_accum_steps": 4})
    fsdp_only = plan(four, mesh=MeshConfig.parse("fsdp=256"), chip="tpu-v4")
    assert fsdp_only.rows_per_device_per_microbatch == 1
    assert not fsdp_only.fits and fsdp_only.peak_at == "layer"
    assert any("tensor parallelism" in a for a in fsdp_only.advice)
    preset = plan(TrainConfig.preset("lemur-70b"), devices=256, chip="tpu-v4")
    assert preset.mesh == {"data": 1, "fsdp": 128, "tensor": 2}
    assert preset.rows_per_device_per_microbatch == 1
    assert preset.fits and preset.backward_gib < fsdp_only.backward_gib / 1.8


def test_plan_says_what_to_change_when_it_does_not_fit() -> None:
    tight = TrainConfig.preset("lemur-70b").model_copy(
        update={"grad_accum_steps": 1, "remat": "none"}
    )
    result = plan(tight, mesh=MeshConfig.parse("fsdp=256"), chip="tpu-v4")
    assert not result.fits
    assert any("remat='full'" in a for a in result.advice)
    small = plan(TrainConfig.preset("lemur-70b"), mesh=MeshConfig.parse("fsdp=8"), chip="tpu-v4")
    assert not small.fits and any("raise fsdp" in a for a in small.advice)


def test_cli_prints_the_plan() -> None:
    out = CliRunner().invoke(app, ["plan", "lemur-70b", "--devices", "256", "--chip", "tpu-v4"])
    assert out.exit_code == 0, out.output
    assert "68.977 B" in out.output and "FITS" in out.output and "days" in out.output
    assert "a decoder layer's backward pass" in out.output


def test_tiny_preset_plans_with_stated_assumptions() -> None:
    result = plan(TrainConfig.preset("tiny"), chip="tpu-v4")
    assert result.devices == 1 and result.fits
    assert any("vocab_size assumed" in a for a in result.advice)
    assert any("seq_len assumed" in a for a in result.advice)


def test_plan_flags_a_batch_that_cannot_split_over_the_mesh() -> None:
    odd = TrainConfig.preset("lemur-70b").model_copy(update={"global_batch_size": 1000})
    result = plan(odd, mesh=MeshConfig.parse("fsdp=256"), chip="tpu-v4")
    assert not result.fits
    assert any("will not start" in a and "multiple of 256" in a for a in result.advice)


def test_package_plan_function_works_on_every_call() -> None:
    # The planner module is not called `plan`, so importing it cannot shadow lemur_train.plan.
    import lemur_train

    first = lemur_train.plan(TrainConfig.preset("tiny"), chip="tpu-v4")
    second = lemur_train.plan(TrainConfig.preset("tiny"), chip="tpu-v4")
    assert callable(lemur_train.plan) and first == second


def test_cli_plans_the_tiny_preset_on_its_default_cpu_chip() -> None:
    out = CliRunner().invoke(app, ["plan", "tiny"])
    assert out.exit_code == 0, out.output
    assert "x cpu" in out.output and "chip 'cpu'" in out.output and "FITS" in out.output


def test_cli_plan_of_an_unknown_chip_is_one_line() -> None:
    out = CliRunner().invoke(app, ["plan", "tiny", "--chip", "tpu-v9"])
    assert out.exit_code == 2
    assert out.output.strip().splitlines() == [
        "error: unknown chip 'tpu-v9'; known: cpu, tpu-v4, tpu-v5e, tpu-v5p, a100-80g, h100-80g"
    ]


def _cpu_config(remat: str, *, accum: int = 1, tied: bool = False, **model: int) -> TrainConfig:
    base = {
        "vocab_size": 384,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 128,
        "tie_word_embeddings": tied,
        **model,
    }
    return TrainConfig.model_validate(
        {
            "name": f"cpu-{remat}",
            "model": base,
            "mesh": {"data": 1, "fsdp": 1, "tensor": 1},
            "seq_len": 64 if remat != "dots" else 128,
            "global_batch_size": 8,
            "grad_accum_steps": accum,
            "max_steps": 10,
            "remat": remat,
        }
    )


@pytest.mark.parametrize(
    "config",
    [
        _cpu_config("none"),
        _cpu_config("full"),
        _cpu_config("dots", accum=2, tied=True, hidden_size=128, intermediate_size=256),
    ],
    ids=["no-remat", "full-remat", "dots-remat-accumulation-tied"],
)
def test_memory_inventory_is_within_10_percent_of_xla_memory_analysis(
    config: TrainConfig,
) -> None:
    # The compiled step's own buffer assignment on one CPU device is the reference: the
    # default step, with XLA's plain CPU dot.
    import jax
    from lemur_train.planner import compiled_memory

    xla = compiled_memory(config, config.mesh, jax.devices()[:1])
    assert xla is not None
    planned = plan(config, devices=1, chip="tpu-v4")
    total = planned.total_gib * 2**30
    assert abs(total - xla["peak"]) <= 0.10 * xla["peak"], (total, xla)
    # The state the step reads is counted exactly (XLA's arguments: state and batch).
    state = 3 * planned.params_gib * 2**30 + planned.batch_gib * 2**30  # params + 2 moments
    assert abs(state - xla["argument"]) <= 64


def test_cli_and_api_assume_the_same_sequence_length() -> None:
    from lemur_train.planner import DEFAULT_SEQ_LEN

    api = plan(TrainConfig.preset("tiny"), chip="tpu-v4")
    out = CliRunner().invoke(app, ["plan", "tiny", "--chip", "tpu-v4", "--json"])
    assert out.exit_code == 0, out.output
    cli = json.loads(out.output)
    assert cli["tokens_per_step"] == api.tokens_per_step
    rows = TrainConfig.preset("tiny").global_batch_size
    assert api.tokens_per_step == rows * min(1024, DEFAULT_SEQ_LEN)
