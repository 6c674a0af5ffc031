"""The warm zygote gives a call what the cold exec chain gives it: same isolation, same results,
its own scratch, tmp and process tree, under concurrency, after a fork and after a crash."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lemur_agents.sandbox import Sandbox, SandboxLimits, warm

PY = sys.executable
LIMITS = SandboxLimits(
    cpu_seconds=2,
    memory_bytes=512 << 20,
    max_processes=32,
    max_open_files=64,
    wall_seconds=10,
    max_output_bytes=64 << 10,
)


@pytest.fixture(scope="module")
def boxes() -> Iterator[tuple[Sandbox, Sandbox]]:
    with Sandbox(LIMITS) as hot, Sandbox(LIMITS, warm=False) as cold:
        if not hot.warm:
            pytest.skip(f"isolation {hot.isolation_level}: no namespaces, no warm start")
        yield hot, cold


def _mounts(sandbox: Sandbox, work: Path) -> list[tuple[str, bool]]:
    result = sandbox.run("cat /proc/self/mountinfo", cwd=work)
    assert result.ok, result
    rows = [line.split() for line in result.stdout.splitlines()]
    return [(row[4], "ro" in row[5].split(",")) for row in rows]


def test_warm_and_cold_calls_get_the_same_isolation_and_results(
    boxes: tuple[Sandbox, Sandbox],
) -> None:
    hot, cold = boxes
    assert hot.isolation_level == cold.isolation_level
    work = hot.scratch_dir()
    started = hot.warm_starts
    probes = [
        [PY, "-c", "import sys; print(sys.stdin.read()[::-1]); sys.exit(7)"],
        "id -u; ls /; ls /tmp; ls /dev/shm; ulimit -n; ulimit -v; cat /proc/self/status | grep Cap",
        "echo $$; ps -e -o pid= | wc -l; env | sort",
        ["/no/such/program"],
        "kill -9 $$",
        [PY, "-c", "import os; print(os.getcwd(), os.listdir('.'))"],
    ]
    for probe in probes:
        a = hot.run(probe, cwd=work, stdin="abc")
        b = cold.run(probe, cwd=work, stdin="abc")
        assert (a.stdout, a.stderr, a.exit_code, a.killed_reason) == (
            b.stdout,
            b.stderr,
            b.exit_code,
            b.killed_reason,
        ), probe
        assert a.isolation == b.isolation == hot.isolation_level
    assert hot.warm_starts - started == len(probes)  # the warm path really ran
    assert _mounts(hot, work) == _mounts(cold, work)  # same mounts, same read-only flags


def test_concurrent_calls_see_only_their_own_scratch_and_processes(
    boxes: tuple[Sandbox, Sandbox],
) -> None:
    hot, _ = boxes
    dirs = [hot.scratch_dir() for _ in range(6)]
    results: dict[int, str] = {}
    errors: list[BaseException] = []
    code = (
        "import os, time\n"
        "open('mine', 'w').write(str(os.getpid()))\n"
        "time.sleep(0.3)\n"
        "seen = sorted(os.listdir('/tmp'))\n"
        "procs = sorted(p for p in os.listdir('/proc') if p.isdigit())\n"
        "shm = sorted(os.listdir('/dev/shm'))\n"
        "print(len(seen), len(procs) <= 2, shm, open('mine').read())\n"
    )

    def one(i: int) -> None:
        try:
            # Plant a file in /dev/shm: no other call may see it.
            setup = hot.run(f"touch /dev/shm/call-{i}", cwd=dirs[i])
            assert setup.ok, setup
            result = hot.run([PY, "-c", code], cwd=dirs[i])
            assert result.ok, result
            results[i] = result.stdout
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(dirs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    for i in range(len(dirs)):
        # one entry under /tmp (its own scratch dir), its own pid namespace (init + itself),
        # an empty private /dev/shm, and the file it wrote itself: pid 2 of its namespace.
        assert results[i] == "1 True [] 2\n", (i, results[i])


def test_no_process_outlives_a_warm_call(boxes: tuple[Sandbox, Sandbox]) -> None:
    hot, _ = boxes
    work = hot.scratch_dir()
    marker = f"lemur-warm-survivor-{os.getpid()}"
    # The marker is each shell's $0, so it shows in their command lines.
    script = f"setsid sh -c 'sleep 30; true' {marker} & sh -c 'sleep 30; true' {marker} & echo ok"
    result = hot.run(script, cwd=work)
    assert result.stdout == "ok\n"
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        alive = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline_has(p, marker)]
        if not alive:
            break
        time.sleep(0.05)
    assert not alive, "a background process outlived the call"


def _cmdline_has(proc: Path, marker: str) -> bool:
    try:
        return marker.encode() in (proc / "cmdline").read_bytes()
    except OSError:
        return False


def test_a_timed_out_warm_call_is_killed_with_its_whole_tree(
    boxes: tuple[Sandbox, Sandbox],
) -> None:
    hot, _ = boxes
    work = hot.scratch_dir()
    result = hot.run("trap '' TERM; sleep 30 & sleep 30", cwd=work, timeout=0.5)
    assert result.timed_out and result.killed_reason == "wall_timeout"
    assert result.duration_s < 5
    assert hot.run("echo again", cwd=work).stdout == "again\n"


def _child_run(work: str, queue: multiprocessing.Queue[str]) -> None:
    with Sandbox(LIMITS) as box:
        result = box.run("echo from-the-child", cwd=Path(work))
        queue.put(f"{result.stdout.strip()} {box.warm_starts} {warm.zygote_pid()}")


def test_a_forked_host_process_starts_its_own_zygote(boxes: tuple[Sandbox, Sandbox]) -> None:
    hot, _ = boxes
    work = hot.scratch_dir()
    assert hot.run("true", cwd=work).ok
    parent_zygote = warm.zygote_pid()
    assert parent_zygote is not None
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[str] = context.Queue()
    child = context.Process(target=_child_run, args=(str(work), queue))
    child.start()
    child.join(timeout=60)
    said, starts, child_zygote = queue.get(timeout=5).split()
    assert (said, starts) == ("from-the-child", "1")
    assert int(child_zygote) != parent_zygote
    # and the parent's zygote still serves the parent
    assert hot.run("echo parent", cwd=work).stdout == "parent\n"
    assert warm.zygote_pid() == parent_zygote


def test_a_killed_zygote_is_replaced(boxes: tuple[Sandbox, Sandbox]) -> None:
    hot, _ = boxes
    work = hot.scratch_dir()
    assert hot.run("true", cwd=work).ok
    old = warm.zygote_pid()
    assert old is not None
    os.kill(old, signal.SIGKILL)
    time.sleep(0.2)
    before = hot.warm_starts
    result = hot.run("echo back", cwd=work)
    assert result.stdout == "back\n"
    assert hot.warm_starts == before + 1
    assert warm.zygote_pid() not in (None, old)


def test_finished_calls_leave_no_cgroup_behind(boxes: tuple[Sandbox, Sandbox]) -> None:
    hot, _ = boxes
    root = hot._plan.cgroup_root
    if root is None:
        pytest.skip(f"isolation {hot.isolation_level} has no pids cgroup")
    work = hot.scratch_dir()
    assert hot.run("true", cwd=work).ok
    zygote = warm.zygote_pid()
    mine = f"lemur-{os.getpid()}-"
    for _ in range(5):
        hot.run("true", cwd=work)
    hot.run("sleep 10", cwd=work, timeout=0.3)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [p for p in root.iterdir() if p.name.startswith(mine)]
        # the zygote's spares hold one cgroup each, nothing else remains
        if len(left) <= 2:
            break
        time.sleep(0.05)
    assert len(left) <= 2, [(p.name, (p / "cgroup.procs").read_text().split()) for p in left]
    assert warm.zygote_pid() == zygote


def test_a_low_open_file_limit_still_starts_calls() -> None:
    # The jail's own descriptors count against the call's RLIMIT_NOFILE (16 is the least
    # SandboxLimits allows): warm and cold calls must still start, with the stdio only open.
    limits = SandboxLimits(max_open_files=16, wall_seconds=10)
    for warm_start in (True, False):
        with Sandbox(limits, warm=warm_start) as box:
            work = box.scratch_dir()
            for _ in range(3):
                # _run_once: one attempt, and whether a warm jail failed (run() would retry cold)
                result, jail_failed = box._run_once(
                    "echo ok; ls /proc/self/fd | wc -l", work, None, 10.0, None, warm=warm_start
                )
                assert (result.exit_code, result.stdout, result.stderr) == (0, "ok\n4\n", "")
                assert not jail_failed


def test_a_working_directory_outside_the_temporary_directories(
    boxes: tuple[Sandbox, Sandbox],
) -> None:
    # Spares keep a way in only below the temporary directories (where scratch_dir makes
    # them); a call elsewhere under a cover gets a jail built for it, the same as cold.
    hot, cold = boxes
    work = Path(tempfile.mkdtemp(prefix="lemur-warm-work-", dir=Path(__file__).parent))
    try:
        probe = "pwd; echo hi > mine && cat mine; ls .. | wc -l"
        a, jail_failed = hot._run_once(probe, work, None, 10.0, None, warm=True)
        b = cold.run(probe, cwd=work)
        assert not jail_failed
        assert a.ok and (a.stdout, a.stderr) == (b.stdout, b.stderr), (a, b)
        assert a.stdout == f"{work}\nhi\n1\n"  # only itself in the covered parent
        assert _mounts(hot, work) == _mounts(cold, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
