"""Lemur instruction fine-tuning: ChatML, assistant-only loss, padding-free packing, Accelerate + DeepSpeed ZeRO.

The stage API: ``finetune(SFTConfig.tiny(), instruct_dir, base_model_dir, out_dir)`` and
``estimate_sft(config, model_size, world_size, zero_stage)``; the pipeline stage
``lemur_sft.STAGE`` (what ``lemur`` runs). Heavy imports (torch,
transformers) happen on first use of ``finetune``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lemur_sft.config import (
    LEMUR_CHAT_EXAMPLES,
    LEMUR_CHAT_MIXTURE,
    DeepSpeedSettings,
    SFTCheckpointConfig,
    SFTConfig,
    SFTOptimizerConfig,
)
from lemur_sft.estimate import estimate_sft
from lemur_sft.launch_check import LaunchError, check_global_batch
from lemur_sft.stage import STAGE

if TYPE_CHECKING:
    from lemur_sft.trainer import finetune

__version__ = "0.1.0"

__all__ = [
    "LEMUR_CHAT_EXAMPLES",
    "LEMUR_CHAT_MIXTURE",
    "STAGE",
    "DeepSpeedSettings",
    "LaunchError",
    "SFTCheckpointConfig",
    "SFTConfig",
    "SFTOptimizerConfig",
    "__version__",
    "check_global_batch",
    "estimate_sft",
    "finetune",
]


def __getattr__(name: str) -> Any:
    if name == "finetune":
        from lemur_sft.trainer import finetune

        return finetune
    raise AttributeError(f"module 'lemur_sft' has no attribute {name!r}")
