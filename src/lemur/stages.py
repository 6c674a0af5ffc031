"""The stages of the Lemur pipeline, in order: the one place the list is written.

Each package exports its :class:`lemur_core.protocols.Stage`; the recipe model, ``lemur run``,
``lemur plan`` and the summary iterate this tuple. Importing it loads the config models only
(no JAX, no torch).
"""

from __future__ import annotations

from typing import Any

from lemur_core.protocols import Stage
from lemur_data.corpus import STAGE as CORPUS
from lemur_data.instruct import STAGE as INSTRUCT
from lemur_sft import STAGE as SFT
from lemur_train import STAGE as PRETRAIN

from lemur.eval_stage import EVAL

STAGES: tuple[Stage[Any], ...] = (CORPUS, INSTRUCT, PRETRAIN, SFT, EVAL)
STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)


def stage_needs(stage: Stage[Any], config: Any) -> tuple[str, ...]:
    """The stages whose artifacts ``stage`` reads when run with ``config``."""
    if stage is EVAL:
        return EVAL.inputs_for(config)
    return stage.inputs


__all__ = ["CORPUS", "EVAL", "INSTRUCT", "PRETRAIN", "SFT", "STAGES", "STAGE_NAMES", "stage_needs"]
