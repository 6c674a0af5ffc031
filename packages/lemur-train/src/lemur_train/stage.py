"""Continued pre-training as a pipeline stage (:class:`lemur_core.protocols.Stage`).

Importing this module loads only the config models; JAX is imported when ``run`` or
``estimate`` is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lemur_core.config import ConfigError, validate_section
from lemur_core.protocols import Stage
from lemur_core.stage import StageResult
from pydantic import BaseModel, ConfigDict, Field

from lemur_train.config import TrainConfig


class PretrainResources(BaseModel):
    """The hardware ``estimate`` plans for (a recipe's ``resources.pretrain``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chip: str | None = Field(default=None, description="None: the config's chip")
    devices: int | None = Field(default=None, ge=1, description="None: the mesh's size")
    mfu: float = Field(default=0.4, gt=0, le=1, description="assumed model FLOPs utilization")


class PretrainStage:
    """Trains on the ``corpus`` stage's artifact and exports an HF model to ``out/hf``."""

    name = "pretrain"
    config_class = TrainConfig
    inputs: tuple[str, ...] = ("corpus",)

    def artifact_dir(self, out: Path) -> Path:
        """The exported HF model directory, ``out/hf`` (``out`` holds checkpoints and metrics)."""
        return out / "hf"

    def run(
        self,
        config: TrainConfig,
        inputs: Mapping[str, Path],
        out: Path,
        *,
        force: bool = False,
        verify: bool = False,
    ) -> StageResult:
        """:func:`lemur_train.train` on ``inputs["corpus"]``, resuming from ``out``'s checkpoints."""
        from lemur_train.trainer import train

        return train(config, inputs["corpus"], out, force=force, verify=verify)

    def estimate(self, config: TrainConfig, resources: Mapping[str, Any]) -> dict[str, Any]:
        """Memory per device and days of the run (:func:`lemur_train.plan`) on ``resources``:
        ``chip``, ``devices``, ``mfu`` (see :class:`PretrainResources`)."""
        from lemur_train.planner import plan

        hw = validate_section(PretrainResources, resources, f"resources.{self.name}")
        try:
            result = plan(config, chip=hw.chip, devices=hw.devices, assumed_mfu=hw.mfu)
        except ValueError as exc:  # an unknown chip
            raise ConfigError(f"resources.{self.name}: {exc}") from exc
        return {"report": result.render(), "days": result.total_days, "fits": result.fits}


STAGE: Stage[TrainConfig] = PretrainStage()
