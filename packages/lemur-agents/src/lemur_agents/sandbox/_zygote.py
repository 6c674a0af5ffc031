"""Warm start of sandboxed calls: ``python -I -S _zygote.py FD [CGROUP_ROOT]``.

A small, single-threaded server started once per host process by
:mod:`lemur_agents.sandbox.warm`. It has already paid for what every cold call pays again (the
interpreter's start-up and imports, the ``sh``/``prlimit``/``unshare``/``setpriv`` executables,
the jail's own Python start), and its **spares** pay the rest of a call's set-up before the
call arrives, so a call costs one bind mount and the program's ``exec``. The zygote stays in the
host's namespaces and never runs a program: each call gets namespaces, mounts and a process
tree of its own, exactly as a cold call does, because anything shared between calls (a network
namespace's abstract sockets, a mount namespace's tmpfs covers, a pid namespace) would let one
call see another. A spare serves one call and is gone.

FD is a ``SOCK_SEQPACKET`` socket to the host; one message per call: a JSON request and four
descriptors (the call's stdin, stdout, stderr and a fresh socket for its reports). The zygote
keeps ``_SPARES`` spares forked ahead of time. Each spare is two processes:

* the **holder**, in a new session and (as root with a pids hierarchy at CGROUP_ROOT) a fresh
  cgroup of its own with the call's process cap; it takes the call's uid and rlimits, unshares
  user, mount, pid and (without network) net namespaces, maps itself to root, makes every mount
  private (``prlimit`` + ``unshare -Ur[n]pm`` of the cold chain), forks the init and waits for
  it: it keeps the namespaces alive, so their teardown happens after the call has reported;
* the **init**, pid 1 of the new pid namespace: it mounts a fresh ``/proc`` and prepares the
  jail with the very code ``_jail.py`` runs cold (:func:`_jail.prepare`: covers, masks,
  read-only tree, private ``/dev/shm``), then waits for a request.

The jail depends on the sandbox's settings, not on the call: the zygote prepares its spares for
the **template** of the last call (its jail arguments, network, rlimits, uid and process cap).
The init that takes a request checks that the request has the template it was prepared for and
that every cover and mask still stands (:func:`_jail.intact`: a host file replaced meanwhile
takes its mask with it); if not, it hands the request back and the zygote starts a spare that
builds the jail for that request at once. A spare forked before any template (or after a
prepared one failed) takes its request first and builds after. The init then

1. reports ``{"pid": INIT_PID, "cgroup": PATH}`` on the call socket;
2. binds the working directory in (:func:`_jail.attach`), forks the program: default signals,
   the stdio only, an emptied capability bounding set, no inheritable capabilities and
   ``no_new_privs`` (what ``setpriv`` does cold), and ``execvpe``;
3. when the program exits (or the host sends ``b"k"`` on the call socket or closes it), kills
   every other process of its pid namespace and reaps them all, then reports ``{"code",
   "cpu"}``: the program's status as the cold init exits with it (a signal N as 128+N) and the
   CPU seconds of the init and all it reaped. A jail that could not be built is reported as
   ``{"code": 125, "jail_error": ...}`` (besides the message on the call's stderr).

The zygote reaps each holder and removes its cgroup (off the host's critical path). When the
host closes FD the spares and the zygote exit. Standard library only.
"""

import _signal
import contextlib
import ctypes
import errno
import gc
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
SYS_CLOSE_RANGE = 436  # the same number on every architecture (new system calls are unified)
_SPARES = 2  # spares waiting for a request: two calls may start at once
# What a spare builds ahead of its call: the request without the program, its environment and
# its working directory (the program's PATH stays: the jail keeps the program's installation).
_TEMPLATE = (
    "hide",
    "keep",
    "secrets",
    "program",
    "nocaps",
    "network",
    "rlimits",
    "uid",
    "pids_max",
    "reach",
)
_NOT_AHEAD = 4  # a spare's exit status: jails cannot be prepared ahead on this kernel
_TOOK, _BOUNCE = b"T", b"B"  # a spare's messages to the zygote: type, holder pid, payload
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


def template_of(request):  # type: ignore[no-untyped-def]
    """The part of ``request`` a spare prepares ahead (see the module docstring)."""
    template = {key: request[key] for key in _TEMPLATE}
    template["path"] = request["env"].get("PATH", os.defpath)
    return template


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


