"""Instruction fine-tuning as a pipeline stage (:class:`lemur_core.protocols.Stage`).

Importing this module loads only the config models; torch and transformers are imported when
``run`` is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lemur_core.config import ConfigError, validate_section
from lemur_core.protocols import Stage
from lemur_core.stage import StageResult
from pydantic import BaseModel, ConfigDict, Field

from lemur_sft.config import SFTConfig


class SFTResources(BaseModel):
    """The hardware ``estimate`` plans for (a recipe's ``resources.sft``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_size: str = Field(default="70b", description="parameter count (7e9) or 7b/13b/70b")
    gpus: int = Field(default=32, ge=1)
    zero_stage: int = Field(default=3, ge=0, le=3)
    offload: bool = False


class SFTStage:
    """Fine-tunes the ``pretrain`` stage's model on the ``instruct`` stage's set into
    ``out/hf`` (an HF model with the ChatML chat template)."""

    name = "sft"
    config_class = SFTConfig
    inputs: tuple[str, ...] = ("instruct", "pretrain")

    def artifact_dir(self, out: Path) -> Path:
        """The exported HF model directory, ``out/hf`` (``out`` holds checkpoints and metrics)."""
        return out / "hf"

    def run(
        self,
        config: SFTConfig,
        inputs: Mapping[str, Path],
        out: Path,
        *,
        force: bool = False,
        verify: bool = False,
    ) -> StageResult:
        """:func:`lemur_sft.finetune` of ``inputs["pretrain"]`` on ``inputs["instruct"]``."""
        from lemur_sft.trainer import finetune

        return finetune(
            config, inputs["instruct"], inputs["pretrain"], out, force=force, verify=verify
        )

    def estimate(self, config: SFTConfig, resources: Mapping[str, Any]) -> dict[str, Any]:
        """Memory per GPU and GPU-hours (:func:`lemur_sft.estimate_sft`) on ``resources``:
        ``model_size``, ``gpus``, ``zero_stage``, ``offload`` (see :class:`SFTResources`)."""
        from lemur_sft.estimate import estimate_sft

        hw = validate_section(SFTResources, resources, f"resources.{self.name}")
        try:
            return dict(
                estimate_sft(config, hw.model_size, hw.gpus, hw.zero_stage, offload=hw.offload)
            )
        except ValueError as exc:  # a model size that does not parse
            raise ConfigError(f"resources.{self.name}: {exc}") from exc


STAGE: Stage[SFTConfig] = SFTStage()
