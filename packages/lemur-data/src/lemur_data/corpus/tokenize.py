"""The tokenizer (pretrained by name, or a byte-level BPE trained on the corpus) and tokenization.

The tokenizer directory written here is a Hugging Face tokenizer: ``tokenizer.json`` +
``tokenizer_config.json`` (+ ``special_tokens_map.json``), loadable with
``transformers.AutoTokenizer.from_pretrained`` and ``PreTrainedTokenizerFast``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Container, Iterator
from pathlib import Path

import numpy as np
from datatrove.pipeline.base import PipelineStep
from lemur_core.atomic import atomic_open, atomic_write_text
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from lemur_data.corpus.config import TokenizerConfig
from lemur_data.corpus.exact_bpe import ExactBPE, exact_bpe

_ENCODE_BATCH = 256
_log = logging.getLogger(__name__)


class TokenizerError(ValueError):
    """The tokenizer lacks a token the corpus format needs."""


def train_bpe(texts: Iterator[str], config: TokenizerConfig) -> Tokenizer:
    """Train a byte-level BPE with ``config.vocab_size`` tokens; eos and pad are ids 0 and 1."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=[config.eos_token, config.pad_token],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def load_pretrained(config: TokenizerConfig) -> Tokenizer:
    """A pretrained tokenizer by Hub id or local ``tokenizer.json`` path."""
    assert config.name is not None  # checked by TokenizerConfig
    path = Path(config.name)
    if path.is_dir():
        return Tokenizer.from_file(str(path / "tokenizer.json"))
    if path.is_file():
        return Tokenizer.from_file(str(path))
    return Tokenizer.from_pretrained(config.name)


def special_ids(tokenizer: Tokenizer, config: TokenizerConfig) -> tuple[int, int]:
    """(eos id, pad id), or :class:`TokenizerError` naming the missing token and the fix."""
    ids = []
    for field, token in (("eos_token", config.eos_token), ("pad_token", config.pad_token)):
        token_id = tokenizer.token_to_id(token)
        if token_id is None:
            raise TokenizerError(
                f"tokenizer has no token {token!r} (tokenizer.{field}); set tokenizer.{field} "
                "to a token of its vocabulary"
            )
        ids.append(token_id)
    return ids[0], ids[1]


def save_tokenizer_dir(
    tokenizer: Tokenizer, config: TokenizerConfig, out_dir: Path, model_max_length: int
) -> None:
    """Write an HF tokenizer directory (atomically, file by file)."""
    special_ids(tokenizer, config)
    atomic_write_text(out_dir / "tokenizer.json", tokenizer.to_str())
    tok_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": config.eos_token,
        "pad_token": config.pad_token,
        "model_max_length": model_max_length,
        "clean_up_tokenization_spaces": False,
    }
    atomic_write_text(out_dir / "tokenizer_config.json", json.dumps(tok_config, indent=2) + "\n")
    specials = {"eos_token": config.eos_token, "pad_token": config.pad_token}
    atomic_write_text(out_dir / "special_tokens_map.json", json.dumps(specials, indent=2) + "\n")


def iter_surviving_docs(
    docs_dir: Path, removed_path: Path, tasks: int
) -> Iterator[tuple[int, int, dict[str, str]]]:
    """(rank, index, row) of every document that survived dedup, in task order."""
    removed = json.loads(removed_path.read_text(encoding="utf-8"))["removed"]
    for rank in range(tasks):
        drop = removed.get(str(rank), {})
        with (docs_dir / f"{rank:05d}.jsonl").open(encoding="utf-8") as handle:
            for idx, line in enumerate(handle):
                if str(idx) not in drop:
                    yield rank, idx, json.loads(line)


