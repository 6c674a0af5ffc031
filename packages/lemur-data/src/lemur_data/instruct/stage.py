"""The instruction set as a pipeline stage (:class:`lemur_core.protocols.Stage`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lemur_core.config import ConfigError
from lemur_core.protocols import Stage
from lemur_core.stage import StageResult

from lemur_data.instruct.config import InstructConfig


class InstructStage:
    """Builds the instruction-tuning set; needs no other stage."""

    name = "instruct"
    config_class = InstructConfig
    inputs: tuple[str, ...] = ()

    def artifact_dir(self, out: Path) -> Path:
        """The instruct artifact is the output directory itself."""
        return out

    def run(
        self,
        config: InstructConfig,
        inputs: Mapping[str, Path],
        out: Path,
        *,
        force: bool = False,
        verify: bool = False,
    ) -> StageResult:
        """:func:`lemur_data.instruct.build_instruct` into ``out``."""
        from lemur_data.instruct.build import build_instruct

        return build_instruct(config, out, force=force, verify=verify)

    def estimate(self, config: InstructConfig, resources: Mapping[str, Any]) -> dict[str, Any]:
        """Expected examples per source, seconds per step, output bytes; no resources."""
        from lemur_data.instruct.estimate import estimate_instruct

        if resources:
            raise ConfigError(
                f"resources.{self.name}: this stage takes no resources (got "
                f"{', '.join(resources)}); remove them"
            )
        return dict(estimate_instruct(config))


STAGE: Stage[InstructConfig] = InstructStage()
