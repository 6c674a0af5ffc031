"""The instruction-tuning set: converters, English filter, exact and semantic dedup, mixture.

Stage API (used by ``lemur demo``)::

    from lemur_data.instruct import InstructConfig, build_instruct
    manifest = build_instruct(InstructConfig.tiny(), Path("out/instruct"))
"""

from lemur_data.instruct.build import EXAMPLES_NAME, INSTRUCT_SCHEMA_VERSION, build_instruct
from lemur_data.instruct.config import (
    DecontamSpec,
    EmbedderSpec,
    InstructConfig,
    InstructConfigError,
    SemanticDedupSpec,
    SourceFormat,
    SourceSpec,
    StdlibOptions,
    StdlibTask,
    TokenCounterSpec,
)
from lemur_data.instruct.english import EnglishFilter, has_non_english_run
from lemur_data.instruct.estimate import estimate_instruct
from lemur_data.instruct.presets import lemur_chat_v1_config, tiny_config  # registers the presets
from lemur_data.instruct.semantic_dedup import greedy_dedup, semantic_dedup
from lemur_data.instruct.stage import STAGE

__all__ = [
    "EXAMPLES_NAME",
    "INSTRUCT_SCHEMA_VERSION",
    "STAGE",
    "DecontamSpec",
    "EmbedderSpec",
    "EnglishFilter",
    "InstructConfig",
    "InstructConfigError",
    "SemanticDedupSpec",
    "SourceFormat",
    "SourceSpec",
    "StdlibOptions",
    "StdlibTask",
    "TokenCounterSpec",
    "build_instruct",
    "estimate_instruct",
    "greedy_dedup",
    "has_non_english_run",
    "lemur_chat_v1_config",
    "semantic_dedup",
    "tiny_config",
]
