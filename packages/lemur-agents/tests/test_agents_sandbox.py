"""The hostile-program suite: each attack is contained, the host unharmed, the next call works."""

from __future__ import annotations

import os
import resource
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lemur_agents.sandbox import PythonSession, Sandbox, SandboxLimits

PY = sys.executable
LIMITS = SandboxLimits(
    cpu_seconds=1,
    memory_bytes=512 << 20,
    max_processes=32,
    max_file_bytes=1 << 20,
    max_open_files=64,
    wall_seconds=6,
    max_output_bytes=64 << 10,
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(LIMITS) as box:
        yield box


@pytest.fixture
def work(sandbox: Sandbox) -> Path:
    return sandbox.scratch_dir()


def _needs(sandbox: Sandbox, *layers: str) -> None:
    level = sandbox.isolation_level.split("+")
    missing = [layer for layer in layers if layer not in level]
    if missing:
        pytest.skip(f"isolation {sandbox.isolation_level} lacks {missing} on this machine")


def _next_call_works(sandbox: Sandbox, work: Path) -> None:
    result = sandbox.run([PY, "-c", "print('still alive')"], cwd=work)
    assert result.ok and result.stdout == "still alive\n", result


def test_a_normal_program_runs_with_stdin_and_exit_code(sandbox: Sandbox, work: Path) -> None:
    result = sandbox.run(
        [PY, "-c", "import sys; print(sys.stdin.read().upper()); sys.exit(3)"],
        cwd=work,
        stdin="hello",
    )
    assert (result.stdout, result.exit_code, result.killed_reason) == ("HELLO\n", 3, None)
    assert result.isolation == sandbox.isolation_level


def test_environment_is_scrubbed(
    sandbox: Sandbox, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEMUR_SECRET_TOKEN", "hunter2")
    result = sandbox.run("env", cwd=work, env={"EXTRA": "yes"})
    assert "hunter2" not in result.stdout
    assert "EXTRA=yes" in result.stdout


def _processes_running(marker: str) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    count += 1
            except OSError:
                continue
    return count


def test_fork_bomb_is_contained(sandbox: Sandbox, work: Path) -> None:
    if "no-process-cap" in sandbox.isolation_level:
        pytest.skip(f"isolation {sandbox.isolation_level} cannot cap processes: not forking")
    marker = f"lemur-fork-bomb-{os.getpid()}"
    bomb = f"# {marker}\nimport os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = sandbox.run([PY, "-c", bomb], cwd=work, timeout=3)
    assert not result.ok
    time.sleep(0.2)
    assert _processes_running(marker) == 0, "fork bomb children survived the call"
    _next_call_works(sandbox, work)


def test_memory_bomb_is_contained(sandbox: Sandbox, work: Path) -> None:
    result = sandbox.run([PY, "-c", "x = bytearray(2 << 30); print('allocated')"], cwd=work)
    assert result.exit_code != 0 and "allocated" not in result.stdout
    assert "MemoryError" in result.stderr
    _next_call_works(sandbox, work)


def test_infinite_loop_hits_the_cpu_limit(sandbox: Sandbox, work: Path) -> None:
    # A generous wall clock: on a loaded machine one CPU second can take many wall seconds,
    # and the point is that the CPU limit (not the timeout) ends it.
    result = sandbox.run([PY, "-c", "while True: pass"], cwd=work, timeout=60)
    assert result.killed_reason == "cpu_limit" and not result.timed_out
    _next_call_works(sandbox, work)


def test_cpu_spin_inside_a_c_extension_is_killed(sandbox: Sandbox, work: Path) -> None:
    # Catastrophic backtracking runs entirely inside the C regex engine: no bytecode boundary
    # at which Python could notice a signal.
    spin = "import re; re.match(r'(a+)+$', 'a' * 64 + 'b')"
    result = sandbox.run([PY, "-c", spin], cwd=work, timeout=60)
    assert result.killed_reason == "cpu_limit", result
    _next_call_works(sandbox, work)


def test_sleeping_past_the_wall_clock_is_killed(sandbox: Sandbox, work: Path) -> None:
    result = sandbox.run([PY, "-c", "import time; time.sleep(60)"], cwd=work, timeout=1)
    assert result.timed_out and result.killed_reason == "wall_timeout"
    assert result.duration_s < 5
    _next_call_works(sandbox, work)


def test_network_connection_attempt_fails(sandbox: Sandbox, work: Path) -> None:
    _needs(sandbox, "netns")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = (
            "import socket\n"
            f"for host in [('127.0.0.1', {port}), ('1.1.1.1', 53)]:\n"
            "    try:\n"
            "        socket.create_connection(host, timeout=2)\n"
            "        print('CONNECTED', host)\n"
            "    except OSError as exc:\n"
            "        print('refused', type(exc).__name__)\n"
        )
        result = sandbox.run([PY, "-c", code], cwd=work)
    assert "CONNECTED" not in result.stdout and result.stdout.count("refused") == 2, result


def test_writing_outside_the_scratch_directory_fails(
    sandbox: Sandbox, work: Path, tmp_path: Path
) -> None:
    _needs(sandbox, "mountns-ro")
    target = tmp_path / "escaped.txt"
    result = sandbox.run(f"echo pwned > {target}; echo inside > inside.txt", cwd=work)
    assert not target.exists()
    assert (work / "inside.txt").read_text() == "inside\n"
    assert result.exit_code == 0  # the last command (inside the scratch dir) succeeded


def test_deleting_the_parents_files_fails(sandbox: Sandbox, work: Path, tmp_path: Path) -> None:
    _needs(sandbox, "mountns-ro")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    sandbox.run(f"rm -rf {victim}; rm -rf {Path(__file__).parent}", cwd=work)
    assert (victim / "precious.txt").read_text() == "keep me"
    assert Path(__file__).exists()


def test_gigantic_output_is_capped_quickly(sandbox: Sandbox, work: Path) -> None:
    result = sandbox.run("yes 'all work and no play'", cwd=work)
    assert result.truncated and result.killed_reason == "output_limit"
    assert len(result.stdout.encode()) + len(result.stderr.encode()) <= LIMITS.max_output_bytes
    assert result.duration_s < 5
    _next_call_works(sandbox, work)


def test_a_huge_file_is_stopped_by_the_file_size_limit(sandbox: Sandbox, work: Path) -> None:
    code = "open('big.bin', 'wb').write(b'x' * (8 << 20))"
    result = sandbox.run([PY, "-c", code], cwd=work)
    # Python ignores SIGXFSZ, so it sees EFBIG; a C program (dd) is killed by the signal.
    assert "File too large" in result.stderr
    assert (work / "big.bin").stat().st_size <= LIMITS.max_file_bytes
    result = sandbox.run("dd if=/dev/zero of=big2.bin bs=1M count=8", cwd=work)
    assert result.killed_reason == "file_size_limit", result
    assert (work / "big2.bin").stat().st_size <= LIMITS.max_file_bytes


@pytest.mark.parametrize("launcher", ["plain", "setsid"])
def test_background_process_cannot_outlive_the_call(
    sandbox: Sandbox, work: Path, launcher: str
) -> None:
    marker = work / f"survived-{launcher}"
    prefix = "setsid " if launcher == "setsid" else ""
    result = sandbox.run(f"{prefix}sh -c 'sleep 1; touch {marker}' & echo started", cwd=work)
    assert result.stdout == "started\n" and result.duration_s < 3
    time.sleep(1.8)
    assert not marker.exists(), "a background process kept running after the call"


def test_signal_games_do_not_reach_the_host(sandbox: Sandbox, work: Path) -> None:
    _needs(sandbox, "pidns")
    me = os.getpid()
    script = (
        "trap '' TERM INT HUP QUIT; "
        f"kill -9 {me} 2>/dev/null; kill -9 $PPID 2>/dev/null; kill -9 -1 2>/dev/null; "
        "sleep 30"
    )
    result = sandbox.run(script, cwd=work, timeout=1.5)
    assert result.timed_out  # ignoring TERM does not save it from the sandbox's SIGKILL
    assert os.getpid() == me  # and we are still here to check
    _next_call_works(sandbox, work)


def test_limits_are_clamped_to_the_machines_hard_limits() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("RLIMIT_NOFILE has no hard limit here")
    limits = SandboxLimits(max_open_files=hard * 10).clamped()
    assert limits.max_open_files == hard


def test_limits_reject_unknown_fields_naming_them() -> None:
    with pytest.raises(ValueError, match="cpu_secs"):
        SandboxLimits.model_validate({"cpu_secs": 3})


# -- the persistent interpreter ----------------------------------------------------------


@pytest.fixture(scope="module")
def session() -> Iterator[PythonSession]:
    with PythonSession(LIMITS.model_copy(update={"wall_seconds": 2.0})) as py:
        yield py


def test_session_state_survives_across_calls(session: PythonSession) -> None:
    assert session.run("import math\nx = 40").ok
    result = session.run("def f(y):\n    return y + 2\nf(x)")
    assert result.stdout == "42\n"


def test_session_reports_errors_as_output_and_keeps_state(session: PythonSession) -> None:
    session.run("kept = 'yes'")
    result = session.run("1 / 0")
    assert result.exit_code == 1 and "ZeroDivisionError" in result.stdout
    assert "_session_server" not in result.stdout  # the model sees only its own frames
    assert session.run("kept").stdout == "'yes'\n"


def test_session_timeout_interrupts_the_cell_but_keeps_state(session: PythonSession) -> None:
    session.run("before_timeout = 7")
    result = session.run("import time\ntime.sleep(30)", timeout=0.5)
    assert result.timed_out
    assert session.run("before_timeout").stdout == "7\n"


def test_session_restarts_after_a_crash(session: PythonSession) -> None:
    session.run("lost = 1")
    restarts = session.restarts
    crashed = session.run("import os\nos._exit(5)")
    assert crashed.killed_reason == "interpreter_crashed" and crashed.exit_code == 5
    assert crashed.restarted and "interpreter was restarted" in crashed.stdout
    after = session.run("print('fresh')\n'lost' in globals()")
    assert after.stdout == "fresh\nFalse\n" and session.restarts == restarts + 1


def test_session_captures_subprocess_and_c_level_output(session: PythonSession) -> None:
    result = session.run("import os\nos.system('echo from-a-child')\nos.write(1, b'raw\\n')")
    assert "from-a-child\n" in result.stdout and "raw\n" in result.stdout


def test_the_process_cap_cannot_be_escaped_through_cgroupfs(sandbox: Sandbox, work: Path) -> None:
    _needs(sandbox, "cgroup-pids", "mountns-ro")
    result = sandbox.run("echo $$ > /sys/fs/cgroup/pids/cgroup.procs && echo ESCAPED", cwd=work)
    assert "ESCAPED" not in result.stdout and "Read-only" in result.stderr


def test_pipelines_behave_as_in_a_shell(sandbox: Sandbox, work: Path) -> None:
    # SIGPIPE must be at its default inside the sandbox or `yes` would spin on EPIPE.
    result = sandbox.run("yes | head -n 2", cwd=work, timeout=5)
    assert result.ok and result.stdout == "y\ny\n"


def test_credentials_in_the_home_directory_are_hidden(sandbox: Sandbox, work: Path) -> None:
    _needs(sandbox, "home-hidden")
    secret = Path.home() / f".lemur-test-secret-{os.getpid()}"
    secret.write_text("sk-do-not-leak")
    try:
        result = sandbox.run(f"cat {secret}; ls -a {Path.home()}", cwd=work)
        assert "sk-do-not-leak" not in result.stdout
        assert secret.name not in result.stdout
        # ... while the interpreter (which may live under the home directory) still runs.
        assert sandbox.run([PY, "-c", "import json; print('ok')"], cwd=work).stdout == "ok\n"
    finally:
        secret.unlink()


def test_host_secrets_lists_the_files_only_root_may_read() -> None:
    from lemur_agents.sandbox.isolation import host_secrets

    shadow = Path("/etc/shadow")
    if not shadow.exists() or shadow.stat().st_mode & 0o004:
        pytest.skip("no /etc/shadow that others cannot read on this machine")
    found = host_secrets()
    assert "/etc/shadow" in found
    assert "/etc/passwd" not in found  # world-readable files stay visible


def test_a_sandbox_sees_only_its_own_scratch_directory(sandbox: Sandbox, work: Path) -> None:
    _needs(sandbox, "tmp-private")
    with Sandbox(LIMITS) as other:
        theirs = other.scratch_dir()
        (theirs / "notes.txt").write_text("theirs")
        result = sandbox.run(f"ls {work.parent}; cat {theirs}/notes.txt", cwd=work)
    assert result.stdout.split() == [work.name], result
    assert "theirs" not in result.stdout


def test_a_session_cell_that_floods_output_leaves_no_trace_in_the_next(
    session: PythonSession,
) -> None:
    flood = session.run("import sys\nsys.stdout.write('x' * 200000)\nraise ValueError('boom')")
    assert flood.truncated
    assert session.run("print('clean')").stdout == "clean\n"


def test_each_sandbox_has_a_private_writable_dev_shm(sandbox: Sandbox, work: Path) -> None:
    _needs(sandbox, "tmp-private")
    if not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm on this machine")
    with Sandbox(LIMITS) as other:
        mine = sandbox.run("echo mine > /dev/shm/note && cat /dev/shm/note", cwd=work)
        theirs = other.run("ls -A /dev/shm", cwd=other.scratch_dir())
    assert mine.stdout == "mine\n" and theirs.stdout == "", (mine, theirs)
    assert not Path("/dev/shm/note").exists()  # nor is it the host's


def test_multiprocessing_works_in_a_session(session: PythonSession) -> None:
    code = "import multiprocessing as mp\nwith mp.Pool(2) as pool:\n    out = pool.map(abs, [-1, -2])\nout"
    result = session.run(code, timeout=30)
    assert result.stdout == "[1, 2]\n" and not result.restarted, result


def test_visible_paths_re_expose_a_hidden_directory(sandbox: Sandbox) -> None:
    _needs(sandbox, "data-hidden", "home-hidden", "tmp-private")
    here = Path(__file__).resolve()
    if here.parts[1] in ("usr", "opt", "var", "etc", "boot", "run"):
        pytest.skip(f"the checkout lives under /{here.parts[1]}, which the sandbox shows anyway")
    with Sandbox(LIMITS, visible_paths=(str(here.parent),)) as shown:
        work = shown.scratch_dir()
        seen = shown.run(["head", "-c", "3", str(here)], cwd=work)
        hidden = sandbox.run(["head", "-c", "3", str(here)], cwd=sandbox.scratch_dir())
    assert seen.stdout == '"""', seen
    assert hidden.exit_code != 0 and hidden.stdout == "", hidden
