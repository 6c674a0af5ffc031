"""Which isolation this machine allows, probed once, and the exec wrapper that applies it.

Layers, strongest first, each used only when a probe shows it works here:

* ``cgroup-pids``: when a writable cgroup-v1 ``pids`` hierarchy exists (running as root),
  every call gets its own cgroup whose ``pids.max`` bounds a fork bomb — the kernel does not
  enforce ``RLIMIT_NPROC`` for root, even inside a user namespace mapped to root — and whose
  member list lets the sandbox kill every process the call started;
* ``uid``: as root without such a cgroup, the child runs as a fresh unprivileged uid, so that
  ``RLIMIT_NPROC`` applies (used only when that uid can still execute the Python interpreter);
* ``userns+netns+pidns+mountns`` through ``unshare(1)`` and the ``_jail.py`` init: no network interface but a downed
  loopback, a private process tree that the kernel kills as a whole when the call ends
  (background processes cannot outlive it, ``kill(-1)`` reaches only the sandbox), and a
  mount namespace where every file system is remounted read-only except the working directory;
* ``home-hidden``: the caller's home, ``/root`` and ``/home`` are covered by empty tmpfs
  mounts (the Python installation and the working directory stay visible), so credentials
  there cannot be read by model code;
* ``data-hidden``: every top-level directory outside the system tree (``/work``, ``/data``,
  ``/mnt``, ``/srv``, ``/media`` ...: the evaluator's checkout, benchmark files and their
  reference answers) is covered the same way, keeping only what the call needs visible;
* ``tmp-private``: the temporary directories (``/tmp``, ``/var/tmp``, ``/dev/shm``, ``$TMPDIR``)
  are covered the same way with only the call's own working directory re-exposed, so a
  sandbox cannot read the scratch directories of the other sandboxes running beside it;
* ``secrets-hidden``: every file or directory under ``/etc``, ``/var``, ``/run`` and ``/boot`` that an ordinary user could not read (``/etc/shadow``,
  private keys, databases) is covered by ``/dev/null`` or an empty tmpfs: the namespace's root
  is the caller's uid, which as root could read them all (found once per process, see
  :func:`host_secrets`); a directory mostly of such files is covered whole, its public entries
  re-exposed (see :func:`dense_secrets`);
* ``nocaps``: ``setpriv(1)`` empties the capability bounding set before the program starts,
  so the namespace-root cannot undo the read-only remounts;
* ``rlimits``: always (``prlimit(1)`` or ``setrlimit`` in the child), plus a new session whose
  process group is killed on timeout.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Runs inside the new namespaces as namespace-root (see _jail.py for what it does and why).
_JAIL = Path(__file__).with_name("_jail.py")

_NOCAPS = ["--bounding-set=-all", "--inh-caps=-all", "--no-new-privs"]


_PIDS_V1 = Path("/sys/fs/cgroup/pids")
# Enter the call's cgroup before anything else runs, so that no process escapes the count.
_CGROUP_ENTER = 'echo $$ > "$1/cgroup.procs" || exit 125; shift; exec "$@"'


@dataclass(frozen=True)
class IsolationPlan:
    """What the sandbox applies to every child on this machine (see the module docstring)."""

    cgroup_root: Path | None
    drop_uid: bool
    namespaces: bool
    nocaps: bool
    hide_home: bool
    prlimit: str | None
    unshare: str | None
    setpriv: str | None
    # data roots, temporary directories and secrets hidden too (see the module docstring)
    hide_private: bool = False

    def level(self, network: bool) -> str:
        """Name of the isolation achieved, e.g. ``uid+userns+netns+pidns+mountns-ro+nocaps+rlimits``."""
        parts: list[str] = []
        if self.cgroup_root is not None:
            parts.append("cgroup-pids")
        if self.drop_uid:
            parts.append("uid")
        if self.namespaces:
            parts += ["userns"] + ([] if network else ["netns"]) + ["pidns", "mountns-ro"]
            if self.hide_home:
                parts.append("home-hidden")
            if self.hide_private:
                parts += ["data-hidden", "tmp-private", "secrets-hidden"]
            if self.nocaps:
                parts.append("nocaps")
        parts.append("rlimits")
        if os.geteuid() == 0 and self.cgroup_root is None and not self.drop_uid:
            # Root ignores RLIMIT_NPROC: say plainly that nothing caps the process count.
            parts.append("no-process-cap")
        return "+".join(parts)


def default_hidden() -> tuple[str, ...]:
    """Directories whose contents the sandbox hides: the caller's home, ``/root``, ``/home``."""
    return tuple(dict.fromkeys([str(Path.home()), "/root", "/home"]))


