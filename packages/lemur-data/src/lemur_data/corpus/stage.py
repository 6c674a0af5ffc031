"""The corpus as a pipeline stage (:class:`lemur_core.protocols.Stage`): what ``lemur`` runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lemur_core.config import ConfigError
from lemur_core.protocols import Stage
from lemur_core.stage import StageResult

from lemur_data.corpus.config import CorpusConfig


class CorpusStage:
    """Builds the packed pre-training corpus; needs no other stage."""

    name = "corpus"
    config_class = CorpusConfig
    inputs: tuple[str, ...] = ()

    def artifact_dir(self, out: Path) -> Path:
        """The corpus artifact is the output directory itself."""
        return out

    def run(
        self,
        config: CorpusConfig,
        inputs: Mapping[str, Path],
        out: Path,
        *,
        force: bool = False,
        verify: bool = False,
    ) -> StageResult:
        """:func:`lemur_data.corpus.build_corpus` into ``out``."""
        from lemur_data.corpus.build import build_corpus

        return build_corpus(config, out, force=force, verify=verify)

    def estimate(self, config: CorpusConfig, resources: Mapping[str, Any]) -> dict[str, Any]:
        """Input and output bytes and tokens, CPU-hours (:func:`estimate_corpus`); no resources."""
        from lemur_data.corpus.estimate import estimate_corpus

        if resources:
            raise ConfigError(
                f"resources.{self.name}: this stage takes no resources (got "
                f"{', '.join(resources)}); remove them"
            )
        return dict(estimate_corpus(config))


STAGE: Stage[CorpusConfig] = CorpusStage()