def _close_on_exec():  # type: ignore[no-untyped-def]
    """Every descriptor but the stdio close-on-exec: the program gets the stdio only."""
    if _libc.syscall(ctypes.c_long(SYS_CLOSE_RANGE), 3, ctypes.c_uint(0xFFFFFFFF), 4) == 0:
        return
    for name in os.listdir("/proc/self/fd"):  # no close_range(2): one by one
        if int(name) > 2:
            with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
                os.set_inheritable(int(name), False)


def _spawn(request):  # type: ignore[no-untyped-def]
    """Start the program as the cold chain leaves it after ``setpriv`` (the capability drop
    is this init's, done with the jail): default signals, the stdio only, ``execvpe``'s
    search of the environment's PATH. ``posix_spawn`` copies nothing of this process.
    Returns ``(pid, None)``, or ``(None, status)`` with ``setpriv``'s status when it cannot be
    executed."""
    argv, env = request["argv"], request["env"]
    _close_on_exec()
    defaults = (_signal.SIGPIPE, _signal.SIGXFSZ)  # Python ignores both; exec keeps that
    name = argv[0]
    candidates = (
        [name]
        if os.path.dirname(name)
        else [os.path.join(directory, name) for directory in os.get_exec_path(env)]
    )
    error = None
    for path in candidates:
        try:
            return os.posix_spawn(path, argv, env, setsigdef=defaults), None
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.ENOMEM):
                raise  # no process to exec in: the jail's failure, not the program's
            # os.execvpe's rule: the first error that is not "no such file" is the one told
            if error is None or (
                error.errno in (errno.ENOENT, errno.ENOTDIR)
                and exc.errno not in (errno.ENOENT, errno.ENOTDIR)
            ):
                error = exc
    assert error is not None
    if request["nocaps"]:
        # What setpriv(1), which execs the program in the cold chain, says and returns.
        code = 127 if isinstance(error, FileNotFoundError) else 126
        os.write(2, f"setpriv: failed to execute {name}: {error.strerror}\n".encode())
        return None, code
    os.write(2, f"sandbox jail: cannot execute {name}: {error}\n".encode())
    return None, 125


def _send(sock, message):  # type: ignore[no-untyped-def]
    with contextlib.suppress(OSError):  # the host gave up on the call
        sock.send(json.dumps(message).encode())


class _Call:
    """A request a spare has taken: the decoded JSON, its four descriptors, the raw bytes."""

    def __init__(self, data, fds):  # type: ignore[no-untyped-def]
        self.data, self.fds = data, fds
        try:
            request = json.loads(data)
            valid = isinstance(request, dict) and len(fds) == 4
            template = template_of(request) if valid else None
        except (ValueError, KeyError, TypeError, AttributeError):
            request, template, valid = None, None, False
        self.request, self.template, self.valid = request, template, valid

    def close(self):  # type: ignore[no-untyped-def]
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    def abandoned(self):  # type: ignore[no-untyped-def]
        """Whether the host gave up waiting for this call (it ran it cold)."""
        watch = select.poll()
        watch.register(self.fds[3], 0)
        return bool(watch.poll(0))


def _take(spare):  # type: ignore[no-untyped-def]
    """Wait for the next request on the host's channel; None when the host or the zygote is
    gone. Every spare waits on the same channel: the one whose read succeeds has it."""
    watch = select.poll()
    watch.register(spare.ctrl.fileno(), select.POLLIN)
    watch.register(spare.life, select.POLLIN)
    while True:
        events = dict(watch.poll())
        if spare.life in events:
            return None  # the zygote died: no one would reap this call or remove its cgroup
        try:
            data, fds, _flags, _addr = socket.recv_fds(
                spare.ctrl, _MAX_REQUEST, 4, socket.MSG_DONTWAIT
            )
        except (BlockingIOError, InterruptedError):
            continue  # another spare took it
        if not data and not fds:
            return None  # the host closed its end
        return _Call(data, fds)


def _tell(spare, kind, payload=b"", fds=()):  # type: ignore[no-untyped-def]
    with contextlib.suppress(OSError):  # the zygote forks the next spare
        socket.send_fds(spare.notify, [kind + struct.pack("i", spare.holder) + payload], fds)


