"""End-to-end specification of ``build_corpus`` on a small fixture corpus written here.

The fixture has code files (with an exact and a near duplicate, a binary file, a non-UTF-8
file, an empty file and an unknown extension), a JSONL text source (with a malformed line and
a row missing its text field) and a benchmark file that one code file copies from.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from lemur_core import StaleArtifactError, TokenShardSpec, read_manifest, tree_sha256
from lemur_core.stage import StageBusyError, StageStatus
from lemur_data.corpus import CorpusConfig, build_corpus, default_work_dir

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
    "value",
    "index",
    "count",
    "total",
    "result",
    "buffer",
    "record",
    "table",
]
BENCH_PROMPT = (
    "def sum_of_squares_of_odd_numbers(values):\n"
    '    """Return the sum of the squares of the odd numbers in the given list of values."""\n'
)


def _code_file(rng: random.Random, k: int) -> str:
    lines = [f'"""Module {k}: helpers for {rng.choice(WORDS)} and {rng.choice(WORDS)}."""', ""]
    for f in range(rng.randint(3, 6)):
        a, b = rng.sample(WORDS, 2)
        lines += [
            f"def {a}_{b}_{k}_{f}({a}, {b}):",
            f'    """Combine {a} with {b} and return the {rng.choice(WORDS)}."""',
            f"    {rng.choice(WORDS)} = {a} * {rng.randint(2, 99)} + {b}",
            f"    return {a} - {b} if {a} > {b} else {b} // {rng.randint(1, 9)}",
            "",
        ]
    return "\n".join(lines)


def _text_doc(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(6, 10)):
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12)))
        sentences.append(f"The {body} is part of the design and it works with the rest.")
    return " ".join(sentences)


def write_fixture(root: Path) -> CorpusConfig:
    """Write the fixture corpus under ``root`` and return a config that builds it."""
    rng = random.Random(1234)
    code = root / "code"
    code.mkdir(parents=True)
    for k in range(40):
        (code / f"mod_{k:02d}.py").write_text(_code_file(rng, k))
    (code / "copy_of_mod_03.py").write_text((code / "mod_03.py").read_text())  # exact dup
    near = (code / "mod_05.py").read_text().replace("return", "return  ", 1) + "\n# tweak\n"
    (code / "mod_05_fork.py").write_text(near)  # near dup (differs by a comment)
    (code / "leaked.py").write_text(_code_file(rng, 99) + "\n" + BENCH_PROMPT + "    return 0\n")
    (code / "blob.py").write_bytes(b"\x00\x01\x02binary" * 50)
    (code / "latin1.py").write_bytes("# caf\xe9\n".encode("latin-1") * 40)
    (code / "empty.py").write_text("")
    (code / "notes.xyz").write_text("unknown extension " * 20)
    text = root / "text"
    text.mkdir()
    rows = [json.dumps({"text": _text_doc(rng), "id": f"t{i}"}) for i in range(40)]
    rows.insert(5, "{this is not json")
    rows.insert(9, json.dumps({"body": "no text field"}))
    (text / "docs.jsonl").write_text("\n".join(rows) + "\n")
    bench = root / "humaneval.jsonl"
    bench.write_text(json.dumps({"task_id": "HumanEval/X", "prompt": BENCH_PROMPT}) + "\n")
    return CorpusConfig.from_mapping(
        {
            "name": "fixture",
            "sources": [
                {
                    "name": "code",
                    "type": "code",
                    "kind": "files",
                    "weight": 0.8,
                    "paths": [str(code / "*")],
                },
                {
                    "name": "web",
                    "type": "text",
                    "kind": "jsonl",
                    "weight": 0.2,
                    "paths": [str(text / "*.jsonl")],
                    "id_field": "id",
                },
            ],
            "code_filter": {"min_chars": 50},
            "text_filter": {"min_words": 20},
            "dedup": {"bands": 4, "rows_per_band": 4, "ngram_size": 5},
            "decontam": {"reference_files": [str(bench)]},
            "mix": {"share_tolerance": 0.05},
            "tokenizer": {"vocab_size": 400},
            "pack": {"seq_len": 64, "rows_per_shard": 64, "min_efficiency": 0.99},
            "executor": {"tasks": 3},
        }
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[CorpusConfig, Path]:
    root = tmp_path_factory.mktemp("fixture")
    config = write_fixture(root)
    out = root / "corpus-1worker"
    build_corpus(config, out, workers=1)
    return config, out


def test_manifest_counts_every_removal_and_skip_by_reason(
    reference: tuple[CorpusConfig, Path],
) -> None:
    _, out = reference
    stats = read_manifest(out, kind="corpus").stats
    by_name = {s["name"]: s for s in stats["sources"]}
    code, web = by_name["code"], by_name["web"]
    assert code["skipped"] == {"binary": 1, "empty": 1, "not_utf8": 1, "unknown_language": 1}
    assert web["skipped"] == {"malformed_json": 1, "missing_field": 1}
    assert code["removed"]["exact_duplicate"] == 1
    assert code["removed"]["near_duplicate"] == 1
    assert code["removed"]["decontaminated"] == 1
    hits = [json.loads(line) for line in (out / "decontam_hits.jsonl").read_text().splitlines()]
    assert hits and {h["doc_id"] for h in hits} == {f"code/{out.parent}/code/leaked.py"}
    assert {h["item_id"] for h in hits} == {"humaneval/HumanEval/X"}


def test_survivor_of_a_duplicate_cluster_is_the_smallest_id(
    reference: tuple[CorpusConfig, Path],
) -> None:
    _, out = reference
    spec = TokenShardSpec.model_validate_json((out / "shards.json").read_text())
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(out / "tokenizer" / "tokenizer.json"))
    text = "".join(
        tok.decode(np.load(out / s.tokens.path).ravel().tolist(), skip_special_tokens=False)
        for s in spec.shards
    )
    # mod_03 < copy_of_mod_03 is false in byte order ('c' < 'm'), so the copy's id survives;
    # mod_05 < mod_05_fork, so the original survives and the fork's comment is absent.
    assert "# tweak" not in text
    assert text.count("Module 3:") == 1


def test_shards_follow_the_corpus_format_and_load_in_transformers(
    reference: tuple[CorpusConfig, Path],
) -> None:
    from transformers import AutoTokenizer

    config, out = reference
    spec = TokenShardSpec.model_validate_json((out / "shards.json").read_text())
    assert spec.seq_len == 64 and spec.sources == ("code", "web")
    tokenizer = AutoTokenizer.from_pretrained(out / "tokenizer")
    assert (
        tokenizer.eos_token_id == spec.eos_token_id and tokenizer.pad_token_id == spec.pad_token_id
    )
    assert len(tokenizer) == spec.vocab_size
    real = 0
    for shard in spec.shards:
        tokens = np.load(out / shard.tokens.path, mmap_mode="r")
        seg = np.load(out / shard.segment_ids.path, mmap_mode="r")
        src = np.load(out / shard.source_ids.path, mmap_mode="r")
        assert tokens.dtype == np.uint32 and seg.dtype == np.int32 and src.dtype == np.int16
        assert tokens.shape == seg.shape == src.shape == (shard.rows, 64)
        assert ((seg == 0) == (src == -1)).all()
        assert (tokens[seg == 0] == spec.pad_token_id).all()
        real += int((seg > 0).sum())
    stats = read_manifest(out).stats
    assert real == stats["tokens"] == sum(spec.tokens_per_source.values())
    assert stats["packing_efficiency"] >= 0.99
    shares = {s["name"]: s["realized_share"] for s in stats["sources"]}
    assert abs(shares["code"] - 0.8) <= config.mix.share_tolerance


def test_same_config_is_skipped_and_a_changed_config_is_stale(
    reference: tuple[CorpusConfig, Path],
) -> None:
    config, out = reference
    before = read_manifest(out)
    again = build_corpus(config, out)
    assert again.reused and again.manifest == before
    changed = config.model_copy(update={"pack": config.pack.model_copy(update={"seq_len": 32})})
    with pytest.raises(StaleArtifactError, match="pack"):
        build_corpus(changed, out)


def test_cli_stats_prints_table_8_and_inspect_shows_boundaries(
    reference: tuple[CorpusConfig, Path],
) -> None:
    from lemur_data.cli import app
    from typer.testing import CliRunner

    _, out = reference
    runner = CliRunner()
    stats = runner.invoke(app, ["corpus", "stats", str(out)])
    assert stats.exit_code == 0, stats.output
    for column in ("Type", "Source", "Weight (%)", "Effective tokens", "Epochs"):
        assert column in stats.output
    assert "code" in stats.output and "web" in stats.output
    assert "Jaccard threshold 0.71" in stats.output  # fixture: 4 bands x 4 rows, (1/4)^(1/4)
    row = runner.invoke(app, ["corpus", "inspect", str(out), "--row", "1"])
    assert row.exit_code == 0, row.output
    assert "segment 1" in row.output
    bad = runner.invoke(app, ["corpus", "inspect", str(out), "--row", "999999"])
    assert bad.exit_code == 2 and "out of range" in bad.output


@pytest.mark.slow
def test_output_is_byte_identical_for_one_and_two_workers(
    reference: tuple[CorpusConfig, Path], tmp_path: Path
) -> None:
    config, out = reference
    two = tmp_path / "corpus-2workers"
    build_corpus(config, two, workers=2)
    assert tree_sha256(two) == tree_sha256(out)
    assert read_manifest(two).stats == read_manifest(out).stats


_RUNNER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from lemur_data.corpus import CorpusConfig, build_corpus
    if __name__ == "__main__":
        config = CorpusConfig.model_validate_json(Path(sys.argv[1]).read_text())
        build_corpus(config, Path(sys.argv[2]), workers=1)
    """
)