class TrainTokenizerStep(PipelineStep):
    """datatrove step (one task): builds the tokenizer directory of the artifact."""

    name = "lemur tokenizer"
    type = "🔢 - TOKENIZER"

    def __init__(
        self,
        config: TokenizerConfig,
        docs_dir: str,
        removed_path: str,
        tasks: int,
        out_dir: str,
        model_max_length: int,
    ) -> None:
        super().__init__()
        self.config = config
        self.docs_dir = docs_dir
        self.removed_path = removed_path
        self.tasks = tasks
        self.out_dir = out_dir
        self.model_max_length = model_max_length

    def _texts(self) -> Iterator[str]:
        budget = self.config.train_max_chars
        for _, _, row in iter_surviving_docs(
            Path(self.docs_dir), Path(self.removed_path), self.tasks
        ):
            if budget <= 0:
                return
            text = row["text"][:budget]
            budget -= len(text)
            yield text

    def run(self, data: object = None, rank: int = 0, world_size: int = 1) -> None:  # type: ignore[override]
        """Train (or load) the tokenizer and save it."""
        if self.config.kind == "train_bpe":
            tokenizer = train_bpe(self._texts(), self.config)
        else:
            tokenizer = load_pretrained(self.config)
        save_tokenizer_dir(tokenizer, self.config, Path(self.out_dir), self.model_max_length)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# One tokenizer per (file, content) per process: a datatrove worker runs many tokenize tasks, and
# every ``Tokenizer.from_file`` allocates vocabulary/merge tables (5-25 MB for a 49k-token BPE)
# that the allocator does not hand back, so reloading per task made RSS grow with the task count.
# Keyed by content hash too, so a tokenizer rewritten at the same path is never served stale.
_TOKENIZERS: dict[tuple[str, str], Tokenizer] = {}
_EXACT: dict[tuple[str, str], ExactBPE | None] = {}
_CHECK_CHARS = 1 << 16
"""Text (characters) of a process's first batch also encoded by HF to check the fast path."""


def cached_tokenizer(tokenizer_json: Path) -> Tokenizer:
    """The tokenizer in ``tokenizer_json``, loaded once per process and content."""
    return _cached(tokenizer_json)[0]


def _cached(tokenizer_json: Path) -> tuple[Tokenizer, tuple[str, str]]:
    key = (str(tokenizer_json.resolve()), _file_digest(tokenizer_json))
    tokenizer = _TOKENIZERS.get(key)
    if tokenizer is None:
        tokenizer = Tokenizer.from_file(str(tokenizer_json))
        _TOKENIZERS.clear()  # a build uses one tokenizer; never keep an outdated one alive
        _EXACT.clear()
        _TOKENIZERS[key] = tokenizer
    return tokenizer, key


def _hf_encode(tokenizer: Tokenizer, texts: list[str]) -> list[np.ndarray]:
    # encode_batch_fast (tokenizers >= 0.21) skips the offsets nobody here reads: same ids.
    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    return [np.asarray(e.ids, np.uint32) for e in encode(texts, add_special_tokens=False)]


def _exact_encoder(tokenizer: Tokenizer, key: tuple[str, str], texts: list[str]) -> ExactBPE | None:
    """The process's fast exact encoder for ``tokenizer`` (or ``None``), checked once against HF
    on the start of ``texts``, the first batch it is asked to encode."""
    if key in _EXACT:
        return _EXACT[key]
    fast, why = exact_bpe(tokenizer)
    if fast is not None:
        sample, size = [], 0
        for text in texts:
            if size and size + len(text) > _CHECK_CHARS:
                break
            sample.append(text)
            size += len(text)
        for text, expected in zip(sample, _hf_encode(tokenizer, sample), strict=True):
            got = fast.encode(text)
            if got is not None and not np.array_equal(got, expected):
                why, fast = "it disagreed with the tokenizer on this corpus's first documents", None
                _log.warning("tokenize: not using tiktoken, %s", why)
                break
    if fast is None:
        _log.info("tokenize: Hugging Face tokenizers only (%s)", why)
    _EXACT[key] = fast
    return fast


def encode_texts(tokenizer_json: Path, texts: list[str]) -> list[np.ndarray]:
    """Token ids (uint32, no special tokens added) of each text, exactly as the HF tokenizer in
    ``tokenizer_json`` gives them: by tiktoken where that is exact (see
    :mod:`lemur_data.corpus.exact_bpe`), by HF for the rest."""
    return _encode(*_cached(tokenizer_json), texts)


