"""Warm start of sandboxed calls: ``python -I -S _zygote.py FD [CGROUP_ROOT]``.

A small, single-threaded server started once per host process by
:mod:`lemur_agents.sandbox.warm`. It has already paid for what every cold call pays again (the
interpreter's start-up and imports, the ``sh``/``prlimit``/``unshare``/``setpriv`` executables,
the jail's own Python start), so a call costs a few system calls, the jail's mounts and the
program's ``exec``. The zygote stays in the host's namespaces and never runs a program: each
call gets namespaces, mounts and a process tree of its own, exactly as a cold call does,
because anything shared between calls (a network namespace's abstract sockets, a mount
namespace's tmpfs covers, a pid namespace) would let one call see another.

FD is a ``SOCK_SEQPACKET`` socket to the host; one message per call: a JSON request and four
descriptors (the call's stdin, stdout, stderr and a fresh socket for its reports). The zygote
keeps ``_SPARES`` **spares** forked ahead of time, each in a new session and (as root with a
pids hierarchy at CGROUP_ROOT) in a fresh cgroup of its own capped at one process; the spares
read the requests themselves, and each one taken is replaced at once. The spare that takes a
request becomes the call's **call process** (``unshare(1)`` of the cold chain):

1. sets the cgroup's ``pids.max`` for the call, drops to the call's uid, sets the rlimits
   (what the ``cgroup-enter`` shell, ``Popen(user=...)`` and ``prlimit(1)`` do cold);
2. unshares user, mount, pid and (without network) net namespaces, maps itself to root and makes
   every mount private (``unshare -Ur[n]pm``);
3. forks the **init** (pid 1 of the new pid namespace, killed if the call process dies), which
   mounts a fresh ``/proc`` and builds the jail with the very code ``_jail.py`` runs cold
   (:func:`_jail.build`), then forks the program: default signals, the stdio only, an emptied
   capability bounding set, no inheritable capabilities and ``no_new_privs`` (what ``setpriv``
   does cold), and ``execvpe``; it exits with the program's status, a signal N as 128+N;
4. reports ``{"pid": INIT_PID, "cgroup": PATH}`` on the call socket, then ``{"code", "cpu"}``
   (the init's exit code and the CPU seconds of the init and all it reaped) once the init has
   exited — by then the kernel has killed and reaped everything else in the pid namespace.

The host ends a call early by sending ``b"k"`` on the call socket or closing it: the call process
SIGKILLs the init, and the kernel kills the rest of its pid namespace. The zygote reaps each call
process and removes its cgroup (off the host's critical path). When the host closes FD the
spares and the zygote exit. Standard library only.
"""

import _signal
import contextlib
import ctypes
import json
import os
import resource
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _jail  # found next to this file (-I leaves the script's directory out of sys.path)

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
_CAP_VERSION_3 = 0x20080522
_MAX_REQUEST = 1 << 20
_SPARES = 2  # call processes waiting for a request: two calls may start at once
_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _fail(message, code=125):  # type: ignore[no-untyped-def]
    os.write(2, f"sandbox jail: {message}\n".encode())
    os._exit(code)


def _write(path, text):  # type: ignore[no-untyped-def]
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _drop_capabilities(last_cap):  # type: ignore[no-untyped-def]
    """``setpriv --bounding-set=-all --inh-caps=-all --no-new-privs``, in this process."""
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc.capget(ctypes.byref(header), data) != 0:
        _fail(f"capget failed: errno {ctypes.get_errno()}", 127)
    data[0].inheritable = data[1].inheritable = 0
    if _libc.capset(ctypes.byref(header), data) != 0:
        _fail(f"cannot clear the inheritable capabilities: errno {ctypes.get_errno()}", 127)
    for cap in range(last_cap + 1):
        if _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0:
            _fail(f"cannot drop capability {cap}: errno {ctypes.get_errno()}", 127)
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), 0, 0, 0) != 0:
        _fail(f"cannot set no_new_privs: errno {ctypes.get_errno()}", 127)


