"""Packing the mixture into fixed-length rows (the corpus shard set of DESIGN.md).

The schedule is one token stream: each document's tokens followed by EOS. Row ``i`` is the
window ``[i * L, (i + 1) * L)`` of that stream, so documents are joined with EOS, long documents
are split across rows, and only the very last row is padded. In a row, ``segment_ids`` number
the document pieces 1..k (0 on padding) and ``source_ids`` give each token's source index
(-1 on padding). Shard ``j`` holds rows ``[j * S, (j + 1) * S)``: the layout depends on neither
the number of tasks nor of workers.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datatrove.pipeline.base import PipelineStep
from lemur_core.atomic import atomic_write_bytes

SHARD_ARRAYS = ("tokens", "segment_ids", "source_ids")


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """The packing order: per scheduled document its token file, offset, length and source."""

    task: np.ndarray  # int32
    start: np.ndarray  # int64, offset in the task's token file
    length: np.ndarray  # int64, tokens without EOS
    source: np.ndarray  # int32

    @property
    def stream_ends(self) -> np.ndarray:
        """Exclusive end of each document (EOS included) in the token stream."""
        return np.cumsum(self.length + 1)

    @property
    def total_tokens(self) -> int:
        """Length of the token stream (EOS included)."""
        return int((self.length + 1).sum())

    def save(self, directory: Path) -> None:
        """Write the plan as ``plan.npz`` (atomically)."""
        buffer = io.BytesIO()
        np.savez(buffer, task=self.task, start=self.start, length=self.length, source=self.source)
        atomic_write_bytes(directory / "plan.npz", buffer.getvalue())

    @classmethod
    def load(cls, directory: Path) -> StreamPlan:
        """Read a plan written by :meth:`save`."""
        with np.load(directory / "plan.npz") as data:
            return cls(data["task"], data["start"], data["length"], data["source"])


def num_rows(total_tokens: int, seq_len: int) -> int:
    """Rows needed for ``total_tokens`` stream tokens."""
    return -(-total_tokens // seq_len)


def pack_rows(
    plan: StreamPlan,
    token_files: list[np.ndarray],
    row_start: int,
    row_end: int,
    *,
    seq_len: int,
    eos_id: int,
    pad_id: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``[row_start, row_end)`` of the stream: (tokens uint32, segment_ids int32,
    source_ids int16), each ``[rows, seq_len]``."""
    rows = row_end - row_start
    lo, hi = row_start * seq_len, row_end * seq_len
    tokens = np.full(rows * seq_len, pad_id, dtype=np.uint32)
    doc_ord = np.full(rows * seq_len, -1, dtype=np.int64)
    source = np.full(rows * seq_len, -1, dtype=np.int16)
    ends = plan.stream_ends
    first = int(np.searchsorted(ends, lo, side="right"))
    for i in range(first, len(ends)):
        doc_end = int(ends[i])
        doc_start = doc_end - int(plan.length[i]) - 1
        if doc_start >= hi:
            break
        start = int(plan.start[i])
        body = token_files[int(plan.task[i])][start : start + int(plan.length[i])]
        doc = np.empty(len(body) + 1, dtype=np.uint32)
        doc[:-1] = body
        doc[-1] = eos_id
        a, b = max(lo, doc_start), min(hi, doc_end)
        tokens[a - lo : b - lo] = doc[a - doc_start : b - doc_start]
        doc_ord[a - lo : b - lo] = i
        source[a - lo : b - lo] = plan.source[i]
    grid = doc_ord.reshape(rows, seq_len)
    change = np.zeros_like(grid, dtype=np.int32)
    change[:, 1:] = grid[:, 1:] != grid[:, :-1]
    segments = (1 + np.cumsum(change, axis=1)).astype(np.int32)
    segments[grid < 0] = 0
    return tokens.reshape(rows, seq_len), segments, source.reshape(rows, seq_len)


def special_ids_of_dir(tokenizer_dir: Path) -> tuple[int, int]:
    """(eos id, pad id) of a tokenizer directory written by this package."""
    # Loaded once per process: parsing a 49k-token tokenizer.json takes ~0.5 s, and a pack
    # stage runs one task per shard group.
    from lemur_data.corpus.tokenize import cached_tokenizer

    config = json.loads((tokenizer_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    tokenizer = cached_tokenizer(tokenizer_dir / "tokenizer.json")
    eos, pad = (
        tokenizer.token_to_id(config["eos_token"]),
        tokenizer.token_to_id(config["pad_token"]),
    )
    if eos is None or pad is None:
        raise ValueError(f"{tokenizer_dir}: eos or pad token missing from the vocabulary")
    return int(eos), int(pad)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def shard_path(index: int, array: str) -> str:
    """Path of one array of shard ``index``, relative to the artifact."""
    return f"shards/{index:05d}.{array}.npy"


class PackStep(PipelineStep):
    """datatrove step: writes shards ``rank, rank + world_size, ...`` of the packed corpus."""

    name = "lemur pack"
    type = "📦 - PACK"

    def __init__(
        self,
        plan_dir: str,
        tokens_dir: str,
        tasks_of_tokens: int,
        out_dir: str,
        seq_len: int,
        rows_per_shard: int,
        tokenizer_dir: str,
    ) -> None:
        super().__init__()
        self.plan_dir = plan_dir
        self.tokens_dir = tokens_dir
        self.tasks_of_tokens = tasks_of_tokens
        self.out_dir = out_dir
        self.seq_len = seq_len
        self.rows_per_shard = rows_per_shard
        self.tokenizer_dir = tokenizer_dir

    def run(self, data: object = None, rank: int = 0, world_size: int = 1) -> None:  # type: ignore[override]
        """Pack and write this task's shards (each array atomically)."""
        eos_id, pad_id = special_ids_of_dir(Path(self.tokenizer_dir))
        plan = StreamPlan.load(Path(self.plan_dir))
        token_files = [
            np.load(Path(self.tokens_dir) / f"{t:05d}.tokens.npy", mmap_mode="r")
            for t in range(self.tasks_of_tokens)
        ]
        total_rows = num_rows(plan.total_tokens, self.seq_len)
        shards = -(-total_rows // self.rows_per_shard)
        for shard in range(rank, shards, world_size):
            first = shard * self.rows_per_shard
            last = min(total_rows, first + self.rows_per_shard)
            arrays = pack_rows(
                plan,
                token_files,
                first,
                last,
                seq_len=self.seq_len,
                eos_id=eos_id,
                pad_id=pad_id,
            )
            for name, array in zip(SHARD_ARRAYS, arrays, strict=True):
                atomic_write_bytes(Path(self.out_dir) / shard_path(shard, name), _npy(array))
            self.stat_update("rows", value=last - first)
