"""The one lifecycle of every stage: claim the output directory, work in scratch, publish.

Every stage (corpus, instruct, pretrain, sft, eval) goes through it, so "reuse or rebuild",
"resume a killed run", "two writers", "is the artifact still whole" and "the disk is full" are
decided here once::

    from lemur_core.stage import claim

    with claim(out, "corpus", config, inputs, force, schema_version=1, name="corpus") as c:
        if c.status is StageStatus.REUSED:   # same config and inputs, every file checked
            return c.result()
        if c.changed_fields:                 # e.g. ("optimizer.peak_lr",) when forced or cleaned
            log.info("rebuilding: %s", c.changed_fields)
        build_into(c.staging, work=c.scratch) # RESUMED: c.scratch holds the dead writer's work
        return c.publish(manifest=manifest)  # sizes + sha256 of every file, then one rename

What a claim does, in order:

1. **Lock.** ``fcntl.flock`` on ``.<name>.lock`` beside the claimed directory. The kernel drops
   the lock when its holder dies (even by ``kill -9``), so a dead writer's lock is taken over
   by the next run; a live one makes :func:`claim` raise :class:`StageBusyError`
   ("already running (pid N, since T)"), read from the pid and time written in the lock file.
2. **Reuse.** A manifest in ``out`` made as this kind from the same config and inputs is
   reused after every listed file's size is re-checked (and its sha256 with ``verify=True``).
   A damaged artifact is removed and rebuilt; :attr:`Claim.reason` says which file.
   Another config raises :class:`~lemur_core.manifest.StaleArtifactError` naming the differing
   fields (nested, ``optimizer.peak_lr``) unless ``force``.
3. **Scratch.** ``scratch`` (default ``.<name>.work`` beside ``out``) carries a stamp of the
   config that made it. A dead writer's scratch from the same config is handed over as is
   (status ``RESUMED``: each stage resumes from its own completed pieces); scratch from another
   config is deleted (``stale_scratch="clean"``) or refused (``"refuse"``, for run directories
   whose checkpoints a user would not want silently lost).
4. **Publish.** :meth:`Claim.publish` lists every file of the staged artifact with its size and
   sha256 in the manifest, then renames the staging directory onto ``out`` in one step.

Disk errors (read-only file system, no space, permission denied) raised while claiming,
working inside ``with claim(...)``, or publishing become one :class:`StageDiskError` naming
the path and the fix; scratch this claim created is removed with them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from pydantic import BaseModel

from lemur_core.atomic import atomic_write_text
from lemur_core.dirlock import DirLock, lock_path_for
from lemur_core.hashing import canonical_sha256
from lemur_core.manifest import (
    MANIFEST_NAME,
    ArtifactManifest,
    InputRef,
    ManifestError,
    StaleArtifactError,
    check_files,
    check_matches,
    config_diff,
    list_files,
    read_manifest,
    verify_artifact,
    write_manifest,
)
from lemur_core.stage_errors import (
    StageBusyError,
    StageDiskError,
    StageError,
    as_disk_error,
    disk_errors,
)

__all__ = [
    "STAMP_NAME",
    "Claim",
    "StageBusyError",
    "StageDiskError",
    "StageError",
    "StageResult",
    "StageStatus",
    "StaleArtifactError",
    "as_disk_error",
    "check_files",
    "claim",
    "default_scratch",
    "disk_errors",
    "list_files",
    "verify_artifact",
]

log = logging.getLogger(__name__)

STAMP_NAME = "stage.json"
"""The file in a scratch directory that records which config and inputs it belongs to."""


class StageStatus(StrEnum):
    """What a claim found: a finished artifact to reuse, nothing, or a dead writer's work."""

    REUSED = "reused"
    FRESH = "fresh"
    RESUMED = "resumed"


@dataclass(frozen=True)
class StageResult:
    """What a stage returns: where its artifact is, its manifest, and whether it was reused."""

    name: str
    out_dir: Path
    status: StageStatus
    manifest: ArtifactManifest

    @property
    def reused(self) -> bool:
        """True when the stage did no work: the artifact was already there and whole."""
        return self.status is StageStatus.REUSED


