"""Read and write ``.safetensors`` files with numpy, bfloat16 included, memory-mapped on read.

The format is an 8-byte little-endian header length, a JSON header (dtype, shape, byte offsets
per tensor) and the raw bytes. The ``safetensors`` numpy API cannot hold bfloat16 (Llama-2's
published dtype), so this module speaks the format directly with ``ml_dtypes``.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path

import ml_dtypes
import numpy as np
from lemur_core.atomic import atomic_open

_DTYPES: dict[str, np.dtype] = {
    "F32": np.dtype(np.float32),
    "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "F64": np.dtype(np.float64),
    "I64": np.dtype(np.int64),
    "I32": np.dtype(np.int32),
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def read_safetensors(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """All tensors of one file as read-only numpy views over a memory map (no copy)."""
    with open(path, "rb") as handle:
        buffer = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    (header_len,) = struct.unpack("<Q", buffer[:8])
    header = json.loads(buffer[8 : 8 + header_len])
    header.pop("__metadata__", None)
    base = 8 + header_len
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if info["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        array = np.frombuffer(
            buffer, dtype=dtype, count=(end - start) // dtype.itemsize, offset=base + start
        )
        out[name] = array.reshape(info["shape"])
    return out


def read_hf_weights(hf_dir: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every tensor of an HF model directory (single file or sharded with an index)."""
    root = Path(hf_dir)
    single = root / "model.safetensors"
    index = root / "model.safetensors.index.json"
    if single.exists():
        return read_safetensors(single)
    if index.exists():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        merged: dict[str, np.ndarray] = {}
        for name in files:
            merged.update(read_safetensors(root / name))
        return merged
    raise FileNotFoundError(
        f"{root} has neither model.safetensors nor model.safetensors.index.json; "
        "convert .bin checkpoints to safetensors first (transformers save_pretrained)"
    )


def _chunks(tensors: Mapping[str, np.ndarray]) -> Iterator[bytes]:
    for name in sorted(tensors):
        yield np.ascontiguousarray(tensors[name]).tobytes()


def write_safetensors(
    path: str | os.PathLike[str],
    tensors: Mapping[str, np.ndarray],
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write ``tensors`` atomically as one safetensors file (sorted names, 8-byte aligned header)."""
    header: dict[str, object] = {"__metadata__": dict(metadata or {"format": "pt"})}
    offset = 0
    for name in sorted(tensors):
        array = tensors[name]
        if array.dtype not in _NAMES:
            raise ValueError(f"tensor {name}: dtype {array.dtype} cannot be written to safetensors")
        header[name] = {
            "dtype": _NAMES[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    # Streamed to a temporary file then renamed: a 70B export never sits in memory twice,
    # and a reader never sees a half-written file.
    with atomic_open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        for chunk in _chunks(tensors):
            handle.write(chunk)
    return Path(path)
