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
    secrets = tuple(str(rotating / f"state{i}") for i in range(ROTATING))
    real = isolation.host_secrets()
    monkeypatch.setattr(isolation, "host_secrets", lambda: (*real, *secrets))
    runs: list[int] = []
    original = Sandbox._run_once

    def counted(self: Sandbox, *args: object, **kwargs: object) -> ExecResult:
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