def _program(request, last_cap):  # type: ignore[no-untyped-def]
    """The program process: as the cold chain leaves it after ``setpriv``, then exec."""
    _jail.restore_signals()
    os.closerange(3, 1 << 20)
    argv, env = request["argv"], request["env"]
    if request["nocaps"]:
        _drop_capabilities(last_cap)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        if request["nocaps"]:
            # What setpriv(1), which execs the program in the cold chain, says and returns.
            code = 127 if isinstance(exc, FileNotFoundError) else 126
            os.write(2, f"setpriv: failed to execute {argv[0]}: {exc.strerror}\n".encode())
            os._exit(code)
        _fail(f"cannot execute {argv[0]}: {exc}")


def _init(request, last_cap):  # type: ignore[no-untyped-def]
    """pid 1 of the call's pid namespace: /proc, the jail's mounts, then the program."""
    # Python's SIGINT handler would let a sandboxed process raise KeyboardInterrupt here.
    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
    _libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(_signal.SIGKILL), 0, 0, 0)
    os.closerange(3, 1 << 20)
    mount = _jail.libc_mount()
    # unshare --mount-proc: a /proc that shows only this pid namespace.
    if mount(b"none", b"/proc", None, MS_PRIVATE | MS_REC, None) != 0:
        _fail(f"cannot make /proc private: errno {ctypes.get_errno()}")
    if mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, None) != 0:
        _fail(f"cannot mount /proc: errno {ctypes.get_errno()}")
    work = request["work"]
    os.chdir(work)
    name = request["program"]
    path = request["env"].get("PATH", os.defpath)
    program = _jail._which(name, path) if name else None
    # The same strings, split the same way, as the cold jail's command line.
    hidden, keep = _jail.split(request["hide"]), _jail.split(request["keep"])
    secrets = [p for p in request["secrets"].split("\n") if p]
    _jail.build(mount, work, hidden, keep, secrets, program)
    pid = os.fork()
    if pid == 0:
        _program(request, last_cap)
    _jail.wait_exit(pid)


def _send(sock, message):  # type: ignore[no-untyped-def]
    with contextlib.suppress(OSError):  # the host gave up on the call
        sock.send(json.dumps(message).encode())


def _call(request, fds, cgroup, last_cap):  # type: ignore[no-untyped-def]
    """The call process, once a spare has its request (see the module docstring)."""
    stdin, stdout, stderr, reply_fd = fds
    for target, fd in enumerate((stdin, stdout, stderr)):
        os.dup2(fd, target)
    for fd in (stdin, stdout, stderr):
        if fd > 2:
            os.close(fd)
    reply = socket.socket(fileno=reply_fd)
    if cgroup is not None:
        try:  # the spare holds only itself so far; now the call's own process cap
            _write(os.path.join(cgroup, "pids.max"), str(request["pids_max"]))
        except OSError as exc:
            _fail(f"cannot set the cgroup's process cap: {exc}")
    uid = request["uid"]
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    for res, soft, hard in request["rlimits"]:
        resource.setrlimit(res, (soft, hard))
    euid, egid = os.geteuid(), os.getegid()
    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID
    if not request["network"]:
        flags |= CLONE_NEWNET
    if _libc.unshare(flags) != 0:
        _fail(f"unshare failed: errno {ctypes.get_errno()}")
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {euid} 1")
        _write("/proc/self/gid_map", f"0 {egid} 1")
    except OSError as exc:
        _fail(f"cannot map the namespace's root: {exc}")
    mount = _jail.libc_mount()
    if mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        _fail(f"cannot make the mounts private: errno {ctypes.get_errno()}")
    try:
        init = os.fork()
    except OSError as exc:
        _fail(f"cannot fork the init: {exc}")
    if init == 0:
        reply.close()
        _init(request, last_cap)
    # The init and the program hold the stdio now; without these copies EOF means the end.
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(null, target)
    os.close(null)
    _send(reply, {"pid": init, "cgroup": cgroup})
    watched = select.poll()
    pidfd = os.pidfd_open(init)
    watched.register(pidfd, select.POLLIN)
    watched.register(reply.fileno(), select.POLLIN)
    while True:
        for fd, _event in watched.poll():
            if fd == pidfd:
                _, status, usage = os.wait4(init, 0)
                code = os.waitstatus_to_exitcode(status)
                _send(reply, {"code": code, "cpu": usage.ru_utime + usage.ru_stime})
                os._exit(0)
            # b"k" or EOF: the host ends the call; the kernel kills the rest of the namespace.
            with contextlib.suppress(OSError):
                os.kill(init, _signal.SIGKILL)
            watched.unregister(reply.fileno())


