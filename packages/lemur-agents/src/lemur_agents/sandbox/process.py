"""Run one command in the sandbox: limits, isolation, timeout, output caps, a result record."""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol

from lemur_agents.sandbox import warm
from lemur_agents.sandbox.isolation import (
    CallCgroup,
    IsolationPlan,
    default_hidden,
    isolation_plan,
    jail_args,
    jail_program,
    sandbox_uid,
    temp_roots,
    wrap_argv,
)
from lemur_agents.sandbox.limits import SandboxLimits

_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_KILL_REASONS = {
    signal.SIGXCPU: "cpu_limit",
    signal.SIGXFSZ: "file_size_limit",
}


@dataclass(frozen=True)
class ExecResult:
    """Outcome of one sandboxed call.

    ``exit_code`` is the program's status, negative for a signal (``-9`` = SIGKILL);
    ``timed_out`` is set when the wall-clock limit killed it; ``truncated`` when output past
    ``max_output_bytes`` was dropped; ``killed_reason`` names why the sandbox (or the kernel,
    on an rlimit) ended it: ``wall_timeout``, ``output_limit``, ``cpu_limit``,
    ``file_size_limit``, ``signal SIGKILL`` ... or ``None`` for a normal exit. ``restarted``
    (:class:`~lemur_agents.sandbox.session.PythonSession` only) says the interpreter was
    replaced during this call, so variables from earlier calls are gone.
    """

    stdout: str
    stderr: str
    exit_code: int
    timed_out: bool = False
    truncated: bool = False
    killed_reason: str | None = None
    duration_s: float = 0.0
    isolation: str = ""
    restarted: bool = False

    @property
    def ok(self) -> bool:
        """True when the program exited with status 0 within its limits."""
        return self.exit_code == 0 and not self.timed_out and self.killed_reason is None

    def combined_output(self) -> str:
        """stdout then stderr, as an interactive terminal would show them."""
        if self.stdout and self.stderr and not self.stdout.endswith("\n"):
            return self.stdout + "\n" + self.stderr
        return self.stdout + self.stderr


@dataclass
class _Capture:
    chunks: dict[int, list[bytes]] = field(default_factory=dict)
    total: int = 0
    truncated: bool = False


def _has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether ``proc`` has exited, without reaping it (its rusage is read at the reap)."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _wait_with_cpu(proc: subprocess.Popen[bytes]) -> tuple[int, float]:
    """Reap ``proc`` and return its status and the CPU seconds of it and its reaped children."""
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except ChildProcessError:  # already reaped by Popen
        return int(proc.wait()), 0.0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return int(proc.returncode), usage.ru_utime + usage.ru_stime


class _Child(Protocol):
    """A running call as :meth:`Sandbox.run` watches it, however it was started."""

    stdout_fd: int
    stderr_fd: int

    def has_exited(self) -> bool: ...
    def kill(self) -> None: ...
    def wait(self) -> tuple[int, float]: ...
    def release(self) -> None: ...