# Where sandboxes' scratch directories (and other programs' temporary files) live.
_TEMP_ROOTS = ("/tmp", "/var/tmp", "/dev/shm")
# Trees scanned for files an ordinary user could not read; software trees (/usr, /opt) and
# the hidden directories are left out (large, and hidden or public anyway).
_SECRET_ROOTS = ("/etc", "/var", "/run", "/boot")
# Top-level directories of the system's own tree: everything else at the top (/work, /data,
# /mnt, /srv, /media ...) is the machine's data — the evaluator's checkout, benchmark files with
# their reference answers — and is hidden like a home directory.
_SYSTEM_TOP = frozenset(
    [
        "bin",
        "boot",
        "dev",
        "etc",
        "lib",
        "lib32",
        "lib64",
        "libx32",
        "opt",
        "proc",
        "run",
        "sbin",
        "sys",
        "tmp",
        "usr",
        "var",
        "nix",
        "gnu",
        "snap",
    ]
)


def temp_roots() -> tuple[str, ...]:
    """The temporary directories hidden from every sandbox except for its own working dir."""
    found = [tempfile.gettempdir(), *_TEMP_ROOTS]
    return tuple(dict.fromkeys(os.path.realpath(p) for p in found if os.path.isdir(p)))


def _python_installation() -> tuple[str, ...]:
    # The jail runs with -S, so its own sys.prefix is the base interpreter, not the virtual
    # environment this process runs in: name both from here.
    return tuple(dict.fromkeys([sys.prefix, sys.exec_prefix, sys.base_prefix]))


def data_roots() -> tuple[str, ...]:
    """Top-level directories outside the system tree, hidden except for what a call needs."""
    try:
        entries = sorted(os.scandir("/"), key=lambda e: e.name)
    except OSError:
        return ()
    # /root and /home follow ``hidden_paths`` (home-hidden), which a caller may narrow.
    skip = _SYSTEM_TOP | {"root", "home"}
    return tuple(e.path for e in entries if e.name not in skip and e.is_dir(follow_symlinks=False))


def hidden_roots(hide: tuple[str, ...]) -> tuple[str, ...]:
    """Every directory a call's jail covers: ``hide`` (homes), data and temporary roots."""
    return tuple(dict.fromkeys([*hide, *data_roots(), *temp_roots()]))


def _covered(plan: IsolationPlan, hide: tuple[str, ...]) -> tuple[str, ...]:
    if plan.hide_private:
        return hidden_roots(hide if plan.hide_home else ())
    return hide if plan.hide_home else ()


def _passable(path: str) -> str:
    # The jail takes secrets newline-separated: cover a parent when a name holds a newline.
    while "\n" in path:
        path = os.path.dirname(path)
    return path


@functools.cache
def host_secrets() -> tuple[str, ...]:
    """Files and directories below ``_SECRET_ROOTS`` that others may not read (scanned once).

    A directory others cannot read or enter is listed whole and not descended; symbolic links
    are skipped (their targets are checked where they live).
    """
    skip = {os.path.realpath(p) for p in hidden_roots(default_hidden())}
    found: list[str] = []
    stack = [p for p in _SECRET_ROOTS if os.path.isdir(p) and not os.path.islink(p)]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.path in skip:
                continue
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode) or stat.S_ISSOCK(mode):
                continue
            if stat.S_ISDIR(mode):
                if mode & stat.S_IROTH and mode & stat.S_IXOTH:
                    stack.append(entry.path)
                else:
                    found.append(_passable(entry.path))
            elif not mode & stat.S_IROTH:
                found.append(_passable(entry.path))
    return tuple(sorted(set(found)))


