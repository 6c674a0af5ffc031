"""Atomic file writes: a reader never sees a half-written file, a crash never loses the old one."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename.

    The rename is atomic on POSIX file systems, so ``path`` holds either the old or the new
    content, never a prefix of the new one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


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
