"""Blocked causal attention: skipping the fully-masked key blocks changes no logit."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from lemur_train import model as model_module
from lemur_train.config import ModelConfig
from lemur_train.hf_format import hf_config_from_model, hf_from_params
from lemur_train.model import build_model
from transformers import LlamaConfig, LlamaForCausalLM

CFG = ModelConfig(
    vocab_size=97,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
)
# 150 rows: two full blocks of 64 and a partial third, so every branch of the split runs.
LENGTH = 150


def _logits(
    monkeypatch: pytest.MonkeyPatch, block: int, tokens: np.ndarray, segments: np.ndarray
) -> tuple[np.ndarray, Any]:
    monkeypatch.setattr(model_module, "ATTENTION_BLOCK", block)
    model = build_model(CFG)
    boxed = model.init(jax.random.key(0), jnp.asarray(tokens), jnp.asarray(segments))["params"]
    params = nn.unbox(boxed)
    logits = jax.jit(model.apply)({"params": params}, jnp.asarray(tokens), jnp.asarray(segments))
    return np.asarray(logits), params


def test_blocked_attention_matches_unblocked_on_packed_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 97, (2, LENGTH)).astype(np.int32)
    # Row 0: documents crossing block edges (40 | 60 | 45) and 5 padding; row 1: one document.
    segments = np.ones((2, LENGTH), np.int32)
    segments[0, 40:100], segments[0, 100:145], segments[0, 145:] = 2, 3, 0
    blocked, _ = _logits(monkeypatch, 64, tokens, segments)
    whole, _ = _logits(monkeypatch, LENGTH, tokens, segments)
    assert np.isfinite(blocked).all()
    np.testing.assert_allclose(blocked, whole, atol=2e-6, rtol=0)


def test_blocked_attention_matches_transformers_past_one_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = np.random.default_rng(1).integers(0, 97, (2, LENGTH)).astype(np.int32)
    ours, params = _logits(monkeypatch, 64, tokens, np.ones_like(tokens))
    hf_cfg = hf_config_from_model(CFG, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    hf = LlamaForCausalLM(LlamaConfig(**{**hf_cfg, "max_position_embeddings": 256})).float().eval()
    state = {k: torch.tensor(np.asarray(v)) for k, v in hf_from_params(params, CFG).items()}
    hf.load_state_dict(state, strict=True)
    with torch.no_grad():
        theirs = hf(torch.tensor(tokens, dtype=torch.long)).logits.numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)