def _leave(cgroup):  # type: ignore[no-untyped-def]
    """A spare that will serve no call: out of its cgroup, remove it, exit."""
    if cgroup is not None:
        with contextlib.suppress(OSError):
            _write(os.path.join(os.path.dirname(cgroup), "cgroup.procs"), str(os.getpid()))
            os.rmdir(cgroup)
    os._exit(0)


def _spare(ctrl, notify, life, cgroup, last_cap):  # type: ignore[no-untyped-def]
    """A call process forked ahead of its request; never returns.

    It has already left the zygote's session and joined its own cgroup (moving a process
    between cgroups waits for an RCU grace period, milliseconds on a busy machine: paid here,
    while the previous call runs). It takes the next request from the host's channel itself,
    and leaves when the host closes the channel or the zygote dies (EOF on ``life``).
    """
    os.setsid()
    if cgroup is not None:
        # Made here, not in the zygote: a zygote killed between mkdir and fork would leak it.
        try:
            os.mkdir(cgroup)
        except OSError:
            os._exit(3)  # an unusable spare: the zygote counts it
        try:
            _write(os.path.join(cgroup, "pids.max"), "1")
            _write(os.path.join(cgroup, "cgroup.procs"), str(os.getpid()))
        except OSError:
            with contextlib.suppress(OSError):
                os.rmdir(cgroup)
            os._exit(3)
    watch = select.poll()
    watch.register(ctrl.fileno(), select.POLLIN)
    watch.register(life, select.POLLIN)
    while True:
        events = dict(watch.poll())
        if life in events:
            _leave(cgroup)  # the zygote died: no one would reap this call or remove its cgroup
        try:
            data, fds, _flags, _addr = socket.recv_fds(ctrl, _MAX_REQUEST, 4, socket.MSG_DONTWAIT)
            break
        except (BlockingIOError, InterruptedError):
            continue  # another spare took it
    os.close(life)
    if not data and not fds:
        _leave(cgroup)  # the host closed its end
    with contextlib.suppress(OSError):  # the zygote forks the next spare
        os.write(notify, struct.pack("i", os.getpid()))
    os.close(notify)
    ctrl.close()
    try:
        request = json.loads(data)
    except ValueError:
        request = None
    if not isinstance(request, dict) or len(fds) != 4:
        os._exit(0)
    watch = select.poll()
    watch.register(fds[3], 0)
    if watch.poll(0):
        os._exit(0)  # the host gave up waiting for this call and ran it cold
    try:
        _call(request, fds, cgroup, last_cap)
    except BaseException as exc:  # the call's stderr is fd 2 once _call has begun
        _fail(f"call set-up failed: {exc!r}")
    finally:
        os._exit(125)


def _remove_cgroup(path):  # type: ignore[no-untyped-def]
    """rmdir a finished call's cgroup, killing what is left in it; False: try again later."""
    try:
        os.rmdir(path)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        pass
    try:
        with open(os.path.join(path, "cgroup.procs")) as handle:
            members = [int(line) for line in handle.read().split()]
    except OSError:
        members = []
    for pid in members:
        with contextlib.suppress(OSError):
            os.kill(pid, _signal.SIGKILL)
    return False


