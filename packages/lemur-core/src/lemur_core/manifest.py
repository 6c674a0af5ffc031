"""Artifact manifests: what an artifact is, who made it from what, and with which config.

Every artifact directory holds a ``manifest.json``. A stage whose config hash and inputs
match an existing manifest is skipped; a mismatch is an error naming the field that differs.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lemur_core.atomic import atomic_write_text, file_sha256
from lemur_core.hashing import canonical_sha256

MANIFEST_NAME = "manifest.json"


class ArtifactKind(StrEnum):
    """The artifact kinds that cross package boundaries (DESIGN.md, Artifacts)."""

    CORPUS = "corpus"
    INSTRUCT = "instruct"
    MODEL = "model"
    CHECKPOINT = "checkpoint"
    EVAL_RUN = "eval_run"


class ManifestError(ValueError):
    """A manifest file is missing, unreadable, or not the artifact that was expected."""


class StaleArtifactError(ManifestError):
    """An artifact exists at the output path but was made from a different config or inputs.

    ``changed_fields`` holds the dotted paths of the config fields that differ (may be empty).
    """

    def __init__(self, message: str, *, changed_fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.changed_fields = changed_fields


class Producer(BaseModel):
    """The package (and version) that wrote an artifact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    package: str = Field(min_length=1)
    version: str = Field(min_length=1)


class InputRef(BaseModel):
    """An input artifact, pinned by content hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    kind: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ManifestFile(BaseModel):
    """One file of an artifact (path relative to the artifact directory), with its size and sha256.

    Reuse re-checks every listed file's size (cheap, always) and, on request, its sha256.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(min_length=1)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ArtifactManifest(BaseModel):
    """The description stored as ``manifest.json`` in every artifact directory.

    ``files`` lists every file of the artifact but the manifest itself; manifests written before
    it existed load with an empty list (nothing to re-check).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(min_length=1)
    schema_version: int = Field(ge=1)
    producer: Producer
    config: dict[str, Any]
    config_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    inputs: tuple[InputRef, ...] = ()
    stats: dict[str, Any] = Field(default_factory=dict)
    files: tuple[ManifestFile, ...] = ()
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("config_sha256")
    @classmethod
    def _lowercase(cls, value: str) -> str:
        return value.lower()

    @classmethod
    def create(
        cls,
        *,
        kind: str,
        schema_version: int,
        producer: Producer,
        config: dict[str, Any],
        inputs: tuple[InputRef, ...] | list[InputRef] = (),
        stats: dict[str, Any] | None = None,
    ) -> ArtifactManifest:
        """Build a manifest, computing ``config_sha256`` from ``config``."""
        return cls(
            kind=kind,
            schema_version=schema_version,
            producer=producer,
            config=config,
            config_sha256=canonical_sha256(config),
            inputs=tuple(inputs),
            stats=stats or {},
        )

    def verify_config_hash(self) -> None:
        """Raise :class:`ManifestError` if ``config_sha256`` does not match ``config``."""
        actual = canonical_sha256(self.config)
        if actual != self.config_sha256:
            raise ManifestError(
                f"manifest config_sha256 is {self.config_sha256} but its config hashes to {actual}: "
                "the file was edited by hand or is corrupt; rebuild the artifact"
            )


def _manifest_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p / MANIFEST_NAME if p.is_dir() or p.suffix != ".json" else p


def write_manifest(path: str | os.PathLike[str], manifest: ArtifactManifest) -> Path:
    """Write ``manifest`` atomically to ``path`` (an artifact directory or a ``.json`` file)."""
    target = _manifest_path(path)
    return atomic_write_text(target, manifest.model_dump_json(indent=2) + "\n")


def read_manifest(
    path: str | os.PathLike[str],
    *,
    kind: str | None = None,
    schema_version: int | None = None,
) -> ArtifactManifest:
    """Read and validate a manifest from an artifact directory or a ``.json`` file.

    With ``kind`` / ``schema_version`` given, a manifest of another kind or version raises
    :class:`ManifestError` naming the expected and found values.
    """
    target = _manifest_path(path)
    if not target.exists():
        raise ManifestError(
            f"no manifest at {target}: is this an artifact directory built by lemur?"
        )
    try:
        raw = json.loads(target.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(
            f"manifest {target} is not valid JSON ({exc}); the write was interrupted or the file is corrupt: rebuild the artifact"
        ) from exc
    try:
        manifest = ArtifactManifest.model_validate(raw)
    except ValidationError as exc:
        raise ManifestError(
            f"manifest {target} does not match the ArtifactManifest schema:\n{exc}"
        ) from exc
    if kind is not None and manifest.kind != kind:
        raise ManifestError(
            f"{target}: expected an artifact of kind '{kind}', found kind '{manifest.kind}'"
        )
    if schema_version is not None and manifest.schema_version != schema_version:
        raise ManifestError(
            f"{target}: expected schema_version {schema_version} for kind '{manifest.kind}', "
            f"found {manifest.schema_version}; rebuild it with this version of {manifest.producer.package}"
        )
    manifest.verify_config_hash()
    return manifest


def config_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the fields that differ between two JSON-like configs, sorted.

    Mappings are compared key by key (``optimizer.peak_lr``), lists of equal length item by item
    (``sources.1.weight``); anything else (a scalar, lists of other lengths, a key present on one
    side only) is reported at its own path. Equal configs give ``[]``.
    """
    if isinstance(old, BaseModel):
        old = old.model_dump(mode="json")
    if isinstance(new, BaseModel):
        new = new.model_dump(mode="json")
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                out.append(path)
            else:
                out.extend(config_diff(old[key], new[key], path))
        return out
    if isinstance(old, list | tuple) and isinstance(new, list | tuple) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out.extend(config_diff(a, b, f"{prefix}.{i}" if prefix else str(i)))
        return out
    if canonical_sha256(old) != canonical_sha256(new):
        return [prefix or "(whole config)"]
    return []


