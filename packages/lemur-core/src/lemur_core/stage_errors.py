"""The errors of the stage lifecycle, each one line naming the problem and the fix.

Disk-level failures (read-only file system, no space, quota, permission) are turned into a
:class:`StageDiskError` that names the path, so CLIs print one line instead of a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator


class StageError(Exception):
    """A stage cannot claim or publish its output; the message is one line naming the fix."""


class StageBusyError(StageError):
    """Another live process holds the output directory's lock."""


class StageDiskError(StageError, OSError):
    """The file system refused a write (read-only, full, permission); names the path and the fix.

    Also an :class:`OSError` (with ``errno`` and ``filename`` set), so callers that already treat
    disk failures as ``OSError`` still do; its text is the one line alone.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_DISK_ERRNOS: dict[int, tuple[str, str]] = {
    errno.EROFS: (
        "read-only file system",
        "write to a directory on a writable file system (choose another output directory)",
    ),
    errno.ENOSPC: (
        "no space left on device",
        "free space there or choose another output directory, then run again",
    ),
    errno.EDQUOT: (
        "disk quota exceeded",
        "free space within your quota or choose another output directory, then run again",
    ),
    errno.EACCES: (
        "permission denied",
        "make it writable by this user (chmod/chown) or choose another output directory",
    ),
    errno.EPERM: (
        "operation not permitted",
        "make it writable by this user (chmod/chown) or choose another output directory",
    ),
}


def as_disk_error(
    exc: BaseException, path: str | os.PathLike[str] | None = None
) -> StageDiskError | None:
    """The one-line :class:`StageDiskError` for a disk-level ``OSError``, or ``None`` for others.

    The path named is the one the OS reported, else ``path``.
    """
    if isinstance(exc, StageDiskError):
        return exc
    if not isinstance(exc, OSError) or exc.errno not in _DISK_ERRNOS:
        return None
    what, fix = _DISK_ERRNOS[exc.errno]
    where = exc.filename if exc.filename is not None else path
    err = StageDiskError(f"cannot write {where}: {what}; {fix}")
    err.errno = exc.errno
    err.filename = where
    return err


@contextlib.contextmanager
def disk_errors(path: str | os.PathLike[str] | None = None) -> Iterator[None]:
    """Turn disk-level ``OSError`` raised inside the block into :class:`StageDiskError`."""
    try:
        yield
    except OSError as exc:
        err = as_disk_error(exc, path)
        if err is None or err is exc:
            raise
        raise err from exc