class _Spare:
    """What a spare holds: the channels, its cgroup, its template and, once taken, its call."""

    def __init__(self, zygote, cgroup, template, call):  # type: ignore[no-untyped-def]
        self.ctrl, self.notify, self.life = zygote.ctrl, zygote.notify_w, zygote.life_r
        self.cgroup, self.template, self.call = cgroup, template, call
        self.last_cap = zygote.last_cap
        self.holder = 0  # set in the holder

    def leave(self):  # type: ignore[no-untyped-def]
        """A spare that will serve no call: out of its cgroup, remove it, exit."""
        if self.cgroup is not None:
            with contextlib.suppress(OSError):
                _write(os.path.join(os.path.dirname(self.cgroup), "cgroup.procs"), str(os.getpid()))
                os.rmdir(self.cgroup)
        os._exit(0)

    def setup_failed(self, message):  # type: ignore[no-untyped-def]
        """The jail could not be built: say so to the call (if there is one yet) and exit."""
        if self.call is not None:
            with contextlib.suppress(OSError):
                os.write(self.call.fds[2], f"sandbox jail: {message}\n".encode())
            reply = socket.socket(fileno=self.call.fds[3])
            _send(reply, {"code": 125, "cpu": 0.0, "jail_error": message})
        os._exit(125 if self.call is not None else 3)


def _holder(spare):  # type: ignore[no-untyped-def]
    """The spare's first process (see the module docstring); never returns."""
    spare.holder = os.getpid()
    os.setsid()
    if spare.cgroup is not None:
        # Made here, not in the zygote: a zygote killed between mkdir and fork would leak it.
        try:
            os.mkdir(spare.cgroup)
        except OSError:
            os._exit(3)  # an unusable spare: the zygote counts it
        try:
            # The holder and its init, until the template says the call's own cap.
            _write(os.path.join(spare.cgroup, "pids.max"), "2")
            _write(os.path.join(spare.cgroup, "cgroup.procs"), str(os.getpid()))
        except OSError:
            with contextlib.suppress(OSError):
                os.rmdir(spare.cgroup)
            os._exit(3)
    if spare.template is None:
        # No template yet: take the request first, then build its jail.
        spare.call = _take(spare)
        if spare.call is None:
            spare.leave()
        template = spare.call.template if spare.call.valid else None
        _tell(spare, _TOOK, json.dumps(template).encode() if template is not None else b"")
        if template is None:
            os._exit(0)
        spare.template = template
    if spare.call is not None and spare.call.abandoned():
        os._exit(0)
    template = spare.template
    if spare.cgroup is not None:
        try:
            _write(os.path.join(spare.cgroup, "pids.max"), str(template["pids_max"]))
        except OSError as exc:
            spare.setup_failed(f"cannot set the cgroup's process cap: {exc}")
    try:
        uid = template["uid"]
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        for res, soft, hard in template["rlimits"]:
            resource.setrlimit(res, (soft, hard))
    except (OSError, ValueError) as exc:
        spare.setup_failed(f"cannot take the call's uid and limits: {exc}")
    euid, egid = os.geteuid(), os.getegid()
    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID
    if not template["network"]:
        flags |= CLONE_NEWNET
    if _libc.unshare(flags) != 0:
        spare.setup_failed(f"unshare failed: errno {ctypes.get_errno()}")
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {euid} 1")
        _write("/proc/self/gid_map", f"0 {egid} 1")
    except OSError as exc:
        spare.setup_failed(f"cannot map the namespace's root: {exc}")
    mount = _jail.libc_mount()
    if mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        spare.setup_failed(f"cannot make the mounts private: errno {ctypes.get_errno()}")
    pid_r, pid_w = os.pipe()
    try:
        init = os.fork()
    except OSError as exc:
        spare.setup_failed(f"cannot fork the init: {exc}")
    if init == 0:
        try:
            os.close(pid_w)
            _init(spare, mount, pid_r)
        except BaseException as exc:
            spare.setup_failed(f"call set-up failed: {exc!r}")
        finally:
            os._exit(125)
    os.write(pid_w, struct.pack("i", init))
    os.close(pid_w)
    os.close(pid_r)
    spare.ctrl.close()
    spare.notify.close()
    if spare.call is not None:
        spare.call.close()
    # Wait for the init, holding the namespaces: they are torn down when this process exits,
    # after the call has reported.
    while True:
        try:
            status = os.waitpid(init, 0)[1]
            break
        except InterruptedError:
            continue
    watch = select.poll()
    watch.register(spare.life, select.POLLIN)
    if watch.poll(0):
        spare.leave()  # the zygote is gone: remove the cgroup here
    os._exit(_NOT_AHEAD if os.waitstatus_to_exitcode(status) == _NOT_AHEAD else 0)