class _ColdChild:
    """A call started through the exec chain (``Popen``): the sandbox's :meth:`popen`."""

    def __init__(self, sandbox: Sandbox, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self._sandbox, self._proc = sandbox, proc
        self.stdout_fd, self.stderr_fd = proc.stdout.fileno(), proc.stderr.fileno()

    def has_exited(self) -> bool:
        return _has_exited(self._proc)

    def kill(self) -> None:
        self._sandbox.kill_tree(self._proc)

    def wait(self) -> tuple[int, float]:
        return _wait_with_cpu(self._proc)

    def release(self) -> None:
        self._sandbox.release(self._proc)
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._proc.stdout.close()
        self._proc.stderr.close()


class _WarmChild:
    """A call started by the zygote (see :mod:`lemur_agents.sandbox.warm`)."""

    def __init__(self, call: warm.WarmCall, stdout_fd: int, stderr_fd: int) -> None:
        self._call = call
        self.stdout_fd, self.stderr_fd = stdout_fd, stderr_fd

    def has_exited(self) -> bool:
        return self._call.has_exited()

    def kill(self) -> None:
        # The call process kills the init, and with it the kernel the whole pid namespace.
        self._call.kill()

    def wait(self) -> tuple[int, float]:
        return self._call.wait()

    @property
    def jail_error(self) -> str | None:
        return self._call.jail_error

    def release(self) -> None:
        reported = self._call.reported()
        self._call.close()
        for fd in (self.stdout_fd, self.stderr_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        if not reported and self._call.cgroup is not None:
            # The call process vanished without its report: sweep its cgroup here. (After
            # a report the zygote removes the cgroup once the call process is gone.)
            cgroup = CallCgroup.existing(Path(self._call.cgroup))
            cgroup.kill_all()
            cgroup.remove()


class Sandbox:
    """Runs model-written programs as contained child processes.

    ``Sandbox(limits, network=False)``; ``run(argv_or_shell, cwd=..., stdin=..., timeout=...,
    env=...)`` -> :class:`ExecResult`; ``scratch_dir()`` makes a fresh working directory that
    the sandbox user owns and that :meth:`close` removes; ``isolation_level`` names what this
    machine allowed (see :mod:`lemur_agents.sandbox.isolation`). Only ``cwd`` is writable when
    mount namespaces are available; the environment is scrubbed to ``PATH``, ``HOME``,
    ``TMPDIR``, ``LANG`` plus the ``env`` extras. ``hidden_paths`` (default: the caller's home,
    ``/root``, ``/home``) are covered by empty directories in the child, and so are, always, the
    top-level directories outside the system tree, the temporary directories and files others
    may not read — except the Python installation, the working directory and ``visible_paths``
    (pass a data directory there if a program must read it).

    With namespaces, :meth:`run` starts each call from a warm zygote (``warm=True``, the
    default; see :mod:`lemur_agents.sandbox.warm`): the same namespaces, mounts, limits and
    cgroup per call as the cold exec chain (``unshare``, the jail, ``prlimit``, ``setpriv``)
    that ``warm=False``, :meth:`popen` and any call the zygote cannot take use, for a fraction
    of the start-up time. ``warm_starts`` counts the calls it started.
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        network: bool = False,
        hidden_paths: tuple[str, ...] | None = None,
        visible_paths: tuple[str, ...] = (),
        warm: bool = True,
    ) -> None:
        self.limits = (limits or SandboxLimits()).clamped()
        self.network = network
        # Hidden from the child (with mount namespaces): home directories hold credentials.
        self.hidden_paths = default_hidden() if hidden_paths is None else tuple(hidden_paths)
        self.visible_paths = tuple(visible_paths)
        self._plan: IsolationPlan = isolation_plan()
        self._uid: int | None = sandbox_uid() if self._plan.drop_uid else None
        self._scratch: list[Path] = []
        self._cgroups: dict[int, CallCgroup] = {}
        self.warm = warm and self._plan.namespaces and self._plan.unshare is not None
        self.warm_starts = 0

    @property
    def isolation_level(self) -> str:
        """The isolation every call of this sandbox gets, e.g. ``uid+userns+netns+...+rlimits``."""
        return self._plan.level(self.network)

    @property
    def uid(self) -> int | None:
        """The unprivileged uid children run as, or ``None`` when they keep the caller's."""
        return self._uid

    # -- working directories ------------------------------------------------------------

    def scratch_dir(self, prefix: str = "lemur-sandbox-") -> Path:
        """A fresh, empty working directory owned by the sandbox user; removed by :meth:`close`."""
        path = Path(tempfile.mkdtemp(prefix=prefix)).resolve()
        self._scratch.append(path)
        self._give_to_sandbox(path)
        return path

    def _give_to_sandbox(self, path: Path) -> None:
        if self._uid is None:
            return
        for root, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                with contextlib.suppress(OSError):
                    os.lchown(os.path.join(root, name), self._uid, self._uid)
        os.chown(path, self._uid, self._uid)

    def close(self) -> None:
        """Remove every scratch directory this sandbox made."""
        while self._scratch:
            shutil.rmtree(self._scratch.pop(), ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- running --------------------------------------------------------------------------

    def child_env(self, cwd: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The scrubbed environment a child sees (nothing of the caller's leaks through)."""
        env = {
            "PATH": _SAFE_PATH,
            "HOME": str(cwd),
            "TMPDIR": str(cwd),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(extra or {})
        return env

    def popen(
        self,
        command: Sequence[str] | str,
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        stdin: int | None = None,
        stdout: int | None = subprocess.PIPE,
        stderr: int | None = subprocess.PIPE,
        pass_fds: Sequence[int] = (),
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` under this sandbox's limits and isolation without waiting.

        The caller owns the process; :meth:`kill_tree` ends it and everything it started.
        Used by :class:`~lemur_agents.sandbox.session.PythonSession`; most callers want
        :meth:`run`.
        """
        argv, workdir = self._prepare(command, cwd)
        cgroup = self._call_cgroup()
        wrapped = wrap_argv(
            self._plan,
            argv,
            workdir=str(workdir),
            network=self.network,
            prlimit_args=self._prlimit_args(),
            cgroup=cgroup.path if cgroup is not None else None,
            hide=self.hidden_paths,
            keep_visible=self.visible_paths,
        )
        preexec = None if self._plan.prlimit is not None else self._set_rlimits
        try:
            proc = self._spawn(wrapped, workdir, env, stdin, stdout, stderr, pass_fds, preexec)
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            raise
        if cgroup is not None:
            self._cgroups[proc.pid] = cgroup
        return proc

    def _prepare(self, command: Sequence[str] | str, cwd: Path) -> tuple[list[str], Path]:
        workdir = Path(cwd).resolve()
        if not workdir.is_dir():
            raise FileNotFoundError(
                f"sandbox cwd {workdir} does not exist: create it first (Sandbox.scratch_dir())"
            )
        if any(workdir == s or s in workdir.parents for s in self._scratch):
            self._give_to_sandbox(workdir)
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        if not argv:
            raise ValueError("sandbox command is empty")
        return argv, workdir

    def _call_cgroup(self) -> CallCgroup | None:
        if self._plan.cgroup_root is None:
            return None
        # +3: the cgroup-enter shell + unshare (or the zygote's call process) and the
        # namespace's init are wrappers.
        return CallCgroup(self._plan.cgroup_root, self.limits.max_processes + 3)

    def _start_warm(
        self, command: Sequence[str] | str, cwd: Path, env: Mapping[str, str] | None, stdin: int
    ) -> _WarmChild | None:
        """Start the call from the zygote, or ``None`` when it cannot take it (run cold)."""
        argv, workdir = self._prepare(command, cwd)
        hide, keep, secrets = jail_args(self._plan, self.hidden_paths, self.visible_paths)
        rlimits = self.limits.rlimits()
        nproc = self._nproc()
        rlimits[resource.RLIMIT_NPROC] = (nproc, nproc)
        request = {
            "argv": argv,
            "env": self.child_env(workdir, env),
            "work": str(workdir),
            "hide": hide,
            "keep": keep,
            "secrets": secrets,
            "program": jail_program(self._plan, argv),
            "nocaps": self._plan.nocaps and self._plan.setpriv is not None,
            "network": self.network,
            "rlimits": [[res, soft, hard] for res, (soft, hard) in rlimits.items()],
            "uid": self._uid,
            # The same cap as a cold call's cgroup (see _call_cgroup).
            "pids_max": self.limits.max_processes + 3,
            # Where spares keep a way in to bind a working directory (scratch_dir makes them).
            "reach": ":".join(temp_roots()),
        }
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            call = warm.start_call(request, [stdin, out_w, err_w], self._plan.cgroup_root)
        except warm.ZygoteUnavailable:
            for fd in (out_r, err_r):
                os.close(fd)
            return None
        finally:
            os.close(out_w)
            os.close(err_w)
        self.warm_starts += 1
        return _WarmChild(call, out_r, err_r)

    def _spawn(
        self,
        wrapped: list[str],
        workdir: Path,
        env: Mapping[str, str] | None,
        stdin: int | None,
        stdout: int | None,
        stderr: int | None,
        pass_fds: Sequence[int],
        preexec: Callable[[], None] | None,
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            wrapped,
            cwd=workdir,
            env=self.child_env(workdir, env),
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            user=self._uid,
            group=self._uid,
            extra_groups=[] if self._uid is not None else None,
            preexec_fn=preexec,
            pass_fds=tuple(pass_fds),
            close_fds=True,
        )

    def _nproc(self) -> int:
        if self._uid is not None or self._plan.cgroup_root is not None:
            return self.limits.max_processes
        # Without a uid of its own the child shares RLIMIT_NPROC with every process of the
        # caller's user, so the budget is on top of what that user already runs.
        mine = 0
        uid = os.getuid()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if entry.stat().st_uid == uid:
                        mine += 1
        return mine + self.limits.max_processes

    def _prlimit_args(self) -> list[str]:
        args = [a for a in self.limits.prlimit_args() if not a.startswith("--nproc=")]
        return [*args, f"--nproc={self._nproc()}"]

    def _set_rlimits(self) -> None:
        for res, (soft, hard) in self.limits.rlimits().items():
            resource.setrlimit(res, (soft, hard))
        resource.setrlimit(resource.RLIMIT_NPROC, (self._nproc(), self._nproc()))

    def kill_tree(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL everything ``proc`` started: its process group, its pid namespace, and
        every member of its cgroup (which catches processes that left the group)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        cgroup = self._cgroups.get(proc.pid)
        if cgroup is not None:
            cgroup.kill_all()

    def release(self, proc: subprocess.Popen[bytes]) -> None:
        """Kill ``proc``'s tree, reap it, and free its cgroup. Safe to call twice."""
        self.kill_tree(proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        cgroup = self._cgroups.pop(proc.pid, None)
        if cgroup is not None:
            cgroup.remove()

    def run(
        self,
        command: Sequence[str] | str,
        *,
        cwd: Path,
        stdin: str | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run ``command`` (an argv list, or a string for ``/bin/sh -c``) to completion.

        Never raises for anything the program does: limits, crashes and timeouts are reported
        in the :class:`ExecResult`. ``timeout`` overrides ``limits.wall_seconds``.
        """
        wall = float(timeout) if timeout is not None else self.limits.wall_seconds
        result, jail_failed = self._run_once(command, cwd, stdin, wall, env, warm=self.warm)
        if jail_failed:
            # The zygote could not build this call's jail (it says so on the call's socket,
            # not only on stderr), so the program never ran: run it on the cold path instead.
            result, _ = self._run_once(command, cwd, stdin, wall, env, warm=False)
        return result

    def _run_once(
        self,
        command: Sequence[str] | str,
        cwd: Path,
        stdin: str | None,
        wall: float,
        env: Mapping[str, str] | None,
        *,
        warm: bool,
    ) -> tuple[ExecResult, bool]:
        """One call and whether it was a warm call whose jail failed before the program ran."""
        started = time.monotonic()
        with tempfile.TemporaryFile() as stdin_file:
            # A file, not a pipe: a child that never reads stdin cannot block the writer.
            stdin_file.write((stdin or "").encode("utf-8"))
            stdin_file.seek(0)
            child: _Child | None = None
            if warm:
                child = self._start_warm(command, cwd, env, stdin_file.fileno())
            if child is None:
                child = _ColdChild(
                    self, self.popen(command, cwd=cwd, env=env, stdin=stdin_file.fileno())
                )
        try:
            capture, timed_out, over_limit = self._collect(child, started + wall)
            exit_code, cpu_seconds = child.wait()
            out = b"".join(capture.chunks.get(child.stdout_fd, []))
            err = b"".join(capture.chunks.get(child.stderr_fd, []))
        finally:
            child.release()
        jail_failed = isinstance(child, _WarmChild) and child.jail_error is not None
        if self._plan.namespaces and 128 < exit_code <= 128 + 64:
            exit_code = 128 - exit_code  # the jail's init reports a signal as 128+N
        killed_reason: str | None = None
        if timed_out:
            killed_reason = "wall_timeout"
        elif over_limit:
            killed_reason = "output_limit"
        elif exit_code < 0:
            sig = signal.Signals(-exit_code)
            # A program that ignores SIGXCPU gets SIGKILL at the hard RLIMIT_CPU.
            if sig is signal.SIGKILL and cpu_seconds >= self.limits.cpu_seconds - 0.05:
                killed_reason = "cpu_limit"
            else:
                killed_reason = _KILL_REASONS.get(sig, f"signal {sig.name}")
        return ExecResult(
            stdout=out.decode("utf-8", errors="replace"),
            stderr=err.decode("utf-8", errors="replace"),
            exit_code=exit_code,
            timed_out=timed_out,
            truncated=capture.truncated,
            killed_reason=killed_reason,
            duration_s=time.monotonic() - started,
            isolation=self.isolation_level,
        ), jail_failed

    def _collect(self, child: _Child, deadline: float) -> tuple[_Capture, bool, bool]:
        """Read stdout/stderr until both close, the deadline passes or the cap is exceeded."""
        capture = _Capture()
        sel = selectors.DefaultSelector()
        for fd in (child.stdout_fd, child.stderr_fd):
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
            capture.chunks[fd] = []
        timed_out = over_limit = False
        exited_at: float | None = None
        try:
            while sel.get_map():
                now = time.monotonic()
                if now >= deadline:
                    timed_out = True
                    break
                if exited_at is None and child.has_exited():
                    exited_at = now
                    # The program is done: whatever of its group still runs is a background
                    # process trying to outlive the call. (A pid namespace already killed it.)
                    child.kill()
                if exited_at is not None and now - exited_at > 2.0:
                    break  # a descendant that left the group still holds the pipe: stop here
                for key, _ in sel.select(timeout=min(0.1, max(deadline - now, 0.0))):
                    fd = int(key.fd)
                    try:
                        data = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        sel.unregister(fd)
                        continue
                    room = self.limits.max_output_bytes - capture.total
                    if len(data) > room:
                        capture.chunks[fd].append(data[: max(room, 0)])
                        capture.total += max(room, 0)
                        capture.truncated = over_limit = True
                        break
                    capture.chunks[fd].append(data)
                    capture.total += len(data)
                if over_limit:
                    break
        finally:
            sel.close()
        if timed_out or over_limit:
            child.kill()
        return capture, timed_out, over_limit
