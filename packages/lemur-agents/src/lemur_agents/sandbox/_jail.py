"""Namespace init of a sandboxed call:
``python -I -S _jail.py WORKDIR HIDE KEEP SECRETS PROGRAM [ARGS...]``.

Runs as root of fresh user, mount and pid namespaces (unshare(1) made them). Makes WORKDIR its
own writable bind mount; covers each directory of HIDE (``:``-separated: home directories and
the temporary directories where other sandboxes keep their scratch directories) with an empty
tmpfs, re-exposing only the paths of KEEP below it (the Python installation, the working
directory) so that what is kept there is unreadable; covers each path of SECRETS (files an
ordinary user could not read, e.g. ``/etc/shadow``; the sandbox's root is the caller's uid and
would) with ``/dev/null`` or an empty tmpfs; remounts every other mount read-only (keeping the
flags the kernel locked: nosuid, nodev, noexec, atime) and, when ``/dev/shm`` is hidden, gives the
call a private writable one (64 MiB, for POSIX semaphores), then runs the program as a child and
exits with its status, a signal N as 128+N. Staying as pid 1 instead of exec'ing matters: a pid 1 ignores
signals it has no handler for, which would change the program's behaviour. Standard library
only; one process doing every mount(2) is ~4x faster than one mount(8) per mount point.
"""

import _signal  # not `signal`, `shutil`: they import enum and re, tripling the start-up time
import _stat
import ctypes
import errno
import os
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME = 1024, 2048, 1 << 21, 1 << 24
# mount_setattr(2): the same number on every architecture (new system calls are unified).
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1
_libc = ctypes.CDLL(None, use_errno=True)
# Looks at a secret path that is replaced while the jail covers it (see _mask).
_MASK_ATTEMPTS = 100
_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}


# Set by the warm zygote's init: tells the host that the jail, not the program, failed.
fail_hook = None


def _fail(message):  # type: ignore[no-untyped-def]
    os.write(2, f"sandbox jail: {message}\n".encode())
    if fail_hook is not None:
        fail_hook(message)
    os._exit(125)


