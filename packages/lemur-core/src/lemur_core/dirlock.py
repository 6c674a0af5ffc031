"""An exclusive lock on a directory that frees itself when its holder dies.

``fcntl.flock`` on a hidden sibling file: the kernel drops the lock when the holding process
exits, however it exits (``kill -9`` included), so a dead writer's lock is simply taken by the
next one; the pid, host and start time written inside only serve the "already running" message.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

from lemur_core.stage_errors import StageBusyError


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DirLock:
    """An exclusive ``flock`` on ``lock_path``, with the holder's pid and start time inside.

    The lock file itself is never deleted (deleting a flock'd file lets a third process lock a
    new inode while the second still holds the old one); only the lock on it matters.
    """

    def __init__(self, lock_path: Path, owner: Path, *, orphan_grace_s: float = 10.0) -> None:
        self.path = lock_path
        self.owner = owner
        self.orphan_grace_s = orphan_grace_s
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`StageBusyError` naming the holder's pid and start time.

        When the recorded holder is dead but the lock is still held, its worker processes (which
        inherit the lock) are usually still being torn down by the same ``kill``: they get
        ``orphan_grace_s`` to exit before the claim gives up.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            deadline = time.monotonic() + self.orphan_grace_s
            while not self._try_lock(fd):
                if self._holder_alive(fd) or time.monotonic() >= deadline:
                    holder = self._read_holder(fd)
                    raise StageBusyError(
                        f"{self.owner} is already being written: already running ({holder}); "
                        "wait for it to finish or stop it, or choose another output directory"
                    )
                time.sleep(0.1)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)

    @staticmethod
    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    @staticmethod
    def _holder(fd: int) -> dict[str, object] | None:
        try:
            info = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None

    def _holder_alive(self, fd: int) -> bool:
        info = self._holder(fd)
        pid = info.get("pid") if info is not None else None
        if info is None or not isinstance(pid, int):
            return True  # unknown holder: do not wait on a guess
        if info.get("host") not in (None, socket.gethostname()):
            return True
        return _pid_alive(pid)

    def _read_holder(self, fd: int) -> str:
        try:
            raw = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            info = json.loads(raw)
            pid, since = int(info["pid"]), str(info["since"])
        except (OSError, ValueError, KeyError, TypeError):
            return "pid unknown"
        host = info.get("host")
        here = not host or host == socket.gethostname()
        where = "" if here else f" on {host}"
        alive = (
            ""
            if not here or _pid_alive(pid)
            else "; that pid is gone, a child still holds the lock"
        )
        return f"pid {pid}{where}, since {since}{alive}"

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def lock_path_for(directory: Path) -> Path:
    """The lock file of a claimed directory: the hidden sibling ``.<name>.lock``."""
    return directory.parent / f".{directory.name}.lock"