def _init(spare, mount, pid_r):  # type: ignore[no-untyped-def]
    """pid 1 of the call's pid namespace: /proc, the jail, then the call (never returns)."""
    # Python's SIGINT handler would let a sandboxed process raise KeyboardInterrupt here.
    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
    _libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(_signal.SIGKILL), 0, 0, 0)
    init_pid = struct.unpack("i", os.read(pid_r, 4))[0]
    os.close(pid_r)
    if spare.call is not None:
        _begin(spare, init_pid)
    # unshare --mount-proc: a /proc that shows only this pid namespace.
    if mount(b"none", b"/proc", None, MS_PRIVATE | MS_REC, None) != 0:
        _jail._fail(f"cannot make /proc private: errno {ctypes.get_errno()}")
    if mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, None) != 0:
        _jail._fail(f"cannot mount /proc: errno {ctypes.get_errno()}")
    template = spare.template
    name = template["program"]
    program = _jail._which(name, template["path"]) if name else None
    # The same strings, split the same way, as the cold jail's command line.
    hidden, keep = _jail.split(template["hide"]), _jail.split(template["keep"])
    secrets = [p for p in template["secrets"].split("\n") if p]
    if spare.call is not None:
        work = spare.call.request["work"]
        reach = [top for top in hidden if work == top or work.startswith(top + "/")]
    else:
        reach = _jail.split(template["reach"])  # where working directories are made
    jail = _jail.prepare(mount, hidden, keep, secrets, program, reach)
    if template["nocaps"]:
        # The bounding and inheritable sets and no_new_privs, which the program inherits:
        # this init keeps its own capabilities (so the program cannot trace it) and needs
        # no new ones.
        _drop_capabilities(spare.last_cap)
    if spare.call is None:
        if not jail["readonly"]:
            os._exit(_NOT_AHEAD)  # no mount_setattr(2): the read-only pass follows the bind
        spare.call = call = _take(spare)
        if call is None:
            os._exit(0)
        if (
            not call.valid
            or call.template != template
            or not _jail.reachable(jail, call.request["work"])
            or not _jail.intact(jail)
        ):
            # Prepared for other settings, or a cover went meanwhile: the zygote starts a
            # spare that builds this call's jail now.
            _tell(spare, _BOUNCE, call.data, call.fds)
            os._exit(0)
        _tell(spare, _TOOK)
        if call.abandoned():
            os._exit(0)
        _begin(spare, init_pid)
    spare.ctrl.close()
    spare.notify.close()
    os.close(spare.life)
    _jail.attach(mount, jail, spare.call.request["work"])
    _serve(spare)


def _begin(spare, init_pid):  # type: ignore[no-untyped-def]
    """The call is this init's: its stdio in place, its start reported, its limits set."""
    call = spare.call
    stdin, stdout, stderr, reply_fd = call.fds
    for target, fd in enumerate((stdin, stdout, stderr)):
        os.dup2(fd, target)
    for fd in (stdin, stdout, stderr):
        if fd > 2:
            os.close(fd)
    call.fds = [0, 1, 2, reply_fd]
    call.reply = reply = socket.socket(fileno=reply_fd)

    def report(message):  # type: ignore[no-untyped-def]
        _send(reply, {"code": 125, "cpu": 0.0, "jail_error": message})

    _jail.fail_hook = report
    _send(reply, {"pid": init_pid, "cgroup": spare.cgroup})