def sandbox_uid() -> int:
    """A fresh unprivileged uid (and gid) for one sandbox: its own RLIMIT_NPROC account."""
    return 200_000 + secrets.randbelow(1_000_000)


# A directory holding at least this many secrets, and more secrets than other entries, is
# covered whole (its other entries re-exposed) instead of file by file (see dense_secrets).
_DENSE_SECRETS = 8


@functools.lru_cache(maxsize=4)
def dense_secrets(
    found: tuple[str, ...],
) -> tuple[tuple[str, tuple[str, ...], frozenset[str]], ...]:
    """The directories of ``found`` (see :func:`host_secrets`) to cover whole: each with its
    entries to re-expose and the secrets the cover hides.

    A daemon's state directory (slurmctld's holds ~35 files only root may read) costs one
    cover and a bind per public entry instead of a mount per file, and it stays covered
    while the daemon replaces its files (a file replaced under a per-file mask is visible
    until the next call); a new file there is hidden as well. Only regular files and
    directories are re-exposed; links, sockets and names the jail's lists cannot carry stay
    hidden.
    """
    by_parent: dict[str, set[str]] = {}
    for path in found:
        by_parent.setdefault(os.path.dirname(path), set()).add(path)
    dense = []
    for parent, inside in sorted(by_parent.items()):
        if len(inside) < _DENSE_SECRETS or ":" in parent:
            continue
        try:
            entries = list(os.scandir(parent))
        except OSError:
            continue
        others = [e for e in entries if e.path not in inside]
        if len(others) >= len(inside):
            continue
        shown = []
        for entry in others:
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            if (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) and not any(
                c in entry.path for c in ":\n"
            ):
                shown.append(entry.path)
        dense.append((parent, tuple(sorted(shown)), frozenset(inside)))
    return tuple(dense)


def jail_args(
    plan: IsolationPlan, hide: tuple[str, ...], keep_visible: tuple[str, ...]
) -> tuple[str, str, str]:
    """The jail's HIDE, KEEP and SECRETS arguments (see ``_jail.py``), cold or warm alike."""
    keep = [*keep_visible, *_python_installation()]
    covers: list[str] = []
    masked: list[str] = []
    if plan.hide_private:
        found = host_secrets()
        kept = {os.path.realpath(p) for p in keep}
        hidden_whole: set[str] = set()
        for parent, shown, inside in dense_secrets(found):
            if os.path.realpath(parent) in kept:
                continue  # the jail does not cover a kept directory: mask its files instead
            covers.append(parent)
            keep += shown
            hidden_whole |= inside
        masked = [p for p in found if p not in hidden_whole]
    return (
        ":".join([*_covered(plan, hide), *covers]),
        ":".join(keep),
        "\n".join(masked),
    )


def jail_program(plan: IsolationPlan, argv: list[str]) -> str:
    """The command the jail execs (``setpriv`` when it drops capabilities, else the program):
    its installation is what the jail keeps visible."""
    return plan.setpriv if plan.nocaps and plan.setpriv is not None else argv[0]


def wrap_argv(
    plan: IsolationPlan,
    argv: list[str],
    *,
    workdir: str,
    network: bool,
    prlimit_args: list[str],
    cgroup: Path | None = None,
    hide: tuple[str, ...] = (),
    keep_visible: tuple[str, ...] = (),
) -> list[str]:
    """The command line that runs ``argv`` in ``workdir`` under ``plan``'s isolation."""
    inner = list(argv)
    if plan.namespaces and plan.unshare is not None:
        if plan.nocaps and plan.setpriv is not None:
            inner = [plan.setpriv, *_NOCAPS, "--", *inner]
        flags = "-Urpm" if network else "-Urnpm"
        inner = [
            plan.unshare,
            flags,
            "--fork",
            "--kill-child",
            "--mount-proc",
            sys.executable,
            "-I",
            "-S",
            str(_JAIL),
            workdir,
            *jail_args(plan, hide, keep_visible),
            *inner,
        ]
    if plan.prlimit is not None:
        inner = [plan.prlimit, *prlimit_args, "--", *inner]
    if cgroup is not None:
        inner = ["/bin/sh", "-c", _CGROUP_ENTER, "cgroup-enter", str(cgroup), *inner]
    return inner