class _Zygote:
    """The spares, the call processes they became, and their cgroups."""

    def __init__(self, ctrl, cgroup_root, last_cap):  # type: ignore[no-untyped-def]
        self.ctrl, self.cgroup_root, self.last_cap = ctrl, cgroup_root, last_cap
        self.prefix = f"lemur-{os.getppid()}-"
        self.notify_r, self.notify_w = os.pipe()
        # Only the zygote holds life_w: the spares see EOF on life_r when it dies.
        self.life_r, self.life_w = os.pipe()
        self.children = {}  # pidfd -> (pid, cgroup)
        self.spares = set()
        self.leftover = []  # cgroups still busy, with the attempts made
        self.unused_deaths = 0
        self.missing = 0  # spares that could not be forked yet (retried on the next tick)
        self.poll = select.poll()
        self.poll.register(self.notify_r, select.POLLIN)
        self.poll.register(ctrl.fileno(), 0)  # POLLHUP only: the spares read the requests

    def sweep(self):  # type: ignore[no-untyped-def]
        """Remove empty cgroups a killed zygote of this host left (its last calls' ones)."""
        if not self.cgroup_root:
            return
        for name in os.listdir(self.cgroup_root):
            if not name.startswith(self.prefix + "z"):
                continue
            owner = name[len(self.prefix) + 1 :].split("-", 1)[0]
            if not owner.isdigit() or int(owner) == os.getpid():
                continue
            try:
                os.kill(int(owner), 0)
                continue  # that zygote still runs
            except ProcessLookupError:
                pass
            except OSError:
                continue
            with contextlib.suppress(OSError):  # fails while the cgroup has members
                os.rmdir(os.path.join(self.cgroup_root, name))

    def fork_spare(self):  # type: ignore[no-untyped-def]
        try:
            self._fork_spare()
        except OSError:
            self.missing += 1

    def _fork_spare(self):  # type: ignore[no-untyped-def]
        cgroup = None
        if self.cgroup_root:
            name = f"{self.prefix}z{os.getpid()}-{os.urandom(6).hex()}"
            cgroup = os.path.join(self.cgroup_root, name)  # made by the spare itself
        pid = os.fork()
        if pid == 0:
            try:
                os.close(self.notify_r)
                os.close(self.life_w)
                for pidfd in self.children:
                    os.close(pidfd)
                _spare(self.ctrl, self.notify_w, self.life_r, cgroup, self.last_cap)
            finally:
                os._exit(3)
        pidfd = os.pidfd_open(pid)
        self.children[pidfd] = (pid, cgroup)
        self.spares.add(pid)
        self.poll.register(pidfd, select.POLLIN)

    def reap(self, pidfd):  # type: ignore[no-untyped-def]
        pid, cgroup = self.children.pop(pidfd)
        self.poll.unregister(pidfd)
        os.close(pidfd)
        os.waitpid(pid, 0)
        if cgroup is not None and not _remove_cgroup(cgroup):
            self.leftover.append([cgroup, 0])
        if pid in self.spares:  # died before taking a request
            self.spares.discard(pid)
            self.unused_deaths += 1
            if self.unused_deaths > 10:
                self.shutdown()  # spares cannot start here: the host goes cold
            self.fork_spare()

    def retry_leftovers(self):  # type: ignore[no-untyped-def]
        keep = []
        for entry in self.leftover:
            entry[1] += 1
            if not _remove_cgroup(entry[0]) and entry[1] < 200:
                keep.append(entry)
        self.leftover = keep

    def shutdown(self):  # type: ignore[no-untyped-def]
        """The host is gone: spares and calls end on EOF; wait for them, remove cgroups."""
        self.ctrl.close()
        for pidfd in list(self.children):
            pid, cgroup = self.children.pop(pidfd)
            with contextlib.suppress(OSError):
                if not select.select([pidfd], [], [], 5.0)[0]:
                    os.kill(pid, _signal.SIGKILL)
                os.waitpid(pid, 0)
            if cgroup is not None:
                for _ in range(100):
                    if _remove_cgroup(cgroup):
                        break
                    time.sleep(0.01)
        os._exit(0)

    def serve(self, spares):  # type: ignore[no-untyped-def]
        self.sweep()
        for _ in range(spares):
            self.fork_spare()
        while True:
            tick = 20 if self.leftover or self.missing else None
            for fd, _event in self.poll.poll(tick):
                if fd == self.ctrl.fileno():
                    self.shutdown()
                elif fd == self.notify_r:
                    data = os.read(self.notify_r, 4 * 64)
                    for (pid,) in struct.iter_unpack("i", data):
                        self.spares.discard(pid)
                        self.unused_deaths = 0
                        self.fork_spare()
                elif fd in self.children:
                    self.reap(fd)
            if self.leftover:
                self.retry_leftovers()
            missing, self.missing = self.missing, 0
            for _ in range(missing):
                self.fork_spare()


def main():  # type: ignore[no-untyped-def]
    ctrl = socket.socket(fileno=int(sys.argv[1]))
    cgroup_root = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    with open("/proc/sys/kernel/cap_last_cap") as handle:
        last_cap = int(handle.read())
    _Zygote(ctrl, cgroup_root, last_cap).serve(_SPARES)


if __name__ == "__main__":
    main()
