"""The stage API: train() on a corpus artifact gives falling loss, metrics, and an HF model."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lemur_core.atomic import file_sha256
from lemur_core.manifest import StaleArtifactError, read_manifest
from lemur_core.stage import StageStatus
from lemur_train import TrainConfig, train
from lemur_train.metrics import read_metrics


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("run")
    config = TrainConfig.model_validate(
        {
            "name": "test",
            "model": {
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
            },
            "optimizer": {"peak_lr": 3e-3, "warmup_steps": 3},
            "checkpoint": {"every_steps": 6},
            "mesh": {"data": 2, "fsdp": 2, "tensor": 2},
            "global_batch_size": 8,
            "max_steps": 12,
            # the reduced-precision options, in a real sharded run (exactness of remat "full"
            # is in test_train_step; export is from the float32 master weights)
            "compute_dtype": "bfloat16",
            "remat": "dots",
        }
    )
    result = train(config, corpus_dir, out)
    assert not result.reused
    return out, result.manifest


def test_training_writes_falling_loss_and_per_source_metrics(trained: tuple[Path, Any]) -> None:
    out, _ = trained
    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(1, 13))
    losses = [r["loss"] for r in records]
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 1.0
    last = records[-1]
    assert set(last["loss_per_source"]) <= {"code", "text"} and last["loss_per_source"]
    assert last["tokens_per_s"] > 0 and last["mfu"] > 0 and last["grad_norm"] > 0
    assert records[0]["lr"] < records[2]["lr"]  # warm-up


def test_export_is_an_hf_model_with_matching_logits_and_tokenizer(
    trained: tuple[Path, Any], corpus_dir: Path
) -> None:
    import jax.numpy as jnp
    import torch
    from lemur_train.model import build_model
    from lemur_train.weights import load_weights
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, manifest = trained
    assert manifest.kind == "model"
    assert read_manifest(out / "hf", kind="model") == manifest
    tokenizer = AutoTokenizer.from_pretrained(out / "hf")
    model = AutoModelForCausalLM.from_pretrained(out / "hf").eval()
    ids = tokenizer("def sum_beta(beta):\n    total = 0")["input_ids"]
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits.numpy()
    cfg, params = load_weights(out)
    ours = np.asarray(build_model(cfg).apply({"params": params}, jnp.asarray([ids])))
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=0)
    assert model.config.eos_token_id == tokenizer.eos_token_id


def test_rerun_with_same_config_is_skipped_and_other_config_is_refused(
    trained: tuple[Path, Any], corpus_dir: Path
) -> None:
    out, manifest = trained
    config = TrainConfig.model_validate_json((out / "run_config.json").read_text())
    again = train(config, corpus_dir, out)  # same config and corpus: no work
    assert again.reused and again.manifest == manifest
    with pytest.raises(StaleArtifactError, match="max_steps"):
        train(config.model_copy(update={"max_steps": 13}), corpus_dir, out)


def test_a_damaged_export_is_caught_and_re_exported_from_the_last_checkpoint(
    trained: tuple[Path, Any], corpus_dir: Path, tmp_path: Path
) -> None:
    out, manifest = trained
    run = tmp_path / "run"
    shutil.copytree(out, run)
    config = TrainConfig.model_validate_json((run / "run_config.json").read_text())
    weights = run / "hf" / "model.safetensors"
    original = file_sha256(weights)
    listed = {f.path: f for f in manifest.files}
    assert "model.safetensors" in listed, sorted(listed)
    assert listed["model.safetensors"].sha256 == original
    # Same size, other bytes: only a verifying reuse (sha256) can tell.
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert train(config, corpus_dir, run).reused
    verified = train(config, corpus_dir, run, verify=True)
    assert verified.status is StageStatus.RESUMED  # from the run's final checkpoint
    assert file_sha256(weights) == original
    # A truncated file is caught by its size on every reuse.
    with weights.open("r+b") as handle:
        handle.truncate(100)
    assert not train(config, corpus_dir, run).reused
    assert file_sha256(weights) == original


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(
    trained: tuple[Path, Any], corpus_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out, _ = trained
    run = tmp_path / "run"
    shutil.copytree(out, run)
    config = TrainConfig.model_validate_json((run / "run_config.json").read_text())
    original = file_sha256(run / "hf" / "model.safetensors")
    steps = sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())
    assert steps[-2:] == [6, 12], steps
    # Damage every array file of the newest checkpoint, and drop the export so train() resumes.
    for f in (run / "checkpoints" / "12").rglob("*"):
        if f.is_file() and "state" in f.parts and f.stat().st_size > 64:
            f.write_bytes(b"\0" * 64)
    shutil.rmtree(run / "hf")
    (run / "manifest.json").unlink(missing_ok=True)  # the manifest lives in hf/
    with caplog.at_level("WARNING", logger="lemur_train"):
        result = train(config, corpus_dir, run)
    assert result.status is StageStatus.RESUMED
    assert "cannot restore checkpoint step 12" in caplog.text, caplog.text
    assert "--force" in caplog.text and "trying the previous checkpoint" in caplog.text
    # Resume is exact, so the six steps re-played from checkpoint 6 give the same weights.
    assert file_sha256(run / "hf" / "model.safetensors") == original


def _layout_on(mesh_text: str, out: Path) -> Any:
    from lemur_train.config import MeshConfig
    from lemur_train.model import build_model
    from lemur_train.optim import make_optimizer
    from lemur_train.sharding import make_mesh
    from lemur_train.train_state import state_layout
    from lemur_train.weights import read_model_config

    run = TrainConfig.model_validate_json((out / "run_config.json").read_text())
    model = build_model(read_model_config(out))
    mesh = make_mesh(MeshConfig.parse(mesh_text))
    return state_layout(model, make_optimizer(run.optimizer, run.max_steps), mesh)


def test_a_run_directory_as_init_from_is_restored_into_shards_without_a_host_copy(
    trained: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import jax
    from lemur_train import weights

    out, _ = trained
    _, whole = weights.load_weights(out)  # the reference: the whole checkpoint on the host
    # Another mesh than the run's own (data=2, fsdp=2, tensor=2): the restore reshards.
    layout = _layout_on("fsdp=4,tensor=2", out)

    def host_copy(*args: object, **kwargs: object) -> None:
        raise AssertionError("the run's checkpoint was read whole on the host")

    monkeypatch.setattr(weights, "load_weights", host_copy)
    monkeypatch.setattr(weights, "_to_numpy", host_copy)
    got = weights.load_sharded_params(out, layout.abstract.params, layout.param_shardings)
    leaves = jax.tree.leaves(got)
    assert len(leaves) == len(jax.tree.leaves(whole))
    for leaf, ref, want in zip(
        leaves, jax.tree.leaves(whole), jax.tree.leaves(layout.param_shardings), strict=True
    ):
        assert leaf.sharding == want
        np.testing.assert_array_equal(np.asarray(leaf), ref)
    # The sharded leaves arrive split: a device holds its slice, not the tensor.
    assert any(s.data.shape != leaf.shape for leaf in leaves for s in leaf.addressable_shards)


def test_a_run_directory_of_another_shape_is_refused_naming_the_parameter(
    trained: tuple[Path, Any],
) -> None:
    import jax
    from lemur_train.weights import load_sharded_params

    out, _ = trained
    layout = _layout_on("fsdp=8", out)
    abstract = jax.tree.map(lambda x: x, layout.abstract.params)
    table = abstract["embed_tokens"]["embedding"]
    abstract["embed_tokens"]["embedding"] = jax.ShapeDtypeStruct(
        (table.shape[0] + 8, table.shape[1]), table.dtype
    )
    with pytest.raises(ValueError, match=r"\['embed_tokens'\]\['embedding'\] has shape"):
        load_sharded_params(out, abstract, layout.param_shardings)
