"""HF parity: logits match Transformers' LlamaForCausalLM; conversion round trips are exact."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from lemur_train.hf_format import hf_from_params, load_hf, params_from_hf
from lemur_train.model import build_model
from lemur_train.safetensors_io import read_hf_weights
from lemur_train.weights import hf_to_lemur, lemur_to_hf, load_weights
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM


def _hf_logits(model: LlamaForCausalLM, tokens: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor(tokens)).logits.float().numpy()


def _lemur_logits(hf_dir: Path, tokens: np.ndarray) -> np.ndarray:
    cfg, params = load_hf(hf_dir)
    return np.asarray(build_model(cfg).apply({"params": params}, jnp.asarray(tokens)))


@pytest.mark.parametrize(
    ("heads", "kv_heads", "tied"),
    [(4, 4, False), (4, 2, False), (6, 2, True)],
    ids=["mha-untied", "gqa-untied", "gqa-tied"],
)
def test_logits_match_transformers_on_random_configs(
    tmp_path: Path, heads: int, kv_heads: int, tied: bool
) -> None:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=101,
        hidden_size=48,
        intermediate_size=80,
        num_hidden_layers=2,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=64,
        rope_theta=5000.0,
        tie_word_embeddings=tied,
    )
    model = LlamaForCausalLM(config).float().eval()
    # Random init leaves norms at 1; perturb them so a swapped norm cannot hide.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(tmp_path)
    tokens = np.random.default_rng(0).integers(0, 101, (2, 24))
    np.testing.assert_allclose(
        _lemur_logits(tmp_path, tokens), _hf_logits(model, tokens), atol=1e-4, rtol=0
    )


def test_hf_to_lemur_to_hf_gives_identical_tensors(tmp_path: Path) -> None:
    torch.manual_seed(1)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path / "hf")
    hf_to_lemur(tmp_path / "hf", tmp_path / "lemur")
    lemur_to_hf(tmp_path / "lemur", tmp_path / "back")
    before, after = read_hf_weights(tmp_path / "hf"), read_hf_weights(tmp_path / "back")
    assert sorted(before) == sorted(after)
    for name in before:
        assert before[name].dtype == after[name].dtype
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "back")
    assert reloaded.config.num_key_value_heads == 2


@pytest.fixture(scope="module")
def smollm2_dir() -> Path:
    from lemur_core.assets import smollm2_hf_dir

    return smollm2_hf_dir()


def test_smollm2_logits_match_transformers(smollm2_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    text = "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1)"
    tokens = np.asarray([tokenizer(text)["input_ids"]])
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32).eval()
    assert model.config.tie_word_embeddings  # the tied path is what this test covers
    ours, ref = _lemur_logits(smollm2_dir, tokens), _hf_logits(model, tokens)
    # 30 layers, logits up to ~25: fp32 roundoff alone moves Transformers' own logits by
    # 6.4e-5 from its float64 run (measured), and ours differ from it by at most 1.4e-4, mean
    # 1.3e-5 — the same order. The random configs above hold the strict 1e-4.
    np.testing.assert_allclose(ours, ref, atol=2e-4, rtol=0)
    assert np.abs(ours - ref).mean() < 2e-5
    assert (ours.argmax(-1) == ref.argmax(-1)).all()


def test_smollm2_round_trip_gives_identical_tensors(smollm2_dir: Path) -> None:
    cfg, params = load_hf(smollm2_dir)
    original = read_hf_weights(smollm2_dir)
    back = hf_from_params(params, cfg)
    assert sorted(back) == sorted(original)
    for name, array in original.items():
        np.testing.assert_array_equal(back[name], array, err_msg=name)


def test_exported_directory_loads_with_auto_classes_and_includes_tokenizer(
    tmp_path: Path, corpus_dir: Path, make_model_config: object
) -> None:
    import jax

    cfg = make_model_config(tie_word_embeddings=False)  # type: ignore[operator]
    params = build_model(cfg).init(jax.random.PRNGKey(3), jnp.zeros((1, 4), jnp.int32))["params"]
    import flax.linen as nn
    from lemur_train.weights import save_params_checkpoint

    save_params_checkpoint(nn.unbox(params), cfg, tmp_path / "ckpt")
    lemur_to_hf(tmp_path / "ckpt", tmp_path / "hf", tokenizer_dir=corpus_dir / "tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    tokens = np.asarray([tokenizer("def sum_alpha(alpha):\n    return 0")["input_ids"]])
    assert tokenizer.eos_token == "<|endoftext|>"
    _, reloaded = load_weights(tmp_path / "ckpt")
    ours = np.asarray(build_model(cfg).apply({"params": reloaded}, jnp.asarray(tokens)))
    np.testing.assert_allclose(ours, _hf_logits(model, tokens), atol=1e-4, rtol=0)


def test_unsupported_hf_features_are_refused_by_name(tmp_path: Path) -> None:
    from lemur_train.hf_format import model_config_from_hf

    base = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=1,
        num_attention_heads=4,
    ).to_dict()
    with pytest.raises(ValueError, match="rope_type='llama3'"):
        model_config_from_hf(
            {**base, "rope_parameters": {"rope_type": "llama3", "rope_theta": 1.0}}
        )
    with pytest.raises(ValueError, match="attention_bias"):
        model_config_from_hf({**base, "attention_bias": True})
    cfg = model_config_from_hf(base)
    with pytest.raises(ValueError, match="shape"):
        params_from_hf({"model.embed_tokens.weight": np.zeros((3, 3), np.float32)}, cfg)
