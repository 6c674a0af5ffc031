"""Shared fixtures of lemur-train's tests: 8 fake CPU devices, tiny configs, a synthetic corpus."""

from __future__ import annotations

import os

# Must precede the first `import jax` of the process: sharding tests need 8 devices.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()

from pathlib import Path

import pytest
from lemur_train.config import CheckpointConfig, ModelConfig, OptimizerConfig, TrainConfig


def tiny_model(**overrides: object) -> ModelConfig:
    """A 2-layer d=64 GQA Llama: compiles in seconds on CPU."""
    base: dict[str, object] = {
        "vocab_size": 384,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 128,
    }
    base.update(overrides)
    return ModelConfig.model_validate(base)


def tiny_train_config(**overrides: object) -> TrainConfig:
    """A short run of :func:`tiny_model` on one device."""
    base: dict[str, object] = {
        "name": "test",
        "model": tiny_model(vocab_size=None),
        "optimizer": OptimizerConfig(peak_lr=3e-3, warmup_steps=3),
        "checkpoint": CheckpointConfig(every_steps=4, keep_last=2),
        "mesh": {"data": 1, "fsdp": 1, "tensor": 1},
        "global_batch_size": 8,
        "max_steps": 12,
    }
    base.update(overrides)
    return TrainConfig.model_validate(base)


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-shard synthetic corpus (64 rows x 64 tokens, sources code/text) in the published format."""
    from lemur_train.synthetic import write_synthetic_corpus

    return write_synthetic_corpus(tmp_path_factory.mktemp("corpus"), rows=64, seq_len=64, shards=2)


@pytest.fixture
def make_model_config() -> object:
    """The :func:`tiny_model` factory."""
    return tiny_model


@pytest.fixture
def make_train_config() -> object:
    """The :func:`tiny_train_config` factory."""
    return tiny_train_config