def _serve(spare):  # type: ignore[no-untyped-def]
    """Run the program, end its namespace, report (see the module docstring)."""
    call = spare.call
    try:
        pid, code = _spawn(call.request)
    except OSError as exc:
        _jail._fail(f"cannot start the program: {exc}")  # reported: the program never ran
    _jail.fail_hook = None
    # The program holds the stdio now; without these copies EOF means the program's end.
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(null, target)
    os.close(null)
    if pid is not None:
        code = _watch(pid, call.reply)
    # What the kernel does when a pid namespace's init exits, done before the report: every
    # other process of the namespace killed and reaped (its CPU time counted).
    while True:
        with contextlib.suppress(OSError):
            os.kill(-1, _signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
    used = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(u.ru_utime + u.ru_stime for u in used)
    _send(call.reply, {"code": code, "cpu": cpu})
    os._exit(0)


def _watch(pid, reply):  # type: ignore[no-untyped-def]
    """Wait for the program (ending it early on ``b"k"`` or EOF from the host); its status
    as the cold init exits with it: the code, or 128+N for a signal N."""
    watched = select.poll()
    pidfd = os.pidfd_open(pid)
    watched.register(pidfd, select.POLLIN)
    watched.register(reply.fileno(), select.POLLIN)
    while True:
        for fd, _event in watched.poll():
            if fd == pidfd:
                code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                return 128 - code if code < 0 else code
            # b"k" or EOF: the host ends the call.
            with contextlib.suppress(OSError):
                os.kill(-1, _signal.SIGKILL)
            watched.unregister(fd)


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
    """The spares, the calls they became, their cgroups, and the template they prepare."""

    def __init__(self, ctrl, cgroup_root, last_cap):  # type: ignore[no-untyped-def]
        self.ctrl, self.cgroup_root, self.last_cap = ctrl, cgroup_root, last_cap
        self.prefix = f"lemur-{os.getppid()}-"
        # One message per spare that took a request (or hands one back, with its descriptors).
        self.notify_r, notify_w = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.notify_w = notify_w
        # Only the zygote holds life_w: the spares see EOF on life_r when it dies.
        self.life_r, self.life_w = os.pipe()
        self.children = {}  # pidfd -> (pid, cgroup)
        self.spares = set()  # holders that have not taken a request yet
        self.template = None  # what new spares prepare (see the module docstring)
        self.ahead = True  # False once a spare found it cannot prepare before its call
        self.leftover = []  # cgroups still busy, with the attempts made
        self.unused_deaths = 0
        self.missing = 0  # spares that could not be forked yet (retried on the next tick)
        self.poll = select.poll()
        self.poll.register(self.notify_r.fileno(), select.POLLIN)
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

    def fork_spare(self, call=None):  # type: ignore[no-untyped-def]
        """Fork a spare (prepared for the template), or a spare for ``call`` in hand."""
        try:
            self._fork_spare(call)
        except OSError:
            if call is None:
                self.missing += 1
            else:
                call.close()  # the host sees the call socket close and runs it cold

    def _fork_spare(self, call):  # type: ignore[no-untyped-def]
        cgroup = None
        if self.cgroup_root:
            name = f"{self.prefix}z{os.getpid()}-{os.urandom(6).hex()}"
            cgroup = os.path.join(self.cgroup_root, name)  # made by the spare itself
        template = call.template if call is not None else self.template if self.ahead else None
        pid = os.fork()
        if pid == 0:
            try:
                self.notify_r.close()
                os.close(self.life_w)
                for pidfd in self.children:
                    os.close(pidfd)
                _holder(_Spare(self, cgroup, template, call))
            finally:
                os._exit(3)
        if call is not None:
            call.close()
        pidfd = os.pidfd_open(pid)
        self.children[pidfd] = (pid, cgroup)
        if call is None:
            self.spares.add(pid)
        self.poll.register(pidfd, select.POLLIN)

    def message(self):  # type: ignore[no-untyped-def]
        """A spare took a request, or hands one back that its jail was not prepared for."""
        try:
            data, fds, _flags, _addr = socket.recv_fds(
                self.notify_r, _MAX_REQUEST + 64, 4, socket.MSG_DONTWAIT
            )
        except (BlockingIOError, InterruptedError):
            return
        if len(data) < 5:
            return
        kind, (pid,), payload = data[:1], struct.unpack("i", data[1:5]), data[5:]
        self.spares.discard(pid)
        self.unused_deaths = 0
        if kind == _BOUNCE:
            call = _Call(payload, fds)
            if call.valid:
                self.template = call.template
                self.fork_spare(call)
            else:
                call.close()
        elif payload:
            self.template = json.loads(payload)
        self.fork_spare()

    def reap(self, pidfd):  # type: ignore[no-untyped-def]
        pid, cgroup = self.children.pop(pidfd)
        self.poll.unregister(pidfd)
        os.close(pidfd)
        status = os.waitpid(pid, 0)[1]
        if cgroup is not None and not _remove_cgroup(cgroup):
            self.leftover.append([cgroup, 0])
        if os.waitstatus_to_exitcode(status) == _NOT_AHEAD:
            self.ahead = False  # this kernel cannot prepare a jail before its call
        if pid in self.spares:  # died before taking a request
            self.spares.discard(pid)
            self.unused_deaths += 1
            if self.unused_deaths > 10:
                self.shutdown()  # spares cannot start here: the host goes cold
            # A prepared spare that died: the next ones build after their request, so a
            # failing jail is reported to its call instead of killing spares in a loop.
            self.template = None
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
                elif fd == self.notify_r.fileno():
                    self.message()
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
    # Every spare is a fork of this process: a collection in a child would write to every
    # object's header and copy the pages it shares with the zygote. Nothing here makes cycles
    # that matter (each child lives for one call).
    gc.disable()
    gc.freeze()
    _Zygote(ctrl, cgroup_root, last_cap).serve(_SPARES)


if __name__ == "__main__":
    main()
