"""Durable appends that do not make the caller wait on the disk: write now, fsync behind.

A finished episode's line is written to the kernel at once (``write`` + ``flush`` before
:meth:`AppendLog.append` returns), so a killed process (``kill -9``, an OOM kill) never loses
it: the page cache outlives the process. What an ``fsync`` adds is survival of an OS crash or
a power loss, and an ``fsync`` costs 4–10 ms on the disks measured here — per episode that was
most of the runner's wall time at 32 live episodes. :class:`SyncBehind` runs those fsyncs in
one background thread, coalesced: a pass starts ``window`` seconds (20 ms) after the first
mark and covers every mark made until then (a group commit), so the episode loop goes on while
the disk catches up; :meth:`AppendLog.sync` waits until everything written so far is on disk
(at once: a waiter cuts the window short), and a run calls it before it writes its summary and
manifest. Under a power loss, at most the lines of the last few tens of milliseconds can be
missing, and those episodes' model answers are in the request cache, so a resume replays them.
Without the window, a 256-episode run made ~340 fsync passes, each waking the thread (a GIL
hand-off on the episode loop's cores) and costing CPU in the kernel: 0.85 -> 0.68 ms of CPU
per episode with it, ~24 passes.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO


class SyncBehind:
    """fsyncs paths in a background thread whenever they were marked dirty.

    :meth:`mark` is cheap (no syscall unless the thread sleeps idle); :meth:`wait` blocks until
    every mark made before it is covered by a completed fsync, and re-raises an fsync error (the
    disk failed: the caller must not certify the data). ``window``: how long a pass waits after
    the first mark for more (0: at once).
    """

    def __init__(self, name: str = "lemur-fsync", window: float = 0.02) -> None:
        self.window = window
        self._cond = threading.Condition()
        self._idle = False  # the thread waits for a first mark (only then does mark wake it)
        self._waiting = 0  # callers blocked in wait(): the pass starts at once
        self._dirty: dict[str, int] = {}  # path -> fd (-1: open it by path at sync time)
        self._marked = 0  # generation of the latest mark
        self._synced = 0  # generation covered by a finished fsync pass
        self._error: OSError | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def mark(self, path: Path, fd: int = -1) -> None:
        """Say ``path`` (open as ``fd``, or opened by path when -1) has data to fsync."""
        with self._cond:
            self._dirty[str(path)] = fd
            self._marked += 1
            if self._idle:
                self._cond.notify_all()

    def wait(self) -> None:
        """Block until everything marked so far is fsynced."""
        with self._cond:
            target = self._marked
            self._waiting += 1
            try:
                self._cond.notify_all()  # cut a pass's window short
                while self._synced < target and self._error is None:
                    self._cond.wait()
            finally:
                self._waiting -= 1
            if self._error is not None:
                raise self._error

    def close(self) -> None:
        """Sync what is pending, then stop the thread."""
        try:
            self.wait()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._thread.join()

    def _work(self) -> None:
        while True:
            with self._cond:
                self._idle = True
                while not self._dirty and not self._closed:
                    self._cond.wait()
                self._idle = False
                if not self._dirty and self._closed:
                    return
                # The group commit's window: marks made meanwhile join this pass.
                deadline = time.monotonic() + self.window
                while not self._closed and not self._waiting:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch, self._dirty = self._dirty, {}
                generation = self._marked
            try:
                for path, fd in batch.items():
                    _fsync(path, fd)
            except OSError as exc:
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self._synced = max(self._synced, generation)
                self._cond.notify_all()


def _fsync(path: str, fd: int) -> None:
    if fd >= 0:
        os.fsync(fd)
        return
    try:
        own = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # e.g. SQLite removed its WAL after a checkpoint: nothing left
        return
    try:
        os.fsync(own)
    finally:
        os.close(own)


class AppendLog:
    """An append-only text file of whole lines: each :meth:`append` is one ``write`` of
    complete lines (so a kill can tear at most the line being written, which readers drop),
    flushed at once and fsynced behind (see the module docstring)."""

    def __init__(self, path: Path, syncer: SyncBehind | None = None) -> None:
        self.path = path
        self._own_syncer = syncer is None
        self._syncer = syncer or SyncBehind()
        self._handle: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - see close()
        self._lock = threading.Lock()

    def append(self, lines: str) -> None:
        """Write ``lines`` (each ending in a newline) and hand the fsync to the syncer."""
        with self._lock:
            self._handle.write(lines)
            self._handle.flush()
            self._syncer.mark(self.path, self._handle.fileno())

    def sync(self) -> None:
        """Block until every appended line is on disk."""
        self._syncer.wait()

    def close(self) -> None:
        """Sync, then close the file (and the syncer when this log made it)."""
        try:
            if self._own_syncer:
                self._syncer.close()
            else:
                self._syncer.wait()
        finally:
            self._handle.close()

    def __enter__(self) -> AppendLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