@pytest.mark.slow
def test_build_killed_half_way_resumes_to_the_uninterrupted_output(
    reference: tuple[CorpusConfig, Path], tmp_path: Path
) -> None:
    config, out = reference
    cfg_path = tmp_path / "config.json"
    cfg_path.write_text(config.model_dump_json())
    runner = tmp_path / "runner.py"
    runner.write_text(_RUNNER)
    target = tmp_path / "corpus-resumed"
    completions = default_work_dir(target) / "logs" / "1-prepare" / "completions"
    proc = subprocess.Popen(
        [sys.executable, str(runner), str(cfg_path), str(target)], start_new_session=True
    )
    deadline = time.monotonic() + 120
    while not (completions.exists() and any(completions.iterdir())):
        assert proc.poll() is None, "the build ended before it could be killed"
        assert time.monotonic() < deadline, "the build never completed a task"
        time.sleep(0.05)
    # A second build into the same directory while the first runs refuses, naming the writer.
    with pytest.raises(StageBusyError, match=rf"already running \(pid {proc.pid}, since "):
        build_corpus(config, target, workers=1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (target / "manifest.json").exists(), "killed too late: the build had finished"
    done_before = {p.name: p.stat().st_mtime_ns for p in completions.iterdir()}
    resumed = build_corpus(config, target, workers=1, keep_work=True)
    assert resumed.status is StageStatus.RESUMED  # the dead writer's lock was taken over
    assert tree_sha256(target) == tree_sha256(out)
    assert read_manifest(target).stats == read_manifest(out).stats
    # datatrove skipped the tasks finished before the kill: their completion marks are untouched.
    assert done_before
    assert {p: (completions / p).stat().st_mtime_ns for p in done_before} == done_before


def _first_shard(out: Path) -> Path:
    spec = TokenShardSpec.model_validate_json((out / "shards.json").read_text())
    return out / spec.shards[0].tokens.path


@pytest.mark.slow
def test_a_damaged_shard_is_caught_on_reuse_and_rebuilt(
    reference: tuple[CorpusConfig, Path], tmp_path: Path
) -> None:
    config, out = reference
    copy = tmp_path / "corpus"
    shutil.copytree(out, copy)
    assert build_corpus(config, copy).reused
    # Same size, other bytes: only a verifying reuse (sha256) can tell.
    shard = _first_shard(copy)
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert build_corpus(config, copy).reused
    rebuilt = build_corpus(config, copy, verify=True)
    assert rebuilt.status is StageStatus.FRESH
    assert tree_sha256(copy) == tree_sha256(out)
    # A truncated shard is caught by its size on every reuse.
    with _first_shard(copy).open("r+b") as handle:
        handle.truncate(64)
    assert not build_corpus(config, copy).reused
    assert tree_sha256(copy) == tree_sha256(out)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare for a read-only mount")
def test_cli_build_into_a_read_only_directory_is_one_line_and_leaves_nothing(
    reference: tuple[CorpusConfig, Path], tmp_path: Path
) -> None:
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("user namespaces are not available here")
    config, _ = reference
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(config.to_yaml())
    ro = tmp_path / "ro"
    ro.mkdir()
    # A read-only bind mount in a private mount namespace: a real EROFS, even for root.
    script = (
        f"mount --bind {ro} {ro} && mount -o remount,bind,ro {ro} && exec {Path(sys.executable).parent / 'lemur-data'} "
        f"corpus build {cfg_path} --out {ro / 'corpus'}"
    )
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 5, proc.stdout + proc.stderr  # environment class
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: cannot write {ro}/.corpus.lock: read-only file system;")
    assert "choose another output directory" in lines[0]
    assert list(ro.iterdir()) == []


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare for a small tmpfs")
def test_cli_build_on_a_full_disk_is_one_line_and_leaves_nothing(
    reference: tuple[CorpusConfig, Path], tmp_path: Path
) -> None:
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("user namespaces are not available here")
    config, _ = reference
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(config.to_yaml())
    disk = tmp_path / "disk"
    disk.mkdir()
    # A 256 KiB tmpfs in a private mount namespace: the build really runs out of space mid-way.
    script = (
        f"mount -t tmpfs -o size=256k tmpfs {disk} && "
        f"{Path(sys.executable).parent / 'lemur-data'} corpus build {cfg_path} --out {disk / 'c'}"
        f"; code=$?; ls -A {disk} > {tmp_path / 'left.txt'}; exit $code"
    )
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 5, proc.stdout + proc.stderr  # environment class
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert f"{disk}" in errors[0] and "no space left on device; free space" in errors[0]
    # The lock file stays (it is how the next run knows nobody holds the directory); no scratch.
    assert (tmp_path / "left.txt").read_text().split() == [".c.lock"]


def _rejected_docs(out: Path) -> list[tuple[str, str, str, str]]:
    """(step, id, source, reason) of every rejected document, read by datatrove's JsonlReader."""
    from datatrove.pipeline.readers import JsonlReader

    found = []
    for step in sorted(p.name for p in (out / "rejected").iterdir()):
        reader = JsonlReader(str(out / "rejected" / step), compression=None, glob_pattern="*.jsonl")
        for doc in reader.run():
            found.append((step, doc.id, doc.metadata["source"], doc.metadata["filter_reason"]))
    return found


def test_rejected_documents_are_datatrove_jsonl_matching_the_manifest_counts(
    tmp_path: Path,
) -> None:
    from lemur_data.cli import app
    from typer.testing import CliRunner

    config = write_fixture(tmp_path / "fixture")
    recipe = tmp_path / "corpus.yaml"
    recipe.write_text(config.to_yaml())
    out = tmp_path / "corpus"
    # Long web documents fail the Gopher word-count rule: the quality filter drops some too.
    sets = ["--set", "keep_rejected=true", "--set", "text_filter.max_words=150"]
    run = CliRunner().invoke(app, ["corpus", "build", str(recipe), "--out", str(out), *sets])
    assert run.exit_code == 0, run.output
    manifest = read_manifest(out, kind="corpus")
    counted = {
        (s["name"], reason): n
        for s in manifest.stats["sources"]
        for reason, n in s["removed"].items()
    }
    rejected = _rejected_docs(out)
    written: dict[tuple[str, str], int] = {}
    for _, _, source, reason in rejected:
        written[source, reason] = written.get((source, reason), 0) + 1
    assert written == counted
    assert {("web", "too_many_words"), ("code", "decontaminated")} <= set(counted)
    assert {("code", "exact_duplicate"), ("code", "near_duplicate")} <= set(counted)
    ids = [doc_id for _, doc_id, _, _ in rejected]
    assert len(ids) == len(set(ids))  # each document is rejected once, by the first step
    by_step = {step for step, *_ in rejected}
    assert by_step == {"quality", "decontam", "dedup"}
    assert (f"code/{tmp_path}/fixture/code/leaked.py", "decontaminated") in {
        (doc_id, reason) for _, doc_id, _, reason in rejected
    }
    # The rejected files are part of the artifact: listed with their sha256, checked on reuse.
    listed = {f.path for f in manifest.files}
    assert {str(p.relative_to(out)) for p in (out / "rejected").rglob("*.jsonl")} <= listed
    assert build_corpus(config.with_overrides(sets[1::2]), out, verify=True).reused


@pytest.mark.slow
def test_keeping_rejected_documents_leaves_the_corpus_itself_unchanged(
    reference: tuple[CorpusConfig, Path], tmp_path: Path
) -> None:
    config, out = reference
    kept = tmp_path / "with-rejected"
    build_corpus(config.with_overrides(["keep_rejected=true"]), kept, workers=2)
    assert tree_sha256(kept, exclude=("manifest.json", *_rejected_files(kept))) == tree_sha256(out)
    assert {step for step, *_ in _rejected_docs(kept)} == {"decontam", "dedup"}


def _rejected_files(out: Path) -> tuple[str, ...]:
    return tuple(p.relative_to(out).as_posix() for p in (out / "rejected").rglob("*.jsonl"))


def test_the_executor_is_not_part_of_the_corpus_identity(
    reference: tuple[CorpusConfig, Path],
) -> None:
    # The output is byte-identical on every executor (test_corpus_ray), so a corpus built (or
    # half built) locally is reused (or resumed) on Ray or Slurm: their settings are not hashed.
    config, out = reference
    on_ray = config.with_overrides(["executor.kind=ray", "executor.ray.cpus_per_task=2"])
    on_slurm = config.with_overrides(["executor.kind=slurm", "executor.slurm.partition=cpu"])
    assert on_ray.hash_payload() == on_slurm.hash_payload() == config.hash_payload()
    assert config.hash_payload()["executor"] == {"tasks": 3}
    for other in (on_ray, on_slurm):
        again = build_corpus(other, out)
        assert again.reused and again.manifest.stats["executor"] == "local"  # who built it
    more_tasks = config.with_overrides(["executor.tasks=4"])
    with pytest.raises(StaleArtifactError, match=r"executor\.tasks"):  # tasks assign documents
        build_corpus(more_tasks, out)