def _encode(tokenizer: Tokenizer, key: tuple[str, str], texts: list[str]) -> list[np.ndarray]:
    fast = _exact_encoder(tokenizer, key, texts)
    if fast is None:
        return _hf_encode(tokenizer, texts)
    out: list[np.ndarray | None] = [fast.encode(text) for text in texts]
    rest = [i for i, ids in enumerate(out) if ids is None]
    if rest:
        for i, ids in zip(rest, _hf_encode(tokenizer, [texts[i] for i in rest]), strict=True):
            out[i] = ids
    return [ids if ids is not None else np.zeros(0, np.uint32) for ids in out]


def _npy_header(count: int) -> bytes:
    """The ``.npy`` header ``np.save`` writes for a 1-D uint32 array of ``count`` items."""
    buffer = io.BytesIO()
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0, dtype=np.uint32))
    header["shape"] = (count,)
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _surviving_rows(docs_path: Path, drop: Container[str]) -> Iterator[dict[str, str]]:
    with docs_path.open(encoding="utf-8") as handle:
        for idx, line in enumerate(handle):
            if str(idx) not in drop:
                yield json.loads(line)


def _batches(rows: Iterator[dict[str, str]], size: int) -> Iterator[list[dict[str, str]]]:
    batch: list[dict[str, str]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class TokenizeStep(PipelineStep):
    """datatrove step: tokenizes this task's surviving documents.

    Writes ``<rank>.tokens.npy`` (uint32, all documents concatenated, no EOS) and
    ``<rank>.docs.json`` (per document: id, source index, start, length). Documents are read,
    encoded and written ``_ENCODE_BATCH`` at a time, so memory does not grow with the task.
    """

    name = "lemur tokenize"
    type = "🔢 - TOKENIZER"

    def __init__(
        self,
        tokenizer_dir: str,
        docs_dir: str,
        removed_path: str,
        out_dir: str,
        source_names: tuple[str, ...],
    ) -> None:
        super().__init__()
        self.tokenizer_dir = tokenizer_dir
        self.docs_dir = docs_dir
        self.removed_path = removed_path
        self.out_dir = out_dir
        self.source_names = source_names

    def run(self, data: object = None, rank: int = 0, world_size: int = 1) -> None:  # type: ignore[override]
        """Tokenize and write this task's token file and document index."""
        tokenizer, key = _cached(Path(self.tokenizer_dir) / "tokenizer.json")
        source_index = {name: i for i, name in enumerate(self.source_names)}
        removed = json.loads(Path(self.removed_path).read_text(encoding="utf-8"))["removed"]
        drop = set(removed.get(str(rank), {}))
        del removed  # every task's removals: not needed while encoding
        rows = _surviving_rows(Path(self.docs_dir) / f"{rank:05d}.jsonl", drop)
        out = Path(self.out_dir)
        # The token count is known only at the end: a 1-D header is the same length for every
        # count (padded to 64 bytes), so reserve it, stream the tokens, then write it in place.
        reserved = len(_npy_header(0))
        start = 0
        separator = ""
        with (
            atomic_open(out / f"{rank:05d}.tokens.npy", "wb") as tokens_out,
            atomic_open(out / f"{rank:05d}.docs.json", "w") as index_out,
        ):
            tokens_out.write(b"\0" * reserved)
            index_out.write("[")  # json.dumps(list) byte for byte: "[" + ", ".join(items) + "]"
            for batch in _batches(rows, _ENCODE_BATCH):
                encodings = _encode(tokenizer, key, [r["text"] for r in batch])
                entries = []
                for row, ids in zip(batch, encodings, strict=True):
                    tokens_out.write(ids.astype("<u4", copy=False).tobytes())
                    entries.append(
                        json.dumps([row["id"], source_index[row["source"]], start, len(ids)])
                    )
                    start += len(ids)
                    self.stat_update(f"tokens/{row['source']}", value=len(ids))
                index_out.write(separator + ", ".join(entries))
                separator = ", "
            index_out.write("]")
            header = _npy_header(start)
            if len(header) != reserved:  # only past 10**50 tokens in one task
                raise RuntimeError(f"npy header grew to {len(header)} bytes for {start} tokens")
            tokens_out.seek(0)
            tokens_out.write(header)