def _config_dict(config: dict[str, Any] | BaseModel) -> dict[str, Any]:
    if isinstance(config, BaseModel):
        dumped: dict[str, Any] = config.model_dump(mode="json")
        return dumped
    return dict(config)


def _inputs_key(inputs: Iterable[InputRef]) -> list[list[str]]:
    return sorted([i.kind, i.sha256] for i in inputs)


def _rmtree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the directory holding the entry is synced.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_leftovers(staging: Path) -> None:
    # Temporary files of atomic writes a killed writer left behind (".<name>.<random>.tmp") are
    # not part of the artifact: they are neither listed nor published.
    for leftover in sorted(staging.rglob(".*.tmp"), reverse=True):
        if leftover.exists() or leftover.is_symlink():
            _rmtree(leftover)


def default_scratch(out: Path) -> Path:
    """The default scratch directory of ``out``: the hidden sibling ``.<name>.work``."""
    return out.parent / f".{out.name}.work"


class Claim:
    """An exclusive claim on a stage's output directory (see the module docstring).

    Made by :func:`claim`; use it as a context manager so the lock is released and disk errors
    are reported as one line. Attributes: ``status``, ``changed_fields`` (config fields that
    differ from what was there before: the artifact replaced by ``force`` or the scratch that was
    cleaned), ``reason`` (why a present artifact was not reused), ``scratch``, ``staging``, and
    ``manifest`` (the reused one).
    """

    def __init__(
        self,
        *,
        name: str,
        out: Path,
        kind: str,
        schema_version: int,
        config: dict[str, Any],
        inputs: tuple[InputRef, ...],
        scratch: Path,
        primary: bool,
        owns_scratch: bool,
    ) -> None:
        self.name = name
        self.out = out
        self.kind = kind
        self.schema_version = schema_version
        self.config = config
        self.inputs = inputs
        self.scratch = scratch
        self.staging = scratch / "artifact"
        self.primary = primary
        self.status = StageStatus.FRESH
        self.changed_fields: tuple[str, ...] = ()
        self.reason: str | None = None
        self.manifest: ArtifactManifest | None = None
        self._owns_scratch = owns_scratch
        self._created_scratch = False
        root = scratch if out.is_relative_to(scratch) else out
        self._lock = DirLock(lock_path_for(root), root)

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> Claim:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is not None:
                err = as_disk_error(exc, self.scratch)
                if err is not None:
                    self._discard_new_scratch()
                    if err is not exc:
                        raise err from exc
                elif self._created_scratch and self._owns_scratch and self._scratch_is_bare():
                    # Failed before any work (a bad input, say): leave nothing behind.
                    self._discard_new_scratch()
        finally:
            self.release()

    def release(self) -> None:
        """Drop the lock (idempotent); the next run may claim the directory."""
        self._lock.release()

    def result(self) -> StageResult:
        """The :class:`StageResult` of a reused artifact (``status`` must be ``REUSED``)."""
        if self.status is not StageStatus.REUSED or self.manifest is None:
            raise StageError(f"{self.out}: result() is for reused artifacts; call publish()")
        return StageResult(self.name, self.out, self.status, self.manifest)

    def _scratch_is_bare(self) -> bool:
        try:
            return all(
                p.is_dir() or p == self.scratch / STAMP_NAME for p in self.scratch.rglob("*")
            )
        except OSError:
            return False

    def _discard_new_scratch(self) -> None:
        # Scratch that this claim made holds nothing a later run needs more than the free space;
        # a dead writer's scratch (RESUMED) keeps its finished pieces for the next attempt.
        if self._created_scratch and self._owns_scratch:
            with contextlib.suppress(OSError):
                _rmtree(self.scratch)

    # -- claiming ------------------------------------------------------------------------------

    def _acquire(self, *, force: bool, verify: bool, stale_scratch: str) -> None:
        root = self._lock.owner
        root.parent.mkdir(parents=True, exist_ok=True)
        if self.primary:
            self._lock.acquire()
        if force:
            self._forget(force_reason="forced")
        elif self._reusable(verify):
            return
        self._check_inputs(verify)
        self._prepare_scratch(stale_scratch)

    def _check_inputs(self, verify: bool) -> None:
        # An input artifact whose manifest lists its files is checked like a reuse would be, so
        # a truncated shard fails here with its name instead of as garbage deep in the work.
        for ref in self.inputs:
            root = Path(ref.path)
            if not (root / MANIFEST_NAME).is_file():
                continue  # not a lemur artifact (a plain HF directory, say): nothing listed
            try:
                found = read_manifest(root)
            except ManifestError:
                continue  # the input's own stage reports an unreadable manifest
            problem = check_files(root, found, verify=verify)
            if problem is not None:
                raise StageError(
                    f"input {ref.kind} artifact {root} is damaged: {problem}; rebuild it (run its "
                    "stage again, with --force if needed)"
                )

    def _forget(self, force_reason: str) -> None:
        previous = self._previous_config()
        if previous is not None:
            self.changed_fields = tuple(config_diff(previous, self.config))
        if self.primary:
            for path in (self.out, self.scratch):
                if path.exists():
                    log.info("%s: %s, removing %s", self.name, force_reason, path)
                    _rmtree(path)

    def _previous_config(self) -> dict[str, Any] | None:
        for source in (self.out / MANIFEST_NAME, self.scratch / STAMP_NAME):
            try:
                found = json.loads(source.read_text(encoding="utf-8"))
                config = found.get("config")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(config, dict):
                return config
        return None

    def _reusable(self, verify: bool) -> bool:
        target = self.out / MANIFEST_NAME
        if target.exists():
            try:
                found = read_manifest(target)
            except ManifestError as exc:
                self._damaged(f"its manifest is unreadable ({str(exc).splitlines()[0]})")
                return False
            check_matches(
                found,
                self.out,
                kind=self.kind,
                schema_version=self.schema_version,
                config=self.config,
                inputs=self.inputs,
            )
            problem = check_files(self.out, found, verify=verify)
            if problem is None:
                self.status, self.manifest = StageStatus.REUSED, found
                log.info("%s: %s is up to date; reusing it", self.name, self.out)
                return True
            self._damaged(problem)
            return False
        if self.out.is_dir() and any(self.out.iterdir()):
            raise StageError(
                f"{self.out} is not empty and holds no {self.kind} manifest; choose a new output "
                "directory or pass --force (force=True) to replace it"
            )
        return False

    def _damaged(self, problem: str) -> None:
        self.reason = problem
        log.warning("%s: %s: %s; rebuilding it", self.name, self.out, problem)
        if self.primary:
            _rmtree(self.out)

    def _prepare_scratch(self, stale_scratch: str) -> None:
        stamp = self.scratch / STAMP_NAME
        mine = {
            "kind": self.kind,
            "schema_version": self.schema_version,
            "config_sha256": canonical_sha256(self.config),
            "inputs": _inputs_key(self.inputs),
        }
        if stamp.exists():
            try:
                found = json.loads(stamp.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                found = {}
            if {k: found.get(k) for k in mine} == mine:
                self.status = StageStatus.RESUMED
                log.info("%s: resuming the unfinished work in %s", self.name, self.scratch)
                return
            differing = tuple(config_diff(found.get("config", {}), self.config))
            if stale_scratch == "refuse":
                what = (
                    f"config fields differ: {', '.join(differing)}"
                    if differing
                    else "it was made from other inputs"
                )
                raise StaleArtifactError(
                    f"{self.scratch} holds an unfinished run of another config ({what}); use "
                    "another output directory or --force (force=True) to start over",
                    changed_fields=differing,
                )
            self.changed_fields = differing
            if self.primary:
                log.info(
                    "%s: scratch %s is from another config; starting clean", self.name, self.scratch
                )
                _rmtree(self.scratch)
        elif self.scratch.is_dir() and self._foreign_entries():
            if stale_scratch == "refuse":
                raise StageError(
                    f"{self.scratch} holds files that no lemur {self.name} stage wrote; choose "
                    "another output directory or pass --force (force=True) to replace them"
                )
            if self.primary:
                _rmtree(self.scratch)
        if not self.primary:
            return
        self._created_scratch = not self.scratch.exists()
        self.scratch.mkdir(parents=True, exist_ok=True)
        atomic_write_text(stamp, json.dumps({**mine, "config": self.config}, indent=2) + "\n")

    def _foreign_entries(self) -> bool:
        return any(
            child != self.out and child.name != self._lock.path.name
            for child in self.scratch.iterdir()
        )

    # -- publishing ----------------------------------------------------------------------------

    def publish(
        self,
        manifest: ArtifactManifest | None = None,
        *,
        staging: str | os.PathLike[str] | None = None,
        keep_scratch: bool = False,
    ) -> StageResult:
        """Make the staged artifact the output: list its files in the manifest, rename it onto
        ``out`` in one step, and (unless ``keep_scratch``) delete the scratch directory.

        ``staging`` defaults to :attr:`staging`; ``manifest`` defaults to the one the stage
        already wrote there (it is checked to be this stage's kind, version and config). Scratch
        that contains ``out`` (a run directory with checkpoints) is always kept.
        """
        if self.status is StageStatus.REUSED:
            raise StageError(f"{self.out} was reused; there is nothing to publish")
        if not self.primary:
            raise StageError(f"{self.out}: only the process holding the claim (primary) publishes")
        src = Path(staging) if staging is not None else self.staging
        with disk_errors(self.out):
            if manifest is None:
                manifest = read_manifest(src, kind=self.kind, schema_version=self.schema_version)
            check_matches(
                manifest,
                src,
                kind=self.kind,
                schema_version=self.schema_version,
                config=self.config,
                inputs=self.inputs,
            )
            _remove_leftovers(src)
            manifest = manifest.model_copy(update={"files": list_files(src)})
            write_manifest(src, manifest)
            if self.out.is_dir() and not self.out.is_symlink() and any(self.out.iterdir()):
                _rmtree(self.out)  # a damaged or replaced artifact (checked when claimed)
            self.out.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, self.out)  # onto an empty or absent directory: atomic
            _fsync_dir(self.out.parent)
            if (
                not keep_scratch
                and self._owns_scratch
                and not self.out.is_relative_to(self.scratch)
            ):
                shutil.rmtree(self.scratch, ignore_errors=True)
        self.manifest = manifest
        return StageResult(self.name, self.out, self.status, manifest)


