"""The stage lifecycle: one writer per directory, takeover after kill -9, checked reuse, disk errors.

The concurrency and kill tests run real processes (``stage_worker.py``) on one directory.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from lemur_core.manifest import (
    ArtifactManifest,
    InputRef,
    ManifestError,
    Producer,
    StaleArtifactError,
    read_manifest,
    write_manifest,
)
from lemur_core.stage import (
    StageBusyError,
    StageDiskError,
    StageError,
    StageStatus,
    claim,
    default_scratch,
    verify_artifact,
)

WORKER = Path(__file__).with_name("stage_worker.py")
CONFIG: dict[str, Any] = {"optimizer": {"peak_lr": 1e-4, "betas": [0.9, 0.95]}, "steps": 3}


def _run(out: Path, config: dict = CONFIG, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(WORKER), str(out), json.dumps(config), *flags],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _report(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _start_holder(out: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, str(WORKER), str(out), json.dumps(CONFIG), "--hold"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    line = holder.stdout.readline()
    assert line.strip() == "HOLDING", holder.stderr.read() if holder.stderr else line
    return holder


def test_second_writer_refuses_with_the_holders_pid_then_takes_over_after_kill_9(
    tmp_path: Path,
) -> None:
    out = tmp_path / "art"
    holder = _start_holder(out)
    try:
        second = _run(out)
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert f"already running (pid {holder.pid}, since " in lines[0]
        assert not out.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    # The dead writer's lock is gone with it; its scratch (same config) is resumed, not wiped.
    report = _report(_run(out))
    assert report["status"] == "resumed"
    assert report["found_piece"] is True
    assert report["published_files"] == ["data.bin", "sub/notes.txt"]
    assert not default_scratch(out).exists()
    assert _report(_run(out))["status"] == "reused"


def test_publish_records_every_file_with_its_size_and_sha256(tmp_path: Path) -> None:
    out = tmp_path / "art"
    assert _report(_run(out))["status"] == "fresh"
    manifest = read_manifest(out)
    listed = {f.path: (f.size, f.sha256) for f in manifest.files}
    on_disk = {
        p.relative_to(out).as_posix(): (
            p.stat().st_size,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in out.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert listed == on_disk
    assert verify_artifact(out) == manifest


def test_leftovers_of_a_killed_atomic_write_are_not_published(tmp_path: Path) -> None:
    out = tmp_path / "art"
    with claim(out, "toy", CONFIG, schema_version=1) as c:
        c.staging.mkdir(parents=True)
        (c.staging / "data.bin").write_bytes(b"d" * 10)
        (c.staging / ".data.bin.x1y2.tmp").write_bytes(b"half")  # what a kill mid-write leaves
        manifest = ArtifactManifest.create(
            kind="toy", schema_version=1, producer=Producer(package="t", version="0"), config=CONFIG
        )
        result = c.publish(manifest)
    assert [f.path for f in result.manifest.files] == ["data.bin"]
    assert sorted(p.name for p in out.iterdir()) == ["data.bin", "manifest.json"]


def test_truncated_file_is_caught_by_its_size_and_rebuilt(tmp_path: Path) -> None:
    out = tmp_path / "art"
    _report(_run(out))
    with (out / "data.bin").open("r+b") as handle:
        handle.truncate(100)
    report = _report(_run(out))
    assert report["status"] == "fresh"
    assert "data.bin is 100 bytes, the manifest says 2048" in report["reason"]
    assert (out / "data.bin").stat().st_size == 2048
    assert _report(_run(out))["status"] == "reused"


def test_same_size_corruption_is_caught_only_when_verifying(tmp_path: Path) -> None:
    out = tmp_path / "art"
    _report(_run(out))
    data = bytearray((out / "data.bin").read_bytes())
    data[10] ^= 0xFF
    (out / "data.bin").write_bytes(bytes(data))
    assert _report(_run(out))["status"] == "reused"  # sizes only: cheap, and equal here
    with pytest.raises(ManifestError, match=r"data\.bin does not match its sha256"):
        verify_artifact(out)
    report = _report(_run(out, CONFIG, "--verify"))
    assert report["status"] == "fresh"
    assert "data.bin does not match its sha256" in report["reason"]
    verify_artifact(out)


def test_another_config_names_the_nested_field_and_force_replaces_it(tmp_path: Path) -> None:
    out = tmp_path / "art"
    _report(_run(out))
    other = {**CONFIG, "optimizer": {**CONFIG["optimizer"], "peak_lr": 2e-5}}
    refused = _run(out, other)
    assert refused.returncode == 2
    assert "(fields differ: optimizer.peak_lr)" in refused.stderr
    forced = _report(_run(out, other, "--force"))
    assert forced["status"] == "fresh"
    assert forced["changed"] == ["optimizer.peak_lr"]
    assert read_manifest(out).config == other


def test_scratch_of_another_config_is_cleaned_or_refused(tmp_path: Path) -> None:
    out = tmp_path / "art"
    holder = _start_holder(out)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    other = {**CONFIG, "steps": 4}
    with pytest.raises(StaleArtifactError, match="fields differ: steps"):
        claim(out, "toy", other, schema_version=1, stale_scratch="refuse")
    with claim(out, "toy", other, schema_version=1) as c:
        assert c.status is StageStatus.FRESH
        assert c.changed_fields == ("steps",)
        assert not (c.scratch / "piece.txt").exists()


def test_in_process_second_claim_is_refused_and_released_on_exit(tmp_path: Path) -> None:
    out = tmp_path / "art"
    with (
        claim(out, "toy", CONFIG, schema_version=1),
        pytest.raises(StageBusyError, match=f"pid {os.getpid()}"),
    ):
        claim(out, "toy", CONFIG, schema_version=1)
    with claim(out, "toy", CONFIG, schema_version=1) as again:
        assert again.status is StageStatus.RESUMED  # the first left its stamped scratch


def test_non_empty_directory_without_manifest_is_not_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "art"
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    with pytest.raises(StageError, match="holds no toy manifest"):
        claim(out, "toy", CONFIG, schema_version=1)
    assert (out / "precious.txt").read_text() == "mine"


def test_run_directory_scratch_holds_the_artifact_and_is_kept(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with claim(run / "hf", "toy", CONFIG, schema_version=1, scratch=run) as c:
        (run / "checkpoint").write_text("step 3")
        staging = run / ".hf.tmp"
        staging.mkdir()
        (staging / "weights").write_bytes(b"w" * 10)
        manifest = ArtifactManifest.create(
            kind="toy", schema_version=1, producer=Producer(package="t", version="0"), config=CONFIG
        )
        result = c.publish(manifest, staging=staging)
    assert result.out_dir == run / "hf" and not result.reused
    # Staged under a hidden ".tmp" name, the files are still all listed (and the manifest not).
    assert [f.path for f in result.manifest.files] == ["weights"]
    assert (run / "checkpoint").exists() and (run / "hf" / "weights").exists()
    assert (tmp_path / ".run.lock").exists()  # the lock sits beside the whole run directory
    with claim(run / "hf", "toy", CONFIG, schema_version=1, scratch=run) as c:
        assert c.result().reused


def test_disk_full_is_one_line_naming_the_path_and_leaves_no_new_scratch(tmp_path: Path) -> None:
    out = tmp_path / "art"
    with (
        pytest.raises(StageDiskError) as caught,
        claim(out, "toy", CONFIG, schema_version=1) as c,
        open("/dev/full", "wb") as full,  # the kernel's ENOSPC, no mock
    ):
        scratch = c.scratch
        full.write(b"x" * 4096)
        full.flush()
    message = str(caught.value)
    assert "\n" not in message
    # A write through a file object carries no file name: the stage's scratch is named instead.
    assert message.startswith(f"cannot write {scratch}: no space left on device; free space")
    assert caught.value.errno == errno.ENOSPC
    assert not scratch.exists()
    with claim(out, "toy", CONFIG, schema_version=1) as again:  # the lock was released
        assert again.status is StageStatus.FRESH


def test_old_manifests_without_a_file_list_still_load(tmp_path: Path) -> None:
    manifest = ArtifactManifest.create(
        kind="toy", schema_version=1, producer=Producer(package="t", version="0"), config=CONFIG
    )
    raw = json.loads(manifest.model_dump_json())
    del raw["files"]
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    assert read_manifest(tmp_path).files == ()
    write_manifest(tmp_path, manifest)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare for a read-only mount")
def test_read_only_directory_gives_one_line_error_and_no_scratch(tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("user namespaces are not available here")
    # A read-only bind mount in a private mount namespace: a real EROFS, even for root.
    script = (
        f"mount --bind {parent} {parent} && mount -o remount,bind,ro {parent} && "
        f"exec {sys.executable} {WORKER} {parent / 'art'} '{json.dumps(CONFIG)}'"
    )
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"cannot write {parent}/.art.lock: read-only file system; " in lines[0]
    assert list(parent.iterdir()) == []


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run the writer as another user",
)
def test_permission_denied_gives_one_line_error_and_no_scratch() -> None:
    # pytest's own tmp_path is private to root; this directory is readable, not writable, by others.
    parent = Path(tempfile.mkdtemp(prefix="lemur-stage-perm-"))
    try:
        parent.chmod(0o755)
        proc = subprocess.run(
            [
                *("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable),
                *(str(WORKER), str(parent / "art"), json.dumps(CONFIG)),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd="/",
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"error: cannot write {parent}/.art.lock: permission denied; make it writable by this "
            "user (chmod/chown) or choose another output directory"
        ]
        assert list(parent.iterdir()) == []
    finally:
        shutil.rmtree(parent)


def test_a_damaged_input_artifact_is_named_before_any_work(tmp_path: Path) -> None:
    source = tmp_path / "source"
    _report(_run(source))
    with (source / "data.bin").open("r+b") as handle:
        handle.truncate(10)
    ref = InputRef(path=str(source), kind="toy", sha256="a" * 64)
    out = tmp_path / "derived"
    with pytest.raises(
        StageError, match=r"input toy artifact .*source is damaged: .*data\.bin is 10"
    ):
        claim(out, "derived", CONFIG, [ref], schema_version=1)
    assert not default_scratch(out).exists()
