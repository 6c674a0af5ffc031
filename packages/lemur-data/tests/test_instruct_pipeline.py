"""The instruction-set build as steps: every source format, filter and dedup in one fixture build,
whose ``examples.jsonl`` must keep the exact bytes it had before the build became steps."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lemur_core.stage import StageBusyError, StageStatus, default_scratch
from lemur_data.instruct import (
    DecontamSpec,
    EmbedderSpec,
    InstructConfig,
    SemanticDedupSpec,
    SourceFormat,
    SourceSpec,
    build_instruct,
)

# A benchmark item one evol row copies from (13-gram decontamination must drop that row).
_BENCH = (
    "def count_vowels_in_the_given_string(text): return the number of vowels a e i o u "
    "found anywhere in the given input string ignoring case"
)


def _oasst(
    mid: str, parent: str | None, role: str, text: str, **extra: object
) -> dict[str, object]:
    row: dict[str, object] = {"message_id": mid, "parent_id": parent, "text": text, "role": role,
                              "lang": "en", "deleted": False, "rank": None, "message_tree_id": "t1",
                              "created_date": "2023-02-05T00:00:00"}  # fmt: skip
    row.update(extra)
    return row


def fixture_config(tmp: Path) -> InstructConfig:
    """Five sources in four formats with duplicates (exact, across sources, semantic), a
    contaminated row, a non-English row, malformed rows and a conversation over its token
    budget; no stdlib source, so the output does not depend on the Python version."""
    evol = tmp / "evol.jsonl"
    rows = [
        {"instruction": f"Write function number {i} that adds {i} to x.", "output": f"def f(x):\n    return x + {i}"}
        for i in range(8)
    ]  # fmt: skip
    rows.append(rows[2])  # an exact duplicate
    rows.append({"instruction": _BENCH, "output": "sum(c in 'aeiou' for c in text.lower())"})
    rows.append(
        {**rows[-1], "instruction": _BENCH.replace(" ", "  ")}
    )  # its copy: contaminated too
    rows.append({"instruction": "Reverse a list.", "input": "[1, 2, 3]", "output": "[3, 2, 1]"})
    evol.write_text("\n".join([json.dumps(r) for r in rows] + ["{not json"]) + "\n")
    orca = tmp / "orca.jsonl"
    orca.write_text("\n".join(json.dumps(r) for r in [
        {"id": "o1", "system_prompt": "You are helpful.", "question": "What is 2+2?", "response": "4"},
        {"id": "o2", "system_prompt": "", "question": "Name a prime.", "response": "7"},
        {"id": "o3", "system_prompt": "", "question": "Write function number 3 that adds 3 to x.", "response": "def f(x):\n    return x + 3"},
        {"id": "o4", "question": "no response"},
    ]) + "\n")  # fmt: skip
    share = tmp / "share.json"
    long_turns = [t for i in range(6) for t in (
        {"from": "human", "value": f"Question {i}: " + "explain this " * 12},
        {"from": "gpt", "value": f"Answer {i}: " + "it works because " * 15})]  # fmt: skip
    share.write_text(json.dumps([
        {"id": "s1", "conversations": [{"from": "human", "value": "How do I sort a list of numbers in Python quickly?"}, {"from": "gpt", "value": "<p>Call <code>sorted()</code> on the list.</p>"}]},
        {"id": "s2", "conversations": [{"from": "human", "value": "How do I sort a list of numbers in Python quickly ?"}, {"from": "gpt", "value": "Use sorted()."}]},
        {"id": "s3", "conversations": [{"from": "human", "value": "Wie sortiere ich eine Liste von Zahlen in Python schnell und einfach?"}, {"from": "gpt", "value": "Mit sorted() bekommst du eine neue sortierte Liste zurück."}]},
        {"id": "s4", "conversations": long_turns},
        {"id": "s5", "conversations": [{"from": "gpt", "value": "Hello!"}, {"from": "human", "value": "What does zip do in Python?"}, {"from": "gpt", "value": "It pairs items of iterables."}]},
    ]))  # fmt: skip
    oasst = tmp / "oasst.jsonl"
    oasst.write_text("\n".join(json.dumps(r) for r in [
        _oasst("p1", None, "prompter", "What is a tuple in Python?"),
        _oasst("a1", "p1", "assistant", "An immutable sequence.", rank=0),
        _oasst("a2", "p1", "assistant", "A list you cannot change.", rank=1),
        _oasst("p2", "a1", "prompter", "Can it hold lists?"),
        _oasst("a3", "p2", "assistant", "Yes, it can hold any objects.", rank=0),
        _oasst("q1", None, "prompter", "Hola?", message_tree_id="t2", lang="es"),
        _oasst("r1", "q1", "assistant", "Hola!", rank=0, message_tree_id="t2", lang="es"),
    ]) + "\n")  # fmt: skip
    bench = tmp / "bench.jsonl"
    bench.write_text(json.dumps({"task_id": "B/0", "prompt": _BENCH}) + "\n")
    return InstructConfig(
        name="pipeline-fixture",
        sources=(
            SourceSpec(name="evol", format=SourceFormat.EVOL_CODEALPACA, paths=(str(evol),),
                       take=6, group="Evol-CodeAlpaca", paper_count=51952),
            SourceSpec(name="orca", format=SourceFormat.OPENORCA, paths=(str(orca),), take=0.5),
            SourceSpec(name="share", format=SourceFormat.SHAREGPT, paths=(str(share),),
                       english_filter=True, semantic_dedup=True, max_tokens_per_example=96),
            SourceSpec(name="oasst", format=SourceFormat.OASST1, paths=(str(oasst),),
                       oasst_policy="all_paths", semantic_dedup=True),
        ),
        semantic_dedup=SemanticDedupSpec(threshold=0.8, embedder=EmbedderSpec(kind="hashed-ngrams")),
        decontam=DecontamSpec(humaneval=False, reference_files=(str(bench),)),
    )  # fmt: skip


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# sha256 of the fixture build's files as written by the procedural build this pipeline replaced
# (computed on that code before the refactor); any change to conversion, filtering, dedup,
# decontamination, mixture or serialization shows up here.
_EXPECTED = {
    "examples.jsonl": "f927d8f7e7dca48a4ddd55c1fcffefa306e548f5694e35052eb1572287c51588",
    "removed.jsonl": "8306d394e656cb7cc6cdacbb6e7e93534af9624f9ab0e1213f21cc58741defc9",
    "decontam_hits.jsonl": "d97fd819c35585642d2d4c37eeebff9519d1416519ad37bc71e61789df709a2f",
    "table1.md": "c2e8eecc5b6dcc1fcff0fc36854ce3e9334e31f265b35134e7b1b4d6c56c2753",
}


def test_fixture_build_keeps_the_bytes_of_the_procedural_build(tmp_path: Path) -> None:
    out = tmp_path / "instruct"
    manifest = build_instruct(fixture_config(tmp_path), out).manifest
    assert {name: _sha(out / name) for name in _EXPECTED} == _EXPECTED
    assert manifest.stats["removed_by_reason"] == {
        "decontaminated": 2,
        "exact_duplicate": 2,
        "malformed_row": 2,
        "non_english": 1,
        "semantic_duplicate": 7,
    }
    assert manifest.stats["examples"] == 13


_RUNNER = (
    "import sys\n"
    "from pathlib import Path\n"
    "from lemur_data.instruct import InstructConfig, build_instruct\n"
    "config = InstructConfig.model_validate_json(Path(sys.argv[1]).read_text())\n"
    "build_instruct(config, Path(sys.argv[2]))\n"
)


def test_a_build_killed_between_sources_resumes_after_its_last_finished_source(
    tmp_path: Path,
) -> None:
    config = fixture_config(tmp_path)
    # The last source's file is a named pipe: the build blocks opening it, after the first three
    # sources are finished and staged, until it is killed there.
    oasst = tmp_path / "oasst.jsonl"
    rows = oasst.read_bytes()
    oasst.unlink()
    os.mkfifo(oasst)
    (tmp_path / "config.json").write_text(config.model_dump_json())
    out = tmp_path / "instruct"
    scratch = default_scratch(out)
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUNNER, str(tmp_path / "config.json"), str(out)],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not (scratch / "share.done.json").exists():
            assert proc.poll() is None, "the build ended before it reached the last source"
            assert time.monotonic() < deadline, "the build never finished its third source"
            time.sleep(0.05)
        with pytest.raises(StageBusyError, match=rf"already running \(pid {proc.pid}, since "):
            build_instruct(config, out)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    staged = {p.name for p in scratch.glob("*.done.json")}
    assert staged == {"evol.done.json", "orca.done.json", "share.done.json"}
    # The finished sources are taken from the scratch: their files are not read again.
    for name in ("evol.jsonl", "orca.jsonl", "share.json"):
        (tmp_path / name).unlink()
    oasst.unlink()
    oasst.write_bytes(rows)
    resumed = build_instruct(config, out)
    assert resumed.status is StageStatus.RESUMED  # the dead writer's lock was taken over
    assert {name: _sha(out / name) for name in _EXPECTED} == _EXPECTED
    assert not scratch.exists()  # published: the scratch with the staged sources is gone