def claim(
    out: str | os.PathLike[str],
    kind: str,
    config: dict[str, Any] | BaseModel,
    inputs: Iterable[InputRef] = (),
    force: bool = False,
    *,
    schema_version: int,
    name: str | None = None,
    scratch: str | os.PathLike[str] | None = None,
    verify: bool = False,
    stale_scratch: Literal["clean", "refuse"] = "clean",
    primary: bool = True,
) -> Claim:
    """Claim the output directory ``out`` of one stage run (see the module docstring).

    ``config`` is the artifact's identity (a JSON-like dict or a pydantic model), ``inputs`` the
    input artifacts pinned by hash. ``scratch`` is where the stage works (default
    ``.<out name>.work`` beside ``out``); a scratch directory that contains ``out`` (a run
    directory holding checkpoints and the exported model) is locked as a whole and never deleted
    on publish. ``verify`` re-hashes every file of a reusable artifact (sizes are always
    checked). ``stale_scratch`` says what to do with scratch left by another config: ``"clean"``
    it, or ``"refuse"`` with :class:`StaleArtifactError` unless ``force``.

    ``primary=False`` is for the other processes of a multi-process job whose process 0 holds
    the claim: it takes no lock and changes nothing on disk, only reports the status.

    Raises :class:`StageBusyError` when another live process holds the claim,
    :class:`StaleArtifactError` for another config's artifact, :class:`StageDiskError` when
    the file system refuses.
    """
    out_path = Path(out).absolute()
    scratch_path = Path(scratch).absolute() if scratch is not None else default_scratch(out_path)
    c = Claim(
        name=name or kind,
        out=out_path,
        kind=kind,
        schema_version=schema_version,
        config=_config_dict(config),
        inputs=tuple(inputs),
        scratch=scratch_path,
        primary=primary,
        owns_scratch=not out_path.is_relative_to(scratch_path),
    )
    try:
        c._acquire(force=force, verify=verify, stale_scratch=stale_scratch)
    except BaseException as exc:
        c.release()
        err = as_disk_error(exc, c._lock.owner)
        if err is not None:
            c._discard_new_scratch()
            if err is not exc:
                raise err from exc
        raise
    return c
