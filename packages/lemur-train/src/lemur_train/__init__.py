"""Lemur continued pre-training of Llama-2 in JAX/Flax: HF-exact model, packing-aware attention,
sharding, exact resume, HF export, and a memory/time planner.

Stage API: ``train(TrainConfig.tiny(), corpus_dir, out_dir)`` and ``plan(config, ...)``; the
pipeline stage ``lemur_train.STAGE`` (what ``lemur`` runs).
Importing this package loads only the config models; JAX is imported when a function runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lemur_train.config import (
    CheckpointConfig,
    DistributedConfig,
    MeshConfig,
    ModelConfig,
    OptimizerConfig,
    TrainConfig,
)
from lemur_train.stage import STAGE

if TYPE_CHECKING:
    from lemur_core.stage import StageResult

    from lemur_train.planner import TrainPlan

__version__ = "0.1.0"


def train(
    config: TrainConfig,
    corpus_dir: Path,
    out_dir: Path,
    *,
    force: bool = False,
    verify: bool = False,
) -> StageResult:
    """Train on a corpus artifact and export ``out_dir/hf`` (see :func:`lemur_train.trainer.train`)."""
    from lemur_train.trainer import train as _train

    return _train(config, corpus_dir, out_dir, force=force, verify=verify)


def plan(config: TrainConfig, **kwargs: Any) -> TrainPlan:
    """Memory per device and run time of ``config`` (see :func:`lemur_train.planner.plan`)."""
    from lemur_train.planner import plan as _plan

    return _plan(config, **kwargs)


__all__ = [
    "STAGE",
    "CheckpointConfig",
    "DistributedConfig",
    "MeshConfig",
    "ModelConfig",
    "OptimizerConfig",
    "TrainConfig",
    "__version__",
    "plan",
    "train",
]
