"""An eval run's directory on lemur-core's stage contract (:mod:`lemur_core.stage`).

``run_suite(..., out)`` claims ``out`` as an ``eval_run`` artifact:

* **Lock.** One writer per run directory: a second ``lemur-bench run`` into it is refused with
  "already running (pid N, since T)"; a killed writer's lock (``kill -9``) is taken over.
* **Reuse.** A published run of the same config is returned without running, after every
  file's size is re-checked (``verify=True`` / ``--verify`` re-hashes them); a damaged one is
  rebuilt (the claim's ``reason`` names the file). Another config's run is a
  :class:`~lemur_core.StaleArtifactError` naming the differing fields, unless ``force``.
* **Work in scratch.** While it runs, ``episodes.jsonl``, ``summary.json`` and
  ``run_config.json`` live in ``.<out name>.work/artifact/`` beside ``out`` (the request caches
  in ``.<out name>.work/``). A killed or incomplete run leaves them there: the same command
  resumes (status ``RESUMED``) and plays only the episodes not finished. Unfinished work of
  another config is refused naming the fields, unless no episode of it finished (a wrong
  ``#MODEL`` that failed every request, say): then the corrected config takes the directory.
* **Publish.** Only a complete run (every planned episode finished) is published: the
  manifest lists each file's size and sha256 and the staged directory is renamed onto ``out``
  in one step; the caches go with the scratch directory.

Run identity is :class:`~lemur_bench.runner.RunConfig`: manifests of older versions are read
through it, so fields renamed since (``mint_mode``) or full model specs compare by identity.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lemur_core import (
    EVAL_RUN_SCHEMA_VERSION,
    MANIFEST_NAME,
    ArtifactKind,
    ArtifactManifest,
    EpisodeRecord,
    TerminationReason,
    atomic_write_text,
    read_manifest,
    write_manifest,
)
from lemur_core.manifest import ManifestError, list_files
from lemur_core.stage import Claim, StageResult, claim, default_scratch

EPISODES = "episodes.jsonl"
SUMMARY = "summary.json"
RUN_CONFIG = "run_config.json"
STAGE_NAME = "eval"


class SuiteSummary(dict[str, Any]):
    """``run_suite``'s summary (the contents of ``summary.json``) with the run directory's
    :class:`~lemur_core.stage.StageResult` as :attr:`stage` (``.stage.reused``,
    ``.stage.status``, ``.stage.manifest``)."""

    stage: StageResult

    def __init__(self, summary: dict[str, Any], stage: StageResult) -> None:
        super().__init__(summary)
        self.stage = stage


def staging_dir(out: Path) -> Path:
    """Where an unfinished run of ``out`` keeps its episodes (see the module docstring)."""
    return default_scratch(Path(out).absolute()) / "artifact"


def files_dir(out: Path) -> Path:
    """Where the run ``out`` keeps its files now: ``out`` once published (or when it is not a
    ``run_suite`` directory at all), else its scratch directory's staged artifact."""
    out = Path(out)
    staged = staging_dir(out)
    if not (out / SUMMARY).exists() and (staged / SUMMARY).exists():
        return staged
    return out


def _finished_any(path: Path) -> bool:
    """Whether ``path`` (an ``episodes.jsonl``) holds an episode that did not fail on the model."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    for line in lines:
        try:
            record = EpisodeRecord.model_validate_json(line)
        except ValueError:
            continue
        if record.termination is not TerminationReason.MODEL_ERROR:
            return True
    return False


def _normalize_pinned_config(out: Path, identity: Any) -> None:
    """Rewrite the config of ``out``'s manifest through :class:`RunConfig` when an older
    version wrote it in another form, so the claim compares identities, not spellings (the
    config is not one of the listed files: their sizes and hashes stay valid)."""
    from lemur_bench.runner import RunConfig

    if not (out / MANIFEST_NAME).is_file():
        return
    try:
        found = read_manifest(out)
        normal = RunConfig.model_validate(found.config).model_dump(mode="json")
    except (ManifestError, ValueError):
        return  # the claim reports an unreadable or foreign manifest itself
    if normal != found.config and normal == identity:
        write_manifest(out, found.model_copy(update={"config": normal}))


@contextmanager
def claim_run(out: Path, identity: dict[str, Any], *, force: bool, verify: bool) -> Iterator[Claim]:
    """Claim ``out`` for the run of ``identity`` (a ``RunConfig`` dump); see the module doc."""
    out = Path(out).absolute()
    if not force:
        _normalize_pinned_config(out, identity)
    # Another config's unfinished work is protected only when it holds finished episodes.
    protect = _finished_any(staging_dir(out) / EPISODES)
    with claim(
        out,
        ArtifactKind.EVAL_RUN.value,
        identity,
        (),
        force,
        schema_version=EVAL_RUN_SCHEMA_VERSION,
        name=STAGE_NAME,
        verify=verify,
        stale_scratch="refuse" if protect else "clean",
    ) as c:
        yield c


def relabel(c: Claim, label: str | None) -> dict[str, Any]:
    """The reused run's summary, with ``label`` as its row name; when that changes
    ``summary.json``, the manifest's file list is updated with it (the lock is held)."""
    summary = dict(json.loads((c.out / SUMMARY).read_text(encoding="utf-8")))
    if label is not None and summary.get("model") != label:
        summary["model"] = label
        atomic_write_text(c.out / SUMMARY, json.dumps(summary, indent=2, sort_keys=True) + "\n")
        manifest = read_manifest(c.out)
        write_manifest(c.out, manifest.model_copy(update={"files": list_files(c.out)}))
        c.manifest = read_manifest(c.out)
    return summary


def publish(c: Claim, manifest: ArtifactManifest) -> StageResult:
    """Publish the staged, complete run onto ``out``."""
    return c.publish(manifest=manifest)


__all__ = [
    "EPISODES",
    "RUN_CONFIG",
    "STAGE_NAME",
    "SUMMARY",
    "SuiteSummary",
    "claim_run",
    "files_dir",
    "publish",
    "relabel",
    "staging_dir",
]