def check_matches(
    found: ArtifactManifest,
    where: str | os.PathLike[str],
    *,
    kind: str,
    schema_version: int,
    config: dict[str, Any],
    inputs: tuple[InputRef, ...] | list[InputRef] = (),
) -> None:
    """Raise :class:`StaleArtifactError` unless ``found`` was made as ``kind`` / ``schema_version``
    from ``config`` and ``inputs``; the message names every differing config field (nested)."""
    if found.kind != kind:
        raise StaleArtifactError(f"{where} holds a '{found.kind}' artifact, not '{kind}'")
    if found.schema_version != schema_version:
        raise StaleArtifactError(
            f"{where}: schema_version {found.schema_version} != {schema_version}; "
            "force a rebuild with this version"
        )
    if found.config_sha256 != canonical_sha256(config):
        differing = config_diff(found.config, config)
        raise StaleArtifactError(
            f"{where} was built with a different config (fields differ: {', '.join(differing) or '?'}); "
            "use a new output directory or force a rebuild (--force)",
            changed_fields=tuple(differing),
        )
    wanted = {(i.kind, i.sha256) for i in inputs}
    have = {(i.kind, i.sha256) for i in found.inputs}
    if wanted != have:
        raise StaleArtifactError(
            f"{where} was built from different inputs (expected {sorted(wanted)}, found {sorted(have)}); "
            "force a rebuild (--force)"
        )


def find_reusable(
    out_dir: str | os.PathLike[str],
    *,
    kind: str,
    schema_version: int,
    config: dict[str, Any],
    inputs: tuple[InputRef, ...] | list[InputRef] = (),
) -> ArtifactManifest | None:
    """Return the existing manifest in ``out_dir`` if it was made from the same config and inputs.

    A read-only check (no lock, no file verification): stages go through
    :func:`lemur_core.stage.claim`, which also locks, verifies files and resumes. Returns
    ``None`` when ``out_dir`` holds no manifest; raises :class:`StaleArtifactError` naming the
    differing fields when it holds one made from something else.
    """
    target = Path(out_dir) / MANIFEST_NAME
    if not target.exists():
        return None
    found = read_manifest(target)
    check_matches(
        found, out_dir, kind=kind, schema_version=schema_version, config=config, inputs=inputs
    )
    return found


def list_files(root: str | os.PathLike[str]) -> tuple[ManifestFile, ...]:
    """Every regular file below ``root`` (but its manifest and hidden ``*.tmp`` leftovers) with
    size and sha256, sorted by path: the ``files`` of the artifact's manifest."""
    base = Path(root)
    entries = []
    for item in sorted(p for p in base.rglob("*") if p.is_file()):
        rel = item.relative_to(base).as_posix()
        if rel == MANIFEST_NAME or any(
            part.startswith(".") and part.endswith(".tmp")
            for part in item.relative_to(base).parts  # not the root's own path
        ):
            continue
        entries.append(ManifestFile(path=rel, size=item.stat().st_size, sha256=file_sha256(item)))
    return tuple(entries)


def check_files(
    root: str | os.PathLike[str], manifest: ArtifactManifest, *, verify: bool
) -> str | None:
    """``None`` when every file the manifest lists is present with its size (and, with
    ``verify``, its sha256); otherwise one line saying which file is wrong and how."""
    base = Path(root)
    for entry in manifest.files:
        path = base / entry.path
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return f"{path} is missing"
        if size != entry.size:
            return f"{path} is {size} bytes, the manifest says {entry.size}"
    if verify:
        for entry in manifest.files:
            path = base / entry.path
            if file_sha256(path) != entry.sha256:
                return f"{path} does not match its sha256 in the manifest (same size, other bytes)"
    return None


def verify_artifact(root: str | os.PathLike[str], *, verify: bool = True) -> ArtifactManifest:
    """Read ``root``'s manifest and check its files; raises :class:`ManifestError` naming the
    first bad file. For consumers that want to trust an input before reading it."""
    manifest = read_manifest(root)
    problem = check_files(root, manifest, verify=verify)
    if problem is not None:
        raise ManifestError(f"{problem}; rebuild the artifact (run its stage again or --force)")
    return manifest
