"""The persistent interpreter that :class:`PythonSession` runs inside the sandbox.

``python -I _session_server.py WORKDIR MAX_OUTPUT TOOLS_JSON``. Two processes:

* the **supervisor** (this script's main process) holds the host's pipes and never runs model
  code. It is not dumpable, so a process without capabilities (the sandbox drops them) can
  neither ptrace it nor open its ``/proc/PID/fd``, and it is a child subreaper, so every orphan
  of a cell is re-parented to it and found when the cell ends.
* the **worker**, forked from the supervisor, runs the cells and keeps their state. The host's
  pipes are closed in it; it talks to the supervisor over a socket whose every message carries
  the sender's pid (``SCM_CREDENTIALS``, checked by the kernel), so a cell's child processes
  cannot speak for the worker.

Host -> supervisor, one JSON line each: ``{"nonce", "code", "timeout", "cpu"}``, and, while a
cell waits on a host tool, the tool's answer ``{"nonce", "result" | "error"}``. Supervisor ->
host: ``{"status": "ready"}`` once, then per request ``{"nonce", "tool", "args", "kwargs"}`` for a
tool call and finally ``{"nonce", "status", "output", "truncated", "restarted", "reason",
"exit_code"}``. The host drops any line whose nonce is not the current request's.

Per cell the supervisor makes an unnamed capture file and hands it to the worker with the request
(the worker points fds 1 and 2 at it, so prints, C-level writes and subprocess output are all
caught; no path is involved, so a cell's ``os.chdir`` cannot break it). When the worker says it
is done, the deadline passes, the capture outgrows the output limit or the worker dies, the
supervisor kills every other process below it, reads at most ``MAX_OUTPUT + 1`` bytes of the
capture and answers. A worker that died, hung or left threads running (they could answer for
later cells) is replaced by a fresh fork of the supervisor — a clean interpreter — and the reply
says ``"restarted": true``. Standard library only.
"""

import ast
import contextlib
import ctypes
import fcntl
import io
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import time
import traceback
import types

_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_CHILD_SUBREAPER = 1, 4, 36
_GRACE = 1.5  # seconds a worker may overrun its cell's timeout before it is killed
_POLL = 0.05
_INLINE = 32 << 10  # messages larger than this travel as a file descriptor
_MAX_FDS = 4
_IGNORED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGPIPE")
_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option, value):  # type: ignore[no-untyped-def]
    _libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0)


def _tmpfile(directory):  # type: ignore[no-untyped-def]
    # An unnamed file: nothing in the sandbox can reach it by path.
    try:
        return os.open(directory, os.O_TMPFILE | os.O_RDWR, 0o600)
    except OSError:
        path = os.path.join(directory, f".lemur-{os.getpid()}-{time.monotonic_ns()}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.unlink(path)
        return fd


# -- framed messages over the supervisor <-> worker socket --------------------------------


def _send(sock, obj, fds=(), workdir="."):  # type: ignore[no-untyped-def]
    data = json.dumps(obj, default=str).encode("utf-8")
    if len(data) <= _INLINE:
        sock.sendmsg([b"J" + data], _fd_cmsg(fds))
        return
    big = _tmpfile(workdir)
    try:
        os.write(big, data)
        sock.sendmsg([b"F"], _fd_cmsg([*fds, big]))
    finally:
        os.close(big)


def _fd_cmsg(fds):  # type: ignore[no-untyped-def]
    if not fds:
        return []
    return [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))]


