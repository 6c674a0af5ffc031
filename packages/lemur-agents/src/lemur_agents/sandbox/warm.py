"""The host end of the warm zygote (``_zygote.py``): sandboxed calls without the exec chain.

One zygote per host process, started on first use and shared by every :class:`Sandbox` of the
process and every thread: a call sends one message (its request and its descriptors) and then
talks only to its own call process over a socket of its own, so concurrent calls never share
anything but the send. A forked child of the host gets a zygote of its own on first use (the
channel and the lock it inherited are dropped in the child). When the zygote cannot be used
(dead and not restartable, a request too large for one message) the caller runs the cold chain,
which gives the same isolation.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

_ZYGOTE = Path(__file__).with_name("_zygote.py")
# A send that blocks this long means the zygote is stuck: the call goes cold instead.
_SEND_TIMEOUT = 5.0
# Set when an exit report is this long overdue after a kill: the call process is gone.
_REPORT_TIMEOUT = 5.0
# A call no spare has taken by then runs cold (the spare that takes it later drops it).
_START_TIMEOUT = 10.0


class ZygoteUnavailable(Exception):
    """The warm path cannot take this call; run it cold."""


class _ZygoteGone(ZygoteUnavailable):
    """The zygote closed its end of the channel (it died)."""


class WarmCall:
    """One call started by the zygote: its report socket, read without blocking the caller."""

    def __init__(self, sock: socket.socket, zygote: Zygote) -> None:
        self._sock = sock
        self.zygote = zygote
        self.init_pid: int | None = None
        self.cgroup: str | None = None
        self.error: str | None = None
        # Set when the call's jail could not be built: the program never ran.
        self.jail_error: str | None = None
        self._report: tuple[int, float] | None = None
        self._eof = False

    def fileno(self) -> int:
        return self._sock.fileno()

    def _take(self, data: bytes) -> None:
        if not data:
            self._eof = True
            return
        with contextlib.suppress(ValueError):
            message = json.loads(data)
            if isinstance(message, dict):
                if "pid" in message:
                    self.init_pid = int(message["pid"])
                    self.cgroup = message.get("cgroup")
                if "code" in message:
                    self._report = (int(message["code"]), float(message["cpu"]))
                if "jail_error" in message:
                    self.jail_error = str(message["jail_error"])
                if "error" in message:
                    self.error = str(message["error"])
                    self._eof = True

    def reported(self) -> bool:
        """Whether the exit report arrived (False also when the call process vanished)."""
        return self._report is not None

    def wait_started(self, timeout: float = _START_TIMEOUT) -> bool:
        """Block until the call's init runs; False when it will not (run the call cold)."""
        deadline = time.monotonic() + timeout
        while self.init_pid is None and not self._eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._read(remaining)
        return self.init_pid is not None

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self._sock], [], [], timeout)
        if not ready:
            return
        try:
            data = self._sock.recv(4096, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self._take(data)

    def has_exited(self) -> bool:
        """Whether the call's init has exited (or its call process is gone)."""
        while self._report is None and not self._eof:
            try:
                data = self._sock.recv(4096, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return False
            except OSError:
                data = b""
            self._take(data)
        return True

    def kill(self) -> None:
        """End the call: the call process SIGKILLs the init, the kernel the pid namespace."""
        with contextlib.suppress(OSError):
            self._sock.send(b"k", socket.MSG_DONTWAIT)

    def wait(self, timeout: float = _REPORT_TIMEOUT) -> tuple[int, float]:
        """The init's exit code (a signal as ``-N``) and the CPU seconds of the call."""
        deadline = time.monotonic() + timeout
        while self._report is None and not self._eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                break
            self._read(remaining)
        # No report: the call process was killed (by the cgroup sweep, say) with its init.
        return self._report if self._report is not None else (-9, 0.0)

    def close(self) -> None:
        """Close the report socket; a call still running is killed by its call process."""
        if self._report is not None and self.cgroup is not None and not self.zygote.alive():
            # The zygote that would remove this call's cgroup is gone: wait for the call
            # process to exit (EOF) and remove it here.
            deadline = time.monotonic() + 2.0
            while not self._eof and time.monotonic() < deadline:
                self._read(deadline - time.monotonic())
            with contextlib.suppress(OSError):
                for _ in range(100):
                    try:
                        os.rmdir(self.cgroup)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.01)
        self._sock.close()


class Zygote:
    """A running ``_zygote.py`` and the channel to it."""

    def __init__(self, cgroup_root: Path | None) -> None:
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        root = str(cgroup_root) if cgroup_root is not None else ""
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_ZYGOTE), str(child.fileno()), root],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # Out of the caller's process group: a Ctrl-C meant for the host leaves it be.
                start_new_session=True,
                cwd="/",
                env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
            )
        except BaseException:
            host.close()
            raise
        finally:
            child.close()
        host.settimeout(_SEND_TIMEOUT)
        self._ctrl = host
        self._lock = threading.Lock()
        self.pid = self._proc.pid

    def alive(self) -> bool:
        return self._proc.poll() is None

    def start(self, request: dict[str, Any], fds: list[int]) -> WarmCall:
        """Send one call (stdin, stdout, stderr descriptors) and return its report socket."""
        payload = json.dumps(request).encode("utf-8")
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with self._lock:
                socket.send_fds(self._ctrl, [payload], [*fds, theirs.fileno()])
        except (BrokenPipeError, ConnectionResetError) as exc:
            mine.close()
            raise _ZygoteGone(str(exc)) from exc
        except OSError as exc:
            mine.close()
            raise ZygoteUnavailable(str(exc)) from exc
        finally:
            theirs.close()
        return WarmCall(mine, self)

    def close(self) -> None:
        """Close the channel (the zygote exits on EOF) and reap it."""
        self._ctrl.close()
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def abandon(self) -> None:
        """In a forked child: drop the inherited channel; the zygote is the parent's."""
        self._ctrl.close()
        self._proc.returncode = 0  # not ours to wait for