class CallCgroup:
    """A pids cgroup for one sandboxed process tree: a hard process cap and a kill list."""

    def __init__(self, root: Path, max_processes: int) -> None:
        self.path = root / f"lemur-{os.getpid()}-{secrets.token_hex(6)}"
        self.path.mkdir()
        (self.path / "pids.max").write_text(f"{max_processes}\n")

    @classmethod
    def existing(cls, path: Path) -> CallCgroup:
        """The cgroup at ``path`` (made by the zygote for a warm call)."""
        cgroup = cls.__new__(cls)
        cgroup.path = path
        return cgroup

    def pids(self) -> list[int]:
        """Processes currently in the cgroup."""
        try:
            text = (self.path / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(line) for line in text.split()]

    def kill_all(self) -> None:
        """SIGKILL every member until none is left (members may fork while being killed)."""
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        """Kill what is left and delete the cgroup (retrying while the kernel reaps members)."""
        self.kill_all()
        # The last member may still be exiting: retry soon, then less often (about 2 s in all).
        for attempt in range(110):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.0005 if attempt < 10 else 0.02)


def _probe(argv: list[str], *, uid: int | None) -> bool:
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=20,
            cwd="/",
            user=uid,
            group=uid,
            extra_groups=[] if uid is not None else None,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _writable_pids_cgroup() -> Path | None:
    if not (_PIDS_V1 / "cgroup.procs").exists():
        return None
    try:
        probe = CallCgroup(_PIDS_V1, 4)
    except OSError:
        return None
    probe.remove()
    return _PIDS_V1


@functools.cache
def isolation_plan() -> IsolationPlan:
    """Probe (once per process) what this machine allows and return the plan."""
    prlimit = shutil.which("prlimit")
    unshare = shutil.which("unshare")
    setpriv = shutil.which("setpriv")
    cgroup_root = _writable_pids_cgroup()
    drop_uid = cgroup_root is None and os.geteuid() == 0
    uid = sandbox_uid() if drop_uid else None
    # The dropped uid must still be able to start the interpreter (uv keeps it under /root).
    if drop_uid and not _probe([sys.executable, "-c", "pass"], uid=uid):
        drop_uid, uid = False, None

    def jail_works(hidden: str, masked: str) -> bool:
        # Start the real jail (all namespaces, read-only mounts, ``hidden`` paths masked).
        assert unshare is not None
        with tempfile.TemporaryDirectory(prefix="lemur-probe-") as work:
            os.chmod(work, 0o755)  # reachable by a dropped uid
            argv = [unshare, "-Urnpm", "--fork", "--kill-child", "--mount-proc", sys.executable]
            # The interpreter itself must still start with everything hidden around it.
            keep = ":".join(_python_installation())
            argv += ["-I", "-S", str(_JAIL), work, hidden, keep, masked, sys.executable, "-c", ""]
            return _probe(argv, uid=uid)

    # Hiding homes, data, temporary directories and secrets is the usual case: probe it first,
    # then step down (homes only, then bare namespaces) so one failing layer costs only itself.
    hidden = ":".join(hidden_roots(default_hidden()))
    hide_private = unshare is not None and jail_works(hidden, "\n".join(host_secrets()))
    hide_home = hide_private or (unshare is not None and jail_works(":".join(default_hidden()), ""))
    namespaces = hide_home or (unshare is not None and jail_works("", ""))
    nocaps = (
        namespaces
        and setpriv is not None
        and unshare is not None
        and _probe([unshare, "-Ur", setpriv, *_NOCAPS, "--", "/bin/true"], uid=uid)
    )
    return IsolationPlan(
        cgroup_root=cgroup_root,
        drop_uid=drop_uid,
        namespaces=namespaces,
        nocaps=nocaps,
        hide_home=hide_home,
        hide_private=hide_private,
        prlimit=prlimit,
        unshare=unshare,
        setpriv=setpriv,
    )