def _recv(sock):  # type: ignore[no-untyped-def]
    """One message: (object or None, received fds, sender pid or None); raises EOFError."""
    space = socket.CMSG_SPACE(_MAX_FDS * 4) + socket.CMSG_SPACE(struct.calcsize("iII"))
    data, ancillary, flags, _addr = sock.recvmsg(_INLINE + 1, space)
    if not data:
        raise EOFError
    fds, sender = [], None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += list(struct.unpack(f"{len(payload) // 4}i", payload[: len(payload) // 4 * 4]))
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            sender = struct.unpack("iII", payload[:12])[0]
    if flags & socket.MSG_CTRUNC:
        for fd in fds:
            os.close(fd)
        raise OSError("no room for the descriptors sent with a message")
    try:
        if data[:1] == b"F" and fds:
            big = fds.pop()
            data = b"J" + os.pread(big, 64 << 20, 0)
            os.close(big)
        obj = json.loads(data[1:]) if data[:1] == b"J" else None
    except (ValueError, OSError):
        obj = None
    return (obj if isinstance(obj, dict) else None), fds, sender


# -- the worker ------------------------------------------------------------------------------


class CellTimeout(Exception):
    pass


class CellOutputLimit(Exception):
    pass


# Set only while cell code runs: a late signal (SIGXCPU repeats, the supervisor's SIGUSR1 may
# race the end of a cell) must not raise inside the worker's own loop.
_IN_CELL = [False]


def _on_alarm(signum, frame):  # type: ignore[no-untyped-def]
    if _IN_CELL[0]:
        raise CellTimeout(
            "timed out" if signum == signal.SIGALRM else "exceeded its CPU time limit"
        )


def _on_output_limit(signum, frame):  # type: ignore[no-untyped-def]
    if _IN_CELL[0]:
        raise CellOutputLimit("the cell's output exceeded the size limit")


def _run_cell(code, namespace):  # type: ignore[no-untyped-def]
    tree = ast.parse(code, filename="<cell>", mode="exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body.pop()
    exec(compile(tree, "<cell>", "exec"), namespace)
    if last is not None:
        # "single" mode prints the value of a trailing expression, as an interactive prompt does.
        exec(compile(ast.Interactive(body=[last]), "<cell>", "single"), namespace)


def _host_tool(name, sock, state):  # type: ignore[no-untyped-def]
    # A stand-in for a tool that runs on the host (search, ...): the call travels to the
    # supervisor, which asks the host, and this blocks until the answer comes back.
    def call(*args, **kwargs):  # type: ignore[no-untyped-def]
        request = {"nonce": state["nonce"], "tool": name, "args": list(args), "kwargs": kwargs}
        _send(sock, request, (), state["workdir"])
        while True:
            answer, fds, _ = _recv(sock)
            for fd in fds:
                os.close(fd)
            if answer is not None and answer.get("nonce") == state["nonce"]:
                break
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer.get("result")

    call.__name__ = name
    return call


def _reap_children():  # type: ignore[no-untyped-def]
    # Children of earlier cells were killed by the supervisor; collect them so that their
    # zombies do not use up the sandbox's process budget.
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _null_stdio(fds):  # type: ignore[no-untyped-def]
    # A cell may have closed any of fds 0-2, so /dev/null may open as one of them itself.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in fds:
        if fd != null:
            os.dup2(null, fd)
    if null not in fds:
        os.close(null)


def _above_stdio(fd):  # type: ignore[no-untyped-def]
    # A received descriptor lands on the lowest free number, which is 0-2 if a cell closed
    # one: move it up, or pointing fds 1 and 2 at it and closing it would lose it.
    if fd > 2:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 3)
    os.close(fd)
    return moved


def _worker(sock, tools, workdir):  # type: ignore[no-untyped-def]
    me = os.getpid()
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    _prctl(_PR_SET_DUMPABLE, 1)
    for name in _IGNORED:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as in any Python process
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGXCPU, _on_alarm)
    signal.signal(signal.SIGUSR1, _on_output_limit)
    _null_stdio((0, 1, 2))
    os.closerange(3, sock.fileno())
    os.closerange(sock.fileno() + 1, 1 << 16)
    # Unbuffered, created once: no bytes of an earlier cell can linger in a buffer and be
    # flushed into a later cell's output (a write past the size limit fails and is dropped).
    stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
    stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), write_through=True, errors="backslashreplace"
    )
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main  # `import __main__` and pickle see the cell namespace
    sys.argv = [""]
    namespace = main.__dict__
    state = {"nonce": None, "workdir": workdir}
    for name in tools:
        namespace[name] = _host_tool(name, sock, state)
    _send(sock, {"ready": True})
    while True:
        try:
            header, fds, _ = _recv(sock)
        except (EOFError, OSError):
            os._exit(0)
        if header is None or "nonce" not in header or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue  # a late tool answer, or noise
        capture, request_fd = (_above_stdio(fd) for fd in fds)
        request = json.loads(os.pread(request_fd, 256 << 20, 0))
        os.close(request_fd)
        state["nonce"] = header["nonce"]
        _send(sock, {"nonce": header["nonce"], "started": True})
        _reap_children()
        _null_stdio((0,))
        os.dup2(capture, 1)
        os.dup2(capture, 2)
        os.close(capture)
        sys.stdout, sys.stderr = stdout, stderr
        status = _execute(request, namespace)
        if os.getpid() != me:
            os._exit(0)  # a child forked by the cell came back here: it must not answer
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a cell may have closed or replaced it
                stream.flush()
        _null_stdio((1, 2))  # what runs on after the cell writes nowhere
        try:
            _send(sock, {"nonce": header["nonce"], "done": status})
        except OSError:
            os._exit(3)  # the cell closed the socket: nothing can be reported any more


