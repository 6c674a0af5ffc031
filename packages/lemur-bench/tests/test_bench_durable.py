"""SyncBehind's group commit: marks made within the window share one fsync pass, a waiter never
waits the window out, and a failed fsync is raised to whoever waits."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from lemur_bench import durable
from lemur_bench.durable import AppendLog, SyncBehind


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path the syncer fsyncs, in order (the real fsync still runs)."""
    seen: list[str] = []
    real = durable._fsync

    def counting(path: str, fd: int) -> None:
        seen.append(path)
        real(path, fd)

    monkeypatch.setattr(durable, "_fsync", counting)
    return seen


def test_marks_within_the_window_share_one_fsync_pass(tmp_path: Path, fsyncs: list[str]) -> None:
    syncer = SyncBehind(window=0.3)
    log = AppendLog(tmp_path / "episodes.jsonl", syncer)
    for i in range(50):
        log.append(f'{{"episode": {i}}}\n')
    # The pass runs once the window has passed, with nobody waiting (polled: a busy machine
    # may start the thread late, which must not read as "no pass").
    deadline = time.monotonic() + 10
    while not fsyncs and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    assert fsyncs == [str(tmp_path / "episodes.jsonl")]
    log.close()
    syncer.close()
    assert len((tmp_path / "episodes.jsonl").read_text().splitlines()) == 50


def test_a_waiter_cuts_the_window_short(tmp_path: Path, fsyncs: list[str]) -> None:
    syncer = SyncBehind(window=30.0)
    path = tmp_path / "a.txt"
    path.write_text("x")
    syncer.mark(path)
    started = time.monotonic()
    syncer.wait()
    assert time.monotonic() - started < 5.0 and fsyncs == [str(path)]
    syncer.mark(path)  # a second mark after the first pass: a second pass
    syncer.close()
    assert fsyncs == [str(path), str(path)]


def test_an_fsync_error_reaches_the_waiter(tmp_path: Path) -> None:
    syncer = SyncBehind(window=0.0)
    # A descriptor no process has open: fsync fails (EBADF), as a failing disk's would (EIO).
    bad_fd = os.sysconf("SC_OPEN_MAX") + 1000
    syncer.mark(tmp_path / "b.txt", bad_fd)
    with pytest.raises(OSError):
        syncer.wait()
