"""Atomic file writes: a reader never sees a half-written file, a crash never loses the old one."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; it replaces ``path`` when the block ends.

    On success the file is flushed, fsynced and renamed onto ``path`` (atomic on POSIX file
    systems: ``path`` holds the old or the new content, never a prefix of the new one); on any
    error the temporary file is removed and ``path`` is untouched. ``mode`` is ``"wb"`` or
    ``"w"`` (UTF-8 text). For content streamed in pieces (a JSONL file, a multi-GB tensor file).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'wb' or 'w', not {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        encoding = "utf-8" if mode == "w" else None
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename
    (see :func:`atomic_open`)."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def file_sha256(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def tree_sha256(root: str | os.PathLike[str], exclude: tuple[str, ...] = ("manifest.json",)) -> str:
    """Hex sha256 over every file below ``root`` (relative path + content hash, sorted).

    Used to pin a whole artifact directory; the manifest itself is excluded by default so
    that an artifact's hash does not depend on its own description.
    """
    base = Path(root)
    digest = hashlib.sha256()
    for item in sorted(p for p in base.rglob("*") if p.is_file()):
        rel = item.relative_to(base).as_posix()
        if rel in exclude or any(
            part.startswith(".") and part.endswith(".tmp")
            for part in item.relative_to(base).parts  # not the root's own path
        ):
            continue
        digest.update(rel.encode("utf-8") + b"\0" + file_sha256(item).encode("ascii") + b"\n")
    return digest.hexdigest()