def _execute(request, namespace):  # type: ignore[no-untyped-def]
    status = "ok"
    used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used + float(request.get("cpu", 10))) + 1
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    try:
        _IN_CELL[0] = True
        try:
            signal.setitimer(signal.ITIMER_REAL, float(request.get("timeout", 10)))
            _run_cell(str(request.get("code", "")), namespace)
        finally:
            _IN_CELL[0] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    except CellTimeout as exc:
        status = "timeout"
        _report(f"CellTimeout: the cell {exc}\n")
    except CellOutputLimit:
        status = "output_limit"
    except BaseException as exc:  # the cell's errors are its output, never the server's
        status = "error"
        tb = exc.__traceback__
        # Drop this server's own frames so the model sees only its code.
        while tb is not None and tb.tb_frame.f_code.co_filename != "<cell>":
            tb = tb.tb_next
        _report("".join(traceback.format_exception(type(exc), exc, tb)))
    return status


def _report(text):  # type: ignore[no-untyped-def]
    with contextlib.suppress(Exception):  # e.g. the capture file is at its size limit
        os.write(2, text.encode("utf-8", errors="replace"))


# -- the supervisor --------------------------------------------------------------------------


def _proc_table():  # type: ignore[no-untyped-def]
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2 :].split()
        table[int(name)] = (int(fields[1]), fields[0] == b"Z")
    return table


