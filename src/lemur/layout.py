"""Where each stage writes inside a recipe's workdir: ``WORKDIR/<stage name>``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lemur_core.protocols import Stage


@dataclass(frozen=True)
class Layout:
    """The directories of a recipe's workdir."""

    root: Path

    def stage_dir(self, stage: Stage[Any]) -> Path:
        """The output directory of ``stage`` (checkpoints, metrics, its artifact)."""
        return self.root / stage.name

    def artifact(self, stage: Stage[Any]) -> Path:
        """The directory holding ``stage``'s published artifact (its ``manifest.json``)."""
        return stage.artifact_dir(self.stage_dir(stage))
