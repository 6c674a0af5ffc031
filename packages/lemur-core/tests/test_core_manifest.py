"""ArtifactManifest: round trips, atomic writes, and clear errors on bad manifests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lemur_core import (
    ArtifactManifest,
    InputRef,
    ManifestError,
    Producer,
    StaleArtifactError,
    canonical_json,
    canonical_json_of_plain,
    canonical_sha256,
    find_reusable,
    read_manifest,
    write_manifest,
)
from lemur_core.atomic import atomic_open

PRODUCER = Producer(package="lemur-data", version="0.1.0")


def _manifest(config: dict | None = None, **kw: object) -> ArtifactManifest:
    return ArtifactManifest.create(
        kind="corpus",
        schema_version=1,
        producer=PRODUCER,
        config=config or {"seq_len": 256, "sources": ["python", "text"]},
        stats={"rows": 10},
        **kw,  # type: ignore[arg-type]
    )


def test_manifest_round_trips_through_its_file(tmp_path: Path) -> None:
    manifest = _manifest(inputs=[InputRef(path="in", kind="raw", sha256="a" * 64)])
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path, kind="corpus", schema_version=1) == manifest


def test_config_sha256_is_the_canonical_hash_of_the_config() -> None:
    manifest = _manifest({"b": 1, "a": [1, 2]})
    assert manifest.config_sha256 == canonical_sha256({"a": [1, 2], "b": 1})


def test_canonical_sha256_ignores_key_order_and_is_stable_across_processes() -> None:
    value = {"z": 1, "a": {"y": [1.5, "é"], "b": None}}
    code = "from lemur_core import canonical_sha256; print(canonical_sha256({'a': {'b': None, 'y': [1.5, 'é']}, 'z': 1}))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == canonical_sha256(value)


def test_canonical_json_of_plain_data_skips_no_byte_of_the_checked_spelling() -> None:
    plain = {"z": [1, 2.5, None, True], "a": {"é": "ü\n", "b": -0.0}, "m": "x" * 3}
    assert canonical_json_of_plain(plain) == canonical_json(plain)
    assert canonical_json_of_plain(["a", {"b": 1}]) == canonical_json(("a", {"b": 1}))
    with pytest.raises(ValueError):
        canonical_json_of_plain({"x": float("inf")})  # non-finite stays refused


@pytest.mark.parametrize("bad", [float("nan"), {1: "int key"}, object()])
def test_canonical_json_refuses_values_without_a_single_spelling(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        canonical_sha256({"x": bad})


def test_wrong_kind_names_expected_and_found(tmp_path: Path) -> None:
    write_manifest(tmp_path, _manifest())
    with pytest.raises(
        ManifestError, match="expected an artifact of kind 'model', found kind 'corpus'"
    ):
        read_manifest(tmp_path, kind="model")


def test_wrong_schema_version_names_expected_and_found(tmp_path: Path) -> None:
    write_manifest(tmp_path, _manifest())
    with pytest.raises(ManifestError, match=r"expected schema_version 2 .* found 1"):
        read_manifest(tmp_path, schema_version=2)


def test_truncated_manifest_is_a_clear_error(tmp_path: Path) -> None:
    write_manifest(tmp_path, _manifest())
    path = tmp_path / "manifest.json"
    path.write_text(path.read_text()[:40])
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_manifest(tmp_path)


def test_manifest_missing_a_field_is_a_clear_error(tmp_path: Path) -> None:
    raw = json.loads(_manifest().model_dump_json())
    del raw["producer"]
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match="producer"):
        read_manifest(tmp_path)


def test_hand_edited_config_is_detected_by_its_hash(tmp_path: Path) -> None:
    raw = json.loads(_manifest().model_dump_json())
    raw["config"]["seq_len"] = 512
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match="config_sha256"):
        read_manifest(tmp_path)


def test_missing_manifest_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no manifest at"):
        read_manifest(tmp_path)


def test_find_reusable_returns_none_without_a_manifest(tmp_path: Path) -> None:
    assert find_reusable(tmp_path, kind="corpus", schema_version=1, config={"a": 1}) is None


def test_find_reusable_accepts_same_config_and_inputs(tmp_path: Path) -> None:
    inputs = [InputRef(path="x", kind="raw", sha256="b" * 64)]
    manifest = _manifest(inputs=inputs)
    write_manifest(tmp_path, manifest)
    assert (
        find_reusable(
            tmp_path, kind="corpus", schema_version=1, config=dict(manifest.config), inputs=inputs
        )
        == manifest
    )


def test_find_reusable_names_the_config_field_that_differs(tmp_path: Path) -> None:
    write_manifest(tmp_path, _manifest({"seq_len": 256, "vocab": 100}))
    with pytest.raises(StaleArtifactError, match="fields differ: seq_len"):
        find_reusable(
            tmp_path, kind="corpus", schema_version=1, config={"seq_len": 512, "vocab": 100}
        )


def test_find_reusable_refuses_other_inputs(tmp_path: Path) -> None:
    write_manifest(tmp_path, _manifest(inputs=[InputRef(path="x", kind="raw", sha256="b" * 64)]))
    with pytest.raises(StaleArtifactError, match="different inputs"):
        find_reusable(
            tmp_path,
            kind="corpus",
            schema_version=1,
            config={"seq_len": 256, "sources": ["python", "text"]},
            inputs=[InputRef(path="x", kind="raw", sha256="c" * 64)],
        )


def test_atomic_write_leaves_old_file_when_writer_dies(tmp_path: Path) -> None:
    write_manifest(tmp_path, _manifest())
    before = (tmp_path / "manifest.json").read_bytes()
    # A child that dies while writing (os._exit inside the write) must leave the old manifest whole.
    code = (
        "import os, lemur_core.atomic as a\n"
        "real = os.fdopen\n"
        "class Dying:\n"
        "    def __init__(s, h): s.h = h\n"
        "    def __enter__(s): return s\n"
        "    def __exit__(s, *e): return False\n"
        "    def write(s, d): s.h.write(d[:10]); s.h.flush(); os._exit(9)\n"
        "a.os.fdopen = lambda fd, mode, **kw: Dying(real(fd, mode, **kw))\n"
        f"a.atomic_write_text({str(tmp_path / 'manifest.json')!r}, 'x' * 1000)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ})
    assert proc.returncode == 9
    assert (tmp_path / "manifest.json").read_bytes() == before
    read_manifest(tmp_path)


def test_atomic_open_replaces_the_file_only_when_the_block_succeeds(tmp_path: Path) -> None:
    target = tmp_path / "rows.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_open(target, "w") as handle:
        handle.write("half of the new content\n")
        raise RuntimeError("the writer failed")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]  # no temporary left
    with atomic_open(target, "w") as handle:
        handle.write("é new\n")
    assert target.read_bytes() == "é new\n".encode()