_lock = threading.Lock()
_zygote: Zygote | None = None
_failures = 0
# After this many zygotes that would not start or died at once, stay cold in this process.
_MAX_FAILURES = 3


def _running_zygote(cgroup_root: Path | None) -> Zygote:
    global _zygote, _failures
    with _lock:
        if _failures >= _MAX_FAILURES:
            raise ZygoteUnavailable("the zygote failed repeatedly in this process")
        if _zygote is not None and not _zygote.alive():
            _zygote.close()
            _zygote, _failures = None, _failures + 1
        if _zygote is None:
            try:
                _zygote = Zygote(cgroup_root)
            except OSError as exc:
                _failures += 1
                raise ZygoteUnavailable(str(exc)) from exc
        return _zygote


def start_call(request: dict[str, Any], fds: list[int], cgroup_root: Path | None) -> WarmCall:
    """Start a call on this process's zygote (started, or restarted once if it died) and wait
    until its init runs. ``cgroup_root``: the pids hierarchy the calls' cgroups go in (the
    same for every call of a process: the isolation plan's)."""
    global _zygote, _failures
    zygote = _running_zygote(cgroup_root)
    try:
        call = zygote.start(request, fds)
    except _ZygoteGone:
        with _lock:
            if _zygote is zygote:
                zygote.close()
                _zygote, _failures = None, _failures + 1
        call = _running_zygote(cgroup_root).start(request, fds)
    if not call.wait_started():
        call.close()
        raise ZygoteUnavailable(call.error or "the call did not start")
    return call


def zygote_pid() -> int | None:
    """The pid of this process's zygote, if one runs (for tests and diagnostics)."""
    with _lock:
        return _zygote.pid if _zygote is not None and _zygote.alive() else None


def _after_fork_in_child() -> None:
    global _lock, _zygote, _failures
    # The lock may have been held by a thread that does not exist in the child.
    _lock = threading.Lock()
    if _zygote is not None:
        _zygote.abandon()
    _zygote, _failures = None, 0


def _shutdown() -> None:
    global _zygote
    with _lock:
        if _zygote is not None:
            _zygote.close()
            _zygote = None


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_shutdown)