def _which(name, path=None):  # type: ignore[no-untyped-def]
    if "/" in name:
        return name if os.access(name, os.X_OK) else None
    for directory in (path or os.environ.get("PATH", os.defpath)).split(os.pathsep):
        path = os.path.join(directory or ".", name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


def split(spec):  # type: ignore[no-untyped-def]
    return [os.path.realpath(p) for p in spec.split(":") if p]


def _hide(mount, hidden, keep):  # type: ignore[no-untyped-def]
    for top in hidden:
        if not os.path.isdir(top) or top in keep or top == "/":
            continue
        below = sorted({k for k in keep if k.startswith(top + "/") and os.path.exists(k)})
        # Hold the kept paths open across the tmpfs mount, then bind them back from the fds.
        handles = []
        for k in below:
            try:
                handles.append((k, os.open(k, os.O_PATH)))
            except FileNotFoundError:
                continue  # removed since the look: nothing to re-expose
        if mount(b"tmpfs", top.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64k,mode=755") != 0:
            _fail(f"cannot hide {top}: errno {ctypes.get_errno()}")
        for path, fd in handles:
            source = f"/proc/self/fd/{fd}"
            if os.path.isdir(source):
                os.makedirs(path, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                open(path, "a").close()
            if mount(source.encode(), path.encode(), None, MS_BIND | MS_REC, None) != 0:
                _fail(f"cannot re-expose {path}: errno {ctypes.get_errno()}")
            os.close(fd)


def _mask(mount, secrets):  # type: ignore[no-untyped-def]
    for path in secrets:
        # A daemon may replace a secret file while we look (slurmctld rotates its state files:
        # unlink, then link the new one): a mount that finds the path gone or of another type
        # looks again, so the call neither fails nor leaves a file that is back uncovered.
        for _attempt in range(_MASK_ATTEMPTS):
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                break  # gone: nothing to cover
            if _stat.S_ISLNK(mode):
                break  # its target is checked where it lives
            if _stat.S_ISDIR(mode):
                result = mount(
                    b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=4k,mode=700"
                )
            else:
                result = mount(b"/dev/null", path.encode(), None, MS_BIND, None)
            if result == 0:
                break
            error = ctypes.get_errno()
            if error not in (errno.ENOENT, errno.ENOTDIR):
                _fail(f"cannot hide {path}: errno {error}")
        else:
            _fail(f"cannot hide {path}: it kept changing under the mount")


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _mount_setattr(path, recursive, attr):  # type: ignore[no-untyped-def]
    flags = AT_RECURSIVE if recursive else 0
    return _libc.syscall(
        ctypes.c_long(SYS_MOUNT_SETATTR),
        ctypes.c_int(AT_FDCWD),
        path.encode(),
        ctypes.c_uint(flags),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )


def _readonly_tree():  # type: ignore[no-untyped-def]
    """Every mount read-only in one mount_setattr(2) call (Linux >= 5.12; False where it is
    missing): the per-mount remounts cost ~100 system calls. :func:`attach` makes WORK's
    own mount writable again."""
    return _mount_setattr("/", True, _MountAttr(attr_set=MOUNT_ATTR_RDONLY)) == 0


def _readonly_each(mount, work):  # type: ignore[no-untyped-def]
    """The same, one remount per mount (flags the kernel locked are restated)."""
    with open("/proc/self/mountinfo") as handle:
        entries = [line.split() for line in handle]
    for fields in entries:
        point, options = fields[4], fields[5].split(",")
        if point == work or "\\" in point or "ro" in options:
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for option in options:
            flags |= _FLAGS.get(option, 0)
        if mount(None, point.encode(), None, flags, None) != 0 and point == "/":
            _fail(f"cannot make / read-only: errno {ctypes.get_errno()}")


def libc_mount():  # type: ignore[no-untyped-def]
    """mount(2) through ctypes (errno kept)."""
    mount = _libc.mount
    mount.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_void_p,
    ]
    return mount


def prepare(mount, hidden, keep, secrets, program, reach):  # type: ignore[no-untyped-def]
    """Every mount of the jail that does not depend on the working directory.

    Covers ``hidden`` (re-exposing ``keep``, the Python installation and ``program``'s), masks
    ``secrets``, makes the tree read-only and mounts the private ``/dev/shm``. Returns what
    :func:`attach` needs: an ``O_PATH`` descriptor, opened before its cover, of each covered
    directory of ``reach`` (a working directory below one is bound from there; one descriptor
    per covered directory would not fit a low RLIMIT_NOFILE), whether the tree is read-only
    already, and what :func:`intact` checks. ``program`` is the resolved path of the command
    the jail runs (or ``None``): its installation stays visible. The warm zygote prepares a
    jail ahead of its call; this script prepares and attaches at once: both build the same
    mounts in the same order.
    """
    keep = [*keep, os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)]
    if program:
        # The installation the program belongs to, as named (a virtual environment) and as
        # resolved (the interpreter it links to).
        keep.append(os.path.dirname(os.path.dirname(os.path.abspath(program))))
        keep.append(os.path.dirname(os.path.dirname(os.path.realpath(program))))
    covered = []
    for top in hidden:
        if os.path.isdir(top) and top not in keep and top != "/" and top not in covered:
            covered.append(top)
    fds = {top: os.open(top, os.O_PATH | os.O_DIRECTORY) for top in covered if top in reach}
    _hide(mount, covered, keep)
    _mask(mount, secrets)
    readonly = _readonly_tree()
    shm = "/dev/shm" in hidden and os.path.isdir("/dev/shm")
    if readonly and shm:
        _private_shm(mount)
    return {
        "covered": covered,
        "fds": fds,
        "readonly": readonly,
        "shm": shm,
        "secrets": secrets,
        "seen": _state(covered, secrets),
    }


def _private_shm(mount):  # type: ignore[no-untyped-def]
    # A private, small, writable /dev/shm (on top of the read-only cover): POSIX semaphores
    # live there, so multiprocessing works; no other sandbox can see it.
    shm_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if mount(b"tmpfs", b"/dev/shm", b"tmpfs", shm_flags, b"size=64m,mode=1777") != 0:
        _fail(f"cannot mount a private /dev/shm: errno {ctypes.get_errno()}")


def _state(tops, secrets):  # type: ignore[no-untyped-def]
    """What each cover and mask is now (device, inode, type; None where the path is gone)."""
    seen: list[object] = []
    for path in [*tops, *secrets]:
        try:
            info = os.lstat(path)
            seen.append((info.st_dev, info.st_ino, info.st_mode, info.st_rdev))
        except OSError:
            seen.append(None)
    return seen


def intact(jail):  # type: ignore[no-untyped-def]
    """Whether every cover and mask of a jail prepared earlier still stands as it was built.

    A host file that was replaced meanwhile (unlink and link, rename) takes its mask with it,
    and a secret that appeared is not masked yet: the caller then builds a fresh jail."""
    return _state(jail["covered"], jail["secrets"]) == jail["seen"]


def _make_target(work, owner, readonly):  # type: ignore[no-untyped-def]
    try:
        os.makedirs(work, exist_ok=True)
        return
    except OSError as exc:
        if exc.errno != errno.EROFS or owner is None or not readonly:
            _fail(f"cannot make the mount point {work}: {exc}")
    # The cover is read-only already: writable for the one mkdir, then read-only again.
    if _mount_setattr(owner, False, _MountAttr(attr_clr=MOUNT_ATTR_RDONLY)) != 0:
        _fail(f"cannot make {owner} writable: errno {ctypes.get_errno()}")
    try:
        os.makedirs(work, exist_ok=True)
    except OSError as exc:
        _fail(f"cannot make the mount point {work}: {exc}")
    finally:
        if _mount_setattr(owner, False, _MountAttr(attr_set=MOUNT_ATTR_RDONLY)) != 0:
            _fail(f"cannot make {owner} read-only again: errno {ctypes.get_errno()}")


def owner(covered, work):  # type: ignore[no-untyped-def]
    """The innermost of the ``covered`` directories that holds ``work`` (or is it), or None."""
    found = None
    for top in covered:
        if (work == top or work.startswith(top + "/")) and (found is None or len(top) > len(found)):
            found = top
    return found


def reachable(jail, work):  # type: ignore[no-untyped-def]
    """Whether :func:`attach` can bind ``work`` into this prepared jail."""
    top = owner(jail["covered"], work)
    return top is None or top in jail["fds"]


def attach(mount, jail, work):  # type: ignore[no-untyped-def]
    """The call's own part of the jail: WORK, the only writable directory, then ``chdir``.

    WORK is bound from the real directory (through its covered parent's descriptor when a
    cover hides it), so it is the same directory the host made, whatever the cover shows."""
    top = owner(jail["covered"], work)
    source = work
    if top is not None:
        if top not in jail["fds"]:
            _fail(f"cannot reach {work} under the cover of {top}")
        source = f"/proc/self/fd/{jail['fds'][top]}"
        if work != top:
            source += work[len(top) :]
    if not os.path.isdir(work):
        _make_target(work, top, jail["readonly"])
    if mount(source.encode(), work.encode(), None, MS_BIND | MS_REC, None) != 0:
        _fail(f"cannot bind {work}: errno {ctypes.get_errno()}")
    for fd in jail["fds"].values():
        os.close(fd)
    if jail["readonly"]:
        if _mount_setattr(work, False, _MountAttr(attr_clr=MOUNT_ATTR_RDONLY)) != 0:
            _fail(f"cannot make {work} writable: errno {ctypes.get_errno()}")
    else:
        _readonly_each(mount, work)
        if jail["shm"]:
            _private_shm(mount)
    # A secret inside WORK (bound from the real directory, unmasked) is masked again.
    _mask(mount, [p for p in jail["secrets"] if p.startswith(work + "/")])
    os.chdir(work)


def build(mount, work, hidden, keep, secrets, program):  # type: ignore[no-untyped-def]
    """Every mount of the jail (see the module docstring), then ``chdir(work)``."""
    reach = [top for top in hidden if work == top or work.startswith(top + "/")]
    attach(mount, prepare(mount, hidden, keep, secrets, program, reach), work)


def restore_signals():  # type: ignore[no-untyped-def]
    """Python ignores SIGPIPE and SIGXFSZ, and ignored signals survive exec: restore the
    defaults so `yes | head` and the file-size limit behave as in any shell."""
    for name in ("SIGPIPE", "SIGXFSZ"):
        _signal.signal(getattr(_signal, name), _signal.SIG_DFL)


def wait_exit(pid):  # type: ignore[no-untyped-def]
    """Wait for ``pid`` and exit with its status, a signal N as 128+N."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    os._exit(128 - code if code < 0 else code)


def main():  # type: ignore[no-untyped-def]
    # Python's own SIGINT handler would let any process of the sandbox raise
    # KeyboardInterrupt in its init; at SIG_DFL the kernel drops such signals to a pid 1.
    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
    work, hidden, keep = sys.argv[1], split(sys.argv[2]), split(sys.argv[3])
    secrets, argv = [p for p in sys.argv[4].split("\n") if p], sys.argv[5:]
    build(libc_mount(), work, hidden, keep, secrets, _which(argv[0]) if argv else None)
    pid = os.fork()
    if pid == 0:
        restore_signals()
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            _fail(f"cannot execute {argv[0]}: {exc}")
    wait_exit(pid)


if __name__ == "__main__":
    main()
