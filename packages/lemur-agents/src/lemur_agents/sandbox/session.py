"""A persistent sandboxed Python interpreter: state survives across calls, as MINT's does."""

from __future__ import annotations

import json
import os
import secrets
import select
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from lemur_agents.sandbox.limits import SandboxLimits
from lemur_agents.sandbox.process import ExecResult, Sandbox

_SERVER = Path(__file__).with_name("_session_server.py")
# CPU time of the whole interpreter; each cell gets ``limits.cpu_seconds`` of it (soft limit
# moved per cell by the server), so a long session is not killed by its history.
_SESSION_CPU_FACTOR = 1000
_STARTUP_SECONDS = 30.0
# The server gives a cell 1.5 s past its timeout, then needs a moment to kill and restart it.
_GRACE_SECONDS = 4.0
# One BLAS/OpenMP thread: thread pools would outlive a cell, and the server restarts an
# interpreter whose cell left threads running (they could act in later cells).
_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_RESTART_NOTES = {
    "threads_left": "the cell left threads running, so",
    "wall_timeout": "the cell did not stop at its timeout, so",
    "interpreter_crashed": "the interpreter crashed, so",
}


class PythonSession:
    """``PythonSession(limits).run(code) -> ExecResult``; ``close()`` ends it.

    Variables, imports and functions defined by one call are visible to the next. A trailing
    expression is echoed like an interactive prompt. Each call has a wall-clock ``timeout``
    (default ``limits.wall_seconds``) and ``limits.cpu_seconds`` of CPU: a Python-level timeout
    interrupts the cell and keeps the state. Every process a cell starts is killed when the cell
    ends. A cell stuck in C code past the grace period, one that crashes the interpreter or
    leaves threads running gets a fresh interpreter: the result says so (``restarted``,
    ``killed_reason``, a note in the output) and ``restarts`` counts them.
    Output is stdout and stderr interleaved in ``stdout``, capped at ``limits.max_output_bytes``.
    ``tools`` are host functions the code may call by name (``wikipedia_search("x")``, as in
    MINT): the call crosses the sandbox boundary as JSON, the function runs here. Cell code
    cannot reach the channel to the host (see ``_session_server.py``).
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        network: bool = False,
        python: str | None = None,
        tools: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        base = (limits or SandboxLimits()).clamped()
        self.limits = base
        session_limits = base.model_copy(
            update={"cpu_seconds": base.cpu_seconds * _SESSION_CPU_FACTOR}
        ).clamped()
        # The server script must stay readable even when its package lives in a hidden home.
        self.sandbox = Sandbox(
            session_limits, network=network, visible_paths=(str(_SERVER.parent),)
        )
        self.python = python or sys.executable
        self.workdir = self.sandbox.scratch_dir(prefix="lemur-pysession-")
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self.restarts = 0
        self.tools = dict(tools or {})
        for tool in self.tools:
            if not tool.isidentifier():
                raise ValueError(f"tool name {tool!r} is not a Python identifier")

    @property
    def isolation_level(self) -> str:
        """The sandbox isolation the interpreter runs under."""
        return self.sandbox.isolation_level

    def _start(self) -> subprocess.Popen[bytes]:
        proc = self.sandbox.popen(
            [
                self.python,
                "-I",
                str(_SERVER),
                str(self.workdir),
                str(self.limits.max_output_bytes),
                json.dumps(sorted(self.tools)),
            ],
            cwd=self.workdir,
            env=_THREAD_ENV,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._proc = proc
        self._buffer = b""
        reply = self._read_reply(time.monotonic() + _STARTUP_SECONDS, None)
        if reply is None or reply.get("status") != "ready":
            self._kill()
            raise RuntimeError(
                f"the sandboxed interpreter {self.python} did not start; check that the "
                "sandbox user can execute it (isolation: " + self.isolation_level + ")"
            )
        return proc

    def _read_reply(self, deadline: float, nonce: str | None) -> dict[str, Any] | None:
        """The server's next line for request ``nonce`` (lines for other requests are dropped)."""
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        while True:
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
                if not ready:
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return None
                self._buffer += chunk
            line, self._buffer = self._buffer.split(b"\n", 1)
            try:
                reply = json.loads(line)
            except ValueError:
                continue
            if isinstance(reply, dict) and reply.get("nonce") == nonce:
                return reply

    def _kill(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        self.sandbox.release(proc)
        code = proc.returncode
        return None if code is None else int(code)

    def _send(self, proc: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(message, default=str).encode("utf-8") + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # the server died; reading its reply sees EOF

    def run(self, code: str, *, timeout: float | None = None) -> ExecResult:
        """Execute ``code`` in the session; never raises for anything the code does."""
        wall = float(timeout) if timeout is not None else self.limits.wall_seconds
        started = time.monotonic()
        restarted = False
        proc = self._proc if self._proc is not None and self._proc.poll() is None else None
        if proc is None:
            if self._proc is not None:
                self._kill()
                self.restarts += 1
                restarted = True
            proc = self._start()
        # A fresh nonce per request: a reply to anything else is never taken for this one.
        nonce = secrets.token_hex(8)
        self._send(
            proc, {"nonce": nonce, "code": code, "timeout": wall, "cpu": self.limits.cpu_seconds}
        )
        deadline = started + wall + _GRACE_SECONDS
        reply = self._read_reply(deadline, nonce)
        while reply is not None and "tool" in reply:
            self._answer_tool(proc, reply)
            reply = self._read_reply(deadline, nonce)
        if reply is None:
            timed_out = time.monotonic() >= deadline
            exit_code = self._kill()
            self.restarts += 1
            reason = "wall_timeout" if timed_out else "interpreter_crashed"
            return ExecResult(
                stdout=self._restart_note(reason),
                stderr="",
                exit_code=exit_code if exit_code is not None else -9,
                timed_out=timed_out,
                killed_reason=reason,
                duration_s=time.monotonic() - started,
                isolation=self.isolation_level,
                restarted=True,
            )
        return self._result(reply, started, restarted)

    def _result(self, reply: dict[str, Any], started: float, restarted: bool) -> ExecResult:
        status = str(reply.get("status"))
        output = str(reply.get("output", ""))
        reason = reply.get("reason")
        if reply.get("restarted"):
            self.restarts += 1
            restarted = True
            output += self._restart_note(str(reason))
        killed_reason: str | None
        if status == "timeout":
            killed_reason = "wall_timeout"
        elif status == "output_limit":
            killed_reason = "output_limit"
        elif status == "crashed":
            killed_reason = str(reason or "interpreter_crashed")
        else:
            killed_reason = None
        exit_code = {"ok": 0, "crashed": reply.get("exit_code")}.get(status, 1)
        return ExecResult(
            stdout=output,
            stderr="",
            exit_code=int(exit_code) if exit_code is not None else -9,
            timed_out=status == "timeout",
            truncated=bool(reply.get("truncated", False)),
            killed_reason=killed_reason,
            duration_s=time.monotonic() - started,
            isolation=self.isolation_level,
            restarted=restarted,
        )

    @staticmethod
    def _restart_note(reason: str) -> str:
        why = _RESTART_NOTES.get(reason)
        what = "the interpreter was restarted: variables from earlier calls are lost"
        return f"\n[{why} {what}]\n" if why else f"\n[{what}]\n"

    def _answer_tool(self, proc: subprocess.Popen[bytes], request: dict[str, Any]) -> None:
        name = str(request["tool"])
        try:
            args = request.get("args") or []
            kwargs = request.get("kwargs") or {}
            answer: dict[str, Any] = {"result": self.tools[name](*args, **kwargs)}
        except Exception as exc:  # the tool's failure is the cell's exception, not ours
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        self._send(proc, {"nonce": request.get("nonce"), **answer})

    def close(self) -> None:
        """End the interpreter and remove its working directory."""
        self._kill()
        self.sandbox.close()

    def __enter__(self) -> PythonSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
