"""The code-intensive pre-training corpus: sources, filters, dedup, decontamination, mixing, packing.

Stage API (what ``lemur demo`` calls)::

    from lemur_data.corpus import CorpusConfig, build_corpus
    manifest = build_corpus(CorpusConfig.tiny(), Path("out/corpus"), workers=2)
"""

from lemur_data.corpus.build import build_corpus, corpus_stages, default_work_dir
from lemur_data.corpus.config import (
    CorpusConfig,
    CorpusConfigError,
    DecontamConfig,
    DedupConfig,
    ExecutorConfig,
    MixConfig,
    PackConfig,
    SourceConfig,
    TokenizerConfig,
)
from lemur_data.corpus.estimate import estimate_corpus
from lemur_data.corpus.mixer import MixError
from lemur_data.corpus.presets import lemur_v1_config, tiny_config  # registers the presets
from lemur_data.corpus.stage import STAGE

__all__ = [
    "STAGE",
    "CorpusConfig",
    "CorpusConfigError",
    "DecontamConfig",
    "DedupConfig",
    "ExecutorConfig",
    "MixConfig",
    "MixError",
    "PackConfig",
    "SourceConfig",
    "TokenizerConfig",
    "build_corpus",
    "corpus_stages",
    "default_work_dir",
    "estimate_corpus",
    "lemur_v1_config",
    "tiny_config",
]
