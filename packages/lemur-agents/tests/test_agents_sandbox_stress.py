"""Warm calls under stress: many threads at once while the host's files change under the jail.

The jail covers every host file an ordinary user could not read (``/etc/shadow``, a daemon's
state files) with ``/dev/null``. Daemons rotate such files (slurmctld renames ``job_state`` to
``job_state.old`` and links a fresh one every few seconds): a file that vanished between the
jail's look and its mount made the whole call fail with "sandbox jail: cannot hide ..." (exit
125), the flake once seen in the HumanEval agreement test with Slurm running. Here the rotation
is done on purpose, much faster than a daemon would, while eight threads run warm calls.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lemur_agents.sandbox import Sandbox, SandboxLimits, isolation
from lemur_agents.sandbox.process import ExecResult

LIMITS = SandboxLimits(cpu_seconds=5, wall_seconds=20, max_processes=32)
THREADS, CALLS = 8, 12
ROTATING = 24  # secret files the rotator keeps replacing


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with Sandbox(LIMITS) as sandbox:
        if not sandbox.warm or "secrets-hidden" not in sandbox.isolation_level:
            pytest.skip(f"isolation {sandbox.isolation_level}: no warm jail that masks secrets")
        yield sandbox


def _rotate(directory: Path, stop: threading.Event) -> None:
    """Replace each file the way slurmctld saves its state: new file, unlink, link, unlink."""
    names = [directory / f"state{i}" for i in range(ROTATING)]
    while not stop.is_set():
        for path in names:
            fresh = path.with_suffix(".new")
            fresh.write_text("secret\n")
            os.chmod(fresh, 0o600)
            path.unlink(missing_ok=True)
            os.link(fresh, path)
            fresh.unlink()


def test_warm_calls_survive_secret_files_rotating_under_the_jail(
    box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rotating "secrets" live in a directory every call can see (a visible path of the
    # sandbox), so the jail really has to mask them on every call.
    rotating = box.scratch_dir(prefix="lemur-rotating-")
    box.visible_paths = (str(rotating),)
    # Mostly public files around the secrets: the jail masks the secrets one by one (a
    # directory mostly of secrets is covered whole, see the test below).
    for i in range(2 * ROTATING):
        (rotating / f"public{i}").write_text("public\n")
    secrets = tuple(str(rotating / f"state{i}") for i in range(ROTATING))
    real = isolation.host_secrets()
    monkeypatch.setattr(isolation, "host_secrets", lambda: (*real, *secrets))
    runs: list[int] = []
    original = Sandbox._run_once

    def counted(self: Sandbox, *args: object, **kwargs: object) -> tuple[ExecResult, bool]:
        runs.append(1)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Sandbox, "_run_once", counted)
    stop = threading.Event()
    rotator = threading.Thread(target=_rotate, args=(rotating, stop), daemon=True)
    rotator.start()
    failures: list[str] = []
    code = "print('done')"

    def worker() -> None:
        work = box.scratch_dir()
        for _ in range(CALLS):
            result = box.run([sys.executable, "-c", code], cwd=work)
            if not result.ok or not result.stdout.endswith("done\n"):
                failures.append(f"{result.exit_code}: {result.stderr.strip()[:200]}")

    started = time.monotonic()
    try:
        threads = [threading.Thread(target=worker) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        stop.set()
        rotator.join(timeout=10)
    assert not failures, failures[:5]
    # Every call ran once, on the warm path: no call needed the cold retry.
    assert len(runs) == THREADS * CALLS
    assert box.warm_starts == THREADS * CALLS
    assert time.monotonic() - started < 120


def test_a_secret_replaced_while_a_spare_waits_is_still_masked(
    box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spares prepare their jail before their call: a file replaced in between took its mask
    # with it (the kernel detaches a mount whose path is unlinked), so the spare must notice.
    secret_dir = box.scratch_dir(prefix="lemur-secret-")
    box.visible_paths = (str(secret_dir),)
    secret = secret_dir / "token"
    secret.write_text("old-secret\n")
    real = isolation.host_secrets()
    monkeypatch.setattr(isolation, "host_secrets", lambda: (*real, str(secret)))
    work = box.scratch_dir()
    read = [sys.executable, "-c", f"print(repr(open({str(secret)!r}).read()))"]
    for _ in range(3):  # the zygote learns this sandbox's settings; its spares prepare them
        assert box.run(read, cwd=work).stdout == "''\n"
    time.sleep(0.5)  # the spares' jails are built
    fresh = secret_dir / "token.new"
    fresh.write_text("new-secret\n")
    os.replace(fresh, secret)
    result = box.run(read, cwd=work)
    assert result.ok, result
    assert result.stdout == "''\n"  # masked: the new file is covered like the old one


def test_sandboxes_with_other_settings_alternate_on_the_warm_path(tmp_path: Path) -> None:
    # Spares are prepared for the last call's settings; a call with other settings is handed
    # back and gets a jail built for it: each sandbox still sees exactly what it should.
    shared = tmp_path / "data"
    shared.mkdir()
    (shared / "answer").write_text("42\n")
    os.chmod(tmp_path, 0o755)
    with Sandbox(LIMITS) as plain, Sandbox(LIMITS, visible_paths=(str(shared),)) as seeing:
        if not plain.warm or "tmp-private" not in plain.isolation_level:
            pytest.skip(f"isolation {plain.isolation_level}: no warm jail hiding /tmp")
        works = plain.scratch_dir(), seeing.scratch_dir()
        probe = f"cat {shared}/answer 2>/dev/null || echo hidden"
        for _ in range(6):
            assert plain.run(probe, cwd=works[0]).stdout == "hidden\n"
            assert seeing.run(probe, cwd=works[1]).stdout == "42\n"
        assert plain.warm_starts == seeing.warm_starts == 6


def test_a_directory_dense_with_secrets_is_covered_whole(
    box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Like slurmctld's state directory: many files only root may read, one public file.
    var = box.scratch_dir(prefix="lemur-var-")
    box.visible_paths = (str(var),)
    spool = var / "spool"
    spool.mkdir()
    secrets = []
    for i in range(10):
        path = spool / f"state{i}"
        path.write_text("secret\n")
        os.chmod(path, 0o600)
        secrets.append(str(path))
    (spool / "clustername").write_text("lemur\n")
    real = isolation.host_secrets()
    monkeypatch.setattr(isolation, "host_secrets", lambda: (*real, *secrets))
    work = box.scratch_dir()
    look = f"ls {spool}; cat {spool}/clustername; cat {spool}/state0 {spool}/late 2>&1 | wc -l"
    first = box.run(look, cwd=work)
    assert first.ok, first
    assert first.stdout == "clustername\nlemur\n2\n"  # both cat errors, nothing read
    # Files that appear or are replaced there later stay hidden too; a directory that is kept
    # visible itself has its secrets masked one by one.
    (spool / "late").write_text("secret\n")
    os.replace(spool / "state1", spool / "state0")
    for _ in range(3):
        again = box.run(look, cwd=work)
        assert again.stdout == first.stdout, again
    box.visible_paths = (str(spool),)
    kept = box.run(f"ls {spool}; cat {spool}/state2 | wc -c", cwd=work)
    assert kept.stdout.split("\n")[-2] == "0", kept  # visible, and the secret masked