def _threads(pid):  # type: ignore[no-untyped-def]
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Supervisor:
    """Serves the host's requests, one cell at a time, with a replaceable worker."""

    def __init__(self, workdir, max_output, tools, host_in, host_out):  # type: ignore[no-untyped-def]
        self.workdir = workdir
        self.max_output = max_output
        self.tools = tools
        self.host_in = host_in
        self.host_out = host_out
        self.host_buffer = b""
        self.worker = None  # pid of the live (or not yet reaped) worker
        self.sock = None
        self.worker_exit = None  # its exit status once reaped

    # the worker's life

    def spawn(self):  # type: ignore[no-untyped-def]
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        mine.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        pid = os.fork()
        if pid == 0:
            mine.close()
            try:
                _worker(theirs, self.tools, self.workdir)
            finally:
                os._exit(1)
        theirs.close()
        self.worker, self.sock, self.worker_exit = pid, mine, None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.alive():
            message = self.from_worker(deadline)
            if message is not None and message.get("ready"):
                return
        raise SystemExit("the interpreter worker did not start")

    def alive(self):  # type: ignore[no-untyped-def]
        return self.worker is not None and self.worker_exit is None

    def kill_worker(self):  # type: ignore[no-untyped-def]
        """Kill and reap the worker; ``worker_exit`` keeps its status."""
        pid = self.worker
        if pid is not None and self.worker_exit is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                _, status = os.waitpid(pid, 0)
                self.worker_exit = os.waitstatus_to_exitcode(status)
        if self.sock is not None:
            self.sock.close()
        self.worker, self.sock = None, None

    def reap(self):  # type: ignore[no-untyped-def]
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.worker:
                self.worker_exit = os.waitstatus_to_exitcode(status)

    def kill_strays(self):  # type: ignore[no-untyped-def]
        """SIGKILL every process below this one except the worker, until none is left.

        A scan of /proc is not atomic: a process listed alive that forks and exits during the
        scan shows as a zombie while its new child was not listed. So the scans stop only at
        one that finds nothing alive and no zombie that was not already dead in the scan
        before (a process dead then cannot have forked since), or at one that finds nothing at
        all (an exited process stays a zombie until reaped, and no one reaps during a scan).
        """
        me = os.getpid()
        dead_before = None
        for _ in range(500):
            children: dict[int, list[int]] = {}
            zombies = set()
            for pid, (ppid, zombie) in _proc_table().items():
                children.setdefault(ppid, []).append(pid)
                if zombie:
                    zombies.add(pid)
            alive, frontier, dead = [], [me], set()
            while frontier:
                for pid in children.get(frontier.pop(), ()):
                    frontier.append(pid)
                    if pid in zombies:
                        dead.add(pid)
                    elif pid != self.worker:
                        alive.append(pid)
            # Nothing below but the worker, not even a zombie: nothing ran during the scan.
            if not alive and (not dead or (dead_before is not None and dead <= dead_before)):
                break
            for pid in alive:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            self.reap()
            dead_before = dead if not alive else None
            if alive:
                time.sleep(0.002)
        self.reap()

    def from_worker(self, deadline):  # type: ignore[no-untyped-def]
        """The next message the worker itself sent before ``deadline``, or None."""
        remaining = deadline - time.monotonic()
        if self.sock is None or remaining <= 0:
            return None
        ready, _, _ = select.select([self.sock], [], [], min(remaining, _POLL))
        self.reap()
        if not ready:
            return None
        try:
            message, fds, sender = _recv(self.sock)
        except (EOFError, OSError):
            self.kill_worker()  # it closed its end: it can never report again
            return None
        for fd in fds:
            os.close(fd)
        # The kernel vouches for the sender's pid: a cell's child processes cannot forge it.
        return message if sender == self.worker else None

    # the host's side

    def host_line(self):  # type: ignore[no-untyped-def]
        while b"\n" not in self.host_buffer:
            chunk = os.read(self.host_in, 1 << 16)
            if not chunk:
                return None
            self.host_buffer += chunk
        line, self.host_buffer = self.host_buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except ValueError:
            return {}
        return message if isinstance(message, dict) else {}

    def to_host(self, obj):  # type: ignore[no-untyped-def]
        data = json.dumps(obj).encode("utf-8") + b"\n"
        while data:
            data = data[os.write(self.host_out, data) :]

    def serve(self):  # type: ignore[no-untyped-def]
        self.spawn()
        self.to_host({"status": "ready"})
        while True:
            request = self.host_line()
            if request is None:
                return
            if "code" in request and "nonce" in request:
                self.to_host(self.run_cell(request))
            # anything else is a host tool's late answer to a cell that already ended

    def run_cell(self, request):  # type: ignore[no-untyped-def]
        nonce = request["nonce"]
        restarted, reason, exit_code = False, None, None
        self.reap()
        if not self.alive():
            # Killed between cells (by a cell's child, a signal ...): its state is gone.
            restarted, reason, exit_code = True, "interpreter_crashed", self.worker_exit
            self.kill_worker()
            self.spawn()
        timeout = float(request.get("timeout", 10))
        capture = _tmpfile(self.workdir)
        status = self.start_cell(request, capture)
        if status == "not_started":
            # The worker died before it took the cell (a descriptor table filled by the last
            # cell, a stray signal): the cell has not run, so run it on a fresh one.
            restarted, reason, exit_code = True, "interpreter_crashed", self.worker_exit
            self.kill_worker()
            self.kill_strays()
            self.spawn()
            status = self.start_cell(request, capture)
        if status == "started":
            status = self.wait_done(nonce, capture, time.monotonic() + timeout + _GRACE)
        elif status == "not_started":
            status = None
        self.kill_strays()
        self.reap()
        if status is None:
            status, reason = ("timeout", "wall_timeout") if self.alive() else ("crashed", None)
        elif not self.alive():
            status = "crashed"  # killed as the cell ended, e.g. by one of its children
        elif _threads(self.worker) > 1:
            time.sleep(0.05)  # a thread that is just finishing is no danger
            if _threads(self.worker) > 1:
                status, reason = "crashed", "threads_left"
        if status == "crashed" or reason == "wall_timeout":
            restarted = True
            reason = reason or "interpreter_crashed"
            self.kill_worker()
            exit_code = self.worker_exit
            self.kill_strays()
            self.spawn()
        data = os.pread(capture, self.max_output + 1, 0)
        os.close(capture)
        return {
            "nonce": nonce,
            "status": status,
            "output": data[: self.max_output].decode("utf-8", errors="replace"),
            "truncated": len(data) > self.max_output or status == "output_limit",
            "restarted": restarted,
            "reason": reason,
            "exit_code": exit_code,
        }

    def start_cell(self, request, capture):  # type: ignore[no-untyped-def]
        """Hand the cell to the worker: "started", "not_started" (it died first) or None."""
        body = _tmpfile(self.workdir)
        try:
            os.write(body, json.dumps(request).encode("utf-8"))
            _send(self.sock, {"nonce": request["nonce"]}, [capture, body], self.workdir)
        except OSError:
            self.kill_worker()
            return "not_started"
        finally:
            os.close(body)
        deadline = time.monotonic() + float(request.get("timeout", 10)) + _GRACE
        while time.monotonic() < deadline and self.alive():
            message = self.from_worker(deadline)
            if message is not None and message.get("nonce") == request["nonce"]:
                if message.get("started"):
                    return "started"
                if "done" in message:  # a cell can forge this much about itself, no more
                    return str(message["done"])
        return None if self.alive() else "not_started"

    def wait_done(self, nonce, capture, deadline):  # type: ignore[no-untyped-def]
        """The cell's status once the worker reports it, or None if it died or overran."""
        flooded = False
        while time.monotonic() < deadline and self.alive():
            message = self.from_worker(deadline)
            pid = self.worker
            if not flooded and pid is not None and os.fstat(capture).st_size > self.max_output:
                flooded = True  # interrupt the cell once, as a timeout would
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGUSR1)
            if message is None or message.get("nonce") != nonce:
                continue
            if "done" in message:
                return str(message["done"])
            if "tool" in message:
                self.forward_tool(message)
        return None

    def forward_tool(self, message):  # type: ignore[no-untyped-def]
        if message.get("tool") not in self.tools:
            answer = {"nonce": message["nonce"], "error": f"no tool {message.get('tool')!r}"}
        else:
            self.to_host(
                {
                    "nonce": message["nonce"],
                    "tool": message["tool"],
                    "args": message.get("args") or [],
                    "kwargs": message.get("kwargs") or {},
                }
            )
            answer = None
            while answer is None:
                line = self.host_line()
                if line is None:
                    raise SystemExit(0)
                if line.get("nonce") == message["nonce"] and "code" not in line:
                    answer = line
        with contextlib.suppress(OSError):
            _send(self.sock, answer, (), self.workdir)


def main():  # type: ignore[no-untyped-def]
    workdir, max_output = sys.argv[1], int(sys.argv[2])
    tools = json.loads(sys.argv[3]) if len(sys.argv) > 3 else []
    _prctl(_PR_SET_DUMPABLE, 0)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    for name in _IGNORED:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    host_in, host_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    Supervisor(workdir, max_output, tools, host_in, host_out).serve()


if __name__ == "__main__":
    main()
