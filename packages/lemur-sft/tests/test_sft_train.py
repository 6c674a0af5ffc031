"""The training job end to end: export that generates, reuse, loss normalization, kill and resume."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from lemur_core import StaleArtifactError, read_manifest
from lemur_core.stage import StageStatus
from lemur_sft import SFTCheckpointConfig, SFTConfig, SFTOptimizerConfig, finetune
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer


def _cfg(**overrides: Any) -> SFTConfig:
    base: dict[str, Any] = dict(
        name="test",
        epochs=2,
        max_steps=8,
        global_batch_size=8,
        micro_batch_size=2,
        grad_accum_steps=4,
        seq_len=256,
        optimizer=SFTOptimizerConfig(peak_lr=3e-3, warmup_ratio=0.125),
        checkpoint=SFTCheckpointConfig(every_steps=2),
        torch_threads=1,
    )
    return SFTConfig(**(base | overrides))


# A run that dies like a preempted job (SIGKILL, no cleanup at all) right after step N: the fault
# is injected by a hook this test installs, not by anything in the trainer.
_KILLING_RUNNER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from lemur_sft import SFTConfig, finetune

    class KillAfter:
        def __init__(self, step):
            self.step = step

        def on_step(self, info):
            if info.step == self.step:
                os.kill(os.getpid(), signal.SIGKILL)

    if __name__ == "__main__":
        config = SFTConfig.from_yaml(sys.argv[1])
        paths = [Path(p) for p in sys.argv[2:5]]
        finetune(config, *paths, hooks=[KillAfter(int(sys.argv[5]))])
    """
)


def _metrics(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory, toy_instruct: Path, toy_base_model: Path
) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    finetune(_cfg(), toy_instruct, toy_base_model, out)
    return out


def test_export_is_a_chat_model_transformers_generates_from(reference: Path) -> None:
    hf = reference / "hf"
    manifest = read_manifest(hf, kind="model")
    assert manifest.stats["steps"] == 8 and manifest.stats["chatml_tokens_added"] == [
        "<|im_start|>",
        "<|im_end|>",
    ]
    tok = AutoTokenizer.from_pretrained(hf)
    model = AutoModelForCausalLM.from_pretrained(hf)
    assert tok.chat_template is not None and "<|im_start|>" in tok.chat_template
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2 plus 3?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
    assert model.generation_config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    losses = [m["loss"] for m in _metrics(reference)]
    assert len(losses) == 8 and losses[-1] < losses[0]


def test_a_finished_run_is_reused_and_another_config_is_refused(
    reference: Path, toy_instruct: Path, toy_base_model: Path
) -> None:
    before = (reference / "hf" / "model.safetensors").stat().st_mtime_ns
    assert finetune(_cfg(), toy_instruct, toy_base_model, reference).reused
    assert (reference / "hf" / "model.safetensors").stat().st_mtime_ns == before
    with pytest.raises(StaleArtifactError, match="peak_lr"):
        finetune(
            _cfg(optimizer=SFTOptimizerConfig(peak_lr=1e-3, warmup_ratio=0.125)),
            toy_instruct,
            toy_base_model,
            reference,
        )


def test_loss_is_normalized_over_the_global_batch_whatever_the_accumulation(
    tmp_path: Path, toy_instruct: Path, toy_base_model: Path
) -> None:
    # Same global batches: 8 micro-batches of 1 vs 1 of 8. Per-micro-batch averaging would weight
    # short and long examples differently and change the curve.
    a = tmp_path / "accum8"
    b = tmp_path / "accum1"
    finetune(
        _cfg(max_steps=3, micro_batch_size=1, grad_accum_steps=8), toy_instruct, toy_base_model, a
    )
    finetune(
        _cfg(max_steps=3, micro_batch_size=8, grad_accum_steps=1), toy_instruct, toy_base_model, b
    )
    for x, y in zip(_metrics(a), _metrics(b), strict=True):
        assert x["target_tokens"] == y["target_tokens"]
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-5)
        assert x["grad_norm"] == pytest.approx(y["grad_norm"], rel=1e-4)


def test_gradient_checkpointing_changes_memory_not_results(
    tmp_path: Path, toy_instruct: Path, toy_base_model: Path
) -> None:
    a, b = tmp_path / "plain", tmp_path / "recompute"
    finetune(_cfg(max_steps=2), toy_instruct, toy_base_model, a)
    finetune(_cfg(max_steps=2, gradient_checkpointing=True), toy_instruct, toy_base_model, b)
    for x, y in zip(_metrics(a), _metrics(b), strict=True):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-6)
        assert x["grad_norm"] == pytest.approx(y["grad_norm"], rel=1e-5)


def test_resume_after_sigkill_mid_epoch_is_identical_to_an_uninterrupted_run(
    tmp_path: Path, reference: Path, toy_instruct: Path, toy_base_model: Path
) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text(_cfg().to_yaml())
    runner = tmp_path / "runner.py"
    runner.write_text(_KILLING_RUNNER)
    out = tmp_path / "run"
    cmd = [sys.executable, str(runner), str(config), str(toy_instruct), str(toy_base_model)]
    # Killed after step 5 (checkpoints every 2 steps): steps 5 is lost and must be replayed.
    killed = subprocess.run([*cmd, str(out), "5"], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (out / "hf").exists()
    assert [m["step"] for m in _metrics(out)] == [1, 2, 3, 4, 5]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "step_00000002",
        "step_00000004",
    ]
    # The resumed run (in this process) continues at step 4 with the same data order.
    result = finetune(_cfg(), toy_instruct, toy_base_model, out)
    assert result.status is StageStatus.RESUMED  # the dead run's lock was taken over
    assert result.manifest.stats["resumed_from_step"] == 4
    strip = ("tokens_per_s", "step_s")
    got = [{k: v for k, v in m.items() if k not in strip} for m in _metrics(out)]
    want = [{k: v for k, v in m.items() if k not in strip} for m in _metrics(reference)]
    assert got == want
    resumed = load_file(out / "hf" / "model.safetensors")
    uninterrupted = load_file(reference / "hf" / "model.safetensors")
    assert resumed.keys() == uninterrupted.keys()
    for key in resumed:
        assert torch.equal(resumed[key], uninterrupted[key]), key
