"""build_instruct end to end on fixture files: artifact format, Table 1 stats, removals, reuse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lemur_core import InstructExample, StaleArtifactError, read_manifest
from lemur_core.config import ConfigError
from lemur_core.stage import StageBusyError, default_scratch
from lemur_data.instruct import (
    EmbedderSpec,
    InstructConfig,
    SemanticDedupSpec,
    SourceFormat,
    SourceSpec,
    StdlibOptions,
    StdlibTask,
    build_instruct,
    estimate_instruct,
)


def _config(tmp: Path) -> InstructConfig:
    evol = tmp / "evol.jsonl"
    rows = [
        {
            "instruction": f"Write function number {i} that adds {i}.",
            "output": f"def f(x):\n    return x + {i}",
        }
        for i in range(6)
    ]
    rows.append(rows[0])  # an exact duplicate
    lines = [json.dumps(r) for r in rows] + ["{not json"]
    evol.write_text("\n".join(lines) + "\n")
    share = tmp / "share.json"
    share.write_text(json.dumps([
        {"id": "s1", "conversations": [{"from": "human", "value": "How do I sort a list of numbers in Python quickly?"}, {"from": "gpt", "value": "Call sorted() on the list; it returns a new sorted list."}]},
        {"id": "s2", "conversations": [{"from": "human", "value": "How do I sort a list of numbers in Python quickly ?"}, {"from": "gpt", "value": "Use sorted()."}]},
        {"id": "s3", "conversations": [{"from": "human", "value": "Wie sortiere ich eine Liste von Zahlen in Python schnell und einfach?"}, {"from": "gpt", "value": "Mit sorted() bekommst du eine neue sortierte Liste zurück."}]},
    ]))  # fmt: skip
    return InstructConfig(
        name="fixture",
        sources=(
            SourceSpec(
                name="evol",
                format=SourceFormat.EVOL_CODEALPACA,
                paths=(str(evol),),
                take=4,
                group="Evol-CodeAlpaca",
                paper_count=51952,
            ),
            SourceSpec(
                name="share",
                format=SourceFormat.SHAREGPT,
                paths=(str(share),),
                english_filter=True,
                semantic_dedup=True,
            ),
            SourceSpec(
                name="fix",
                format=SourceFormat.STDLIB,
                stdlib=StdlibOptions(
                    task=StdlibTask.FIX, modules=("shlex", "textwrap"), max_examples=5
                ),
            ),
        ),
        semantic_dedup=SemanticDedupSpec(
            threshold=0.8, embedder=EmbedderSpec(kind="hashed-ngrams")
        ),
    )


def test_build_writes_valid_examples_and_table_one_stats(tmp_path: Path) -> None:
    config = _config(tmp_path)
    out = tmp_path / "instruct"
    manifest = build_instruct(config, out).manifest
    examples = [
        InstructExample.model_validate_json(line)
        for line in (out / "examples.jsonl").read_text().splitlines()
    ]
    by_source = {s: [e for e in examples if e.source == s] for s in ("evol", "share", "fix")}
    assert len(by_source["evol"]) == 4 and [e.id for e in by_source["share"]] == ["share/s1"]
    assert 1 <= len(by_source["fix"]) <= 5
    removed = manifest.stats["removed_by_reason"]
    assert removed["exact_duplicate"] == 1 and removed["malformed_row"] == 1
    assert removed["non_english"] == 1 and removed["semantic_duplicate"] == 1
    table = {r["dataset"]: r for r in manifest.stats["table1"]}
    assert (
        table["Evol-CodeAlpaca"]["instances"] == 4
        and table["Evol-CodeAlpaca"]["paper_instances"] == 51952
    )
    assert table["Total"]["instances"] == len(examples)
    assert "| Evol-CodeAlpaca | 4 | 51,952 |" in (out / "table1.md").read_text()
    assert read_manifest(out, kind="instruct").config_sha256 == manifest.config_sha256
    assert not default_scratch(out).exists()
    assert {f.path for f in manifest.files} >= {"examples.jsonl", "removed.jsonl", "table1.md"}


def test_same_config_is_reused_and_another_config_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    out = tmp_path / "instruct"
    first = build_instruct(config, out)
    again = build_instruct(config, out)
    assert again.reused and again.manifest.created_at == first.manifest.created_at
    other = config.model_copy(update={"seed": 1})
    with pytest.raises(StaleArtifactError, match="seed"):
        build_instruct(other, out)
    forced = build_instruct(other, out, force=True)
    assert not forced.reused and forced.manifest.config["seed"] == 1
    # A truncated examples file is caught by its size and rebuilt to the same rows.
    rows = (out / "examples.jsonl").read_bytes()
    (out / "examples.jsonl").write_bytes(rows[: len(rows) // 2])
    rebuilt = build_instruct(other, out)
    assert not rebuilt.reused and (out / "examples.jsonl").read_bytes() == rows


def test_a_second_build_while_one_runs_refuses_naming_it(tmp_path: Path) -> None:
    out = tmp_path / "instruct"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "HOLDING"
        with pytest.raises(StageBusyError, match=rf"already running \(pid {holder.pid}, since "):
            build_instruct(_config(tmp_path), out)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert not out.exists()


# Holds the claim on an instruct output directory, as a live build would, until killed.
_HOLDER = (
    "import sys, time\n"
    "from lemur_core.stage import claim\n"
    "held = claim(sys.argv[1], 'instruct', {}, (), False, schema_version=1)\n"
    "print('HOLDING', flush=True)\n"
    "time.sleep(600)\n"
)


def test_fix_conversations_show_a_real_traceback_of_the_planted_bug() -> None:
    from lemur_data.instruct.converters.stdlib_gen import generate_stdlib

    examples = list(
        generate_stdlib(
            StdlibOptions(
                task=StdlibTask.FIX, modules=("shlex", "textwrap", "fnmatch"), max_examples=6
            ),
            "fix",
        )
    )
    assert examples
    for ex in examples:
        user, fixed = ex.messages[0].content, ex.messages[1].content
        buggy = user.split("```python\n", 1)[1].split("\n```", 1)[0]
        good = fixed.split("```python\n", 1)[1].split("\n```", 1)[0]
        compile(good, "good.py", "exec")  # the answer's code is valid Python
        assert ("NameError" in user) or ("SyntaxError" in user)
        if "SyntaxError" in user:
            with pytest.raises(SyntaxError):
                compile(buggy, "b.py", "exec")


def test_tiny_preset_and_yaml_round_trip_and_estimate() -> None:
    tiny = InstructConfig.tiny()
    assert InstructConfig.model_validate(__import__("yaml").safe_load(tiny.to_yaml())) == tiny
    est = estimate_instruct(InstructConfig.preset("lemur-chat-v1"))
    assert est["expected_examples"] == 34546 + 200000 + 81319 + 51952


def test_bad_config_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"sources\.0: .*take=-3"):
        InstructConfig.from_mapping(
            {"sources": [{"name": "a", "format": "sharegpt", "paths": ["x"], "take": -3}]}
        )


def test_instruct_yaml_means_what_it_means_in_every_stage(tmp_path: Path) -> None:
    # preset + deep merge, as in corpus, train and SFT configs; no key is unwrapped.
    path = tmp_path / "instruct.yaml"
    path.write_text("preset: tiny\nsemantic_dedup:\n  threshold: 0.9\n")
    config = InstructConfig.from_yaml(path)
    assert config.semantic_dedup.threshold == 0.9
    assert config.semantic_dedup.embedder == InstructConfig.tiny().semantic_dedup.embedder
    path.write_text("instruct:\n  preset: tiny\n")
    with pytest.raises(ConfigError, match="unknown field 'instruct'"):
        InstructConfig.from_yaml(path)


def test_cli_show_config_takes_dotted_overrides() -> None:
    import yaml
    from lemur_data.cli import app
    from typer.testing import CliRunner

    out = CliRunner().invoke(
        app, ["instruct", "show-config", "tiny", "--set", "semantic_dedup.threshold=0.9"]
    )
    assert out.exit_code == 0, out.output
    shown = InstructConfig.model_validate(yaml.safe_load(out.output))
    assert shown == InstructConfig.tiny().with_overrides(["semantic_dedup.threshold=0.9"])
    bad = CliRunner().invoke(app, ["instruct", "estimate", "tiny", "--set", "sed=1"])
    assert bad.exit_code == 2
    assert bad.output.strip().startswith(
        "error: --set sed: unknown field 'sed' (did you mean 'seed'?)"
    )
