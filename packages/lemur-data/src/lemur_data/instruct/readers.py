"""Rows of a source: local JSONL / JSON / Parquet files (globs), or a Hugging Face dataset by
name (streamed). Stdlib sources are generated, not read (:mod:`lemur_data.instruct.converters.stdlib_gen`).

A JSONL line that is not valid JSON is yielded as a :class:`BadLine` (not a mapping), which
every converter counts as ``malformed_row``: one broken line never stops a build.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lemur_data.instruct.config import SourceSpec


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line of a JSONL file that does not parse."""

    where: str
    detail: str


def _expand(patterns: tuple[str, ...], source: str) -> list[Path]:
    files: list[Path] = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern, recursive=True))
        if not matched:
            raise FileNotFoundError(
                f"source '{source}': paths entry '{pattern}' matches no file; fix the path or glob"
            )
        files.extend(Path(m) for m in matched)
    return files


def _read_file(path: Path) -> Iterator[Any]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with path.open(encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    yield BadLine(f"{path}:{line_no}", str(exc))
    elif suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ValueError(f"{path}: a .json source must hold a list of rows")
        yield from data
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            yield from batch.to_pylist()
    else:
        raise ValueError(
            f"{path}: unsupported file type '{suffix}' (use .jsonl, .json or .parquet)"
        )


def iter_rows(spec: SourceSpec) -> Iterator[Any]:
    """Every raw row of ``spec`` in a deterministic order (files sorted, HF split order)."""
    if spec.paths:
        for path in _expand(spec.paths, spec.name):
            yield from _read_file(path)
        return
    if spec.hf_dataset:
        try:
            import datasets
        except ImportError as exc:
            raise ImportError(
                f"source '{spec.name}' reads '{spec.hf_dataset}' from the Hugging Face Hub: "
                "pip install 'lemur-data[hf]'"
            ) from exc
        ds = datasets.load_dataset(
            spec.hf_dataset,
            spec.hf_config,
            split=spec.hf_split,
            data_files=list(spec.hf_data_files) or None,
            revision=spec.hf_revision,
            streaming=True,
        )
        yield from ds
        return
    raise ValueError(f"source '{spec.name}' has no rows to read (format {spec.format.value})")
