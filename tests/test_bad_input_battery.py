"""The bad-input battery: every CLI and the main Python entry points, one bad input per row.

Each row asserts the exit-code class of docs/errors.md (usage 2, input/data 3, model/server 4,
environment/disk 5; 0 for a counted skip), that the message names the problem, that the error is
one ``error:`` line on stderr with no traceback, and that nothing hangs (a timeout per row).
The apps run in-process (typer.testing.CliRunner): no subprocess imports torch or JAX.
Add a row for every bad input a bug report finds.
"""

from __future__ import annotations

import importlib
import json
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lemur_core.cli_errors import KNOWN_ERRORS, ExitCode, classify
from typer.testing import CliRunner

USAGE, INPUT, MODEL, ENV = ExitCode.USAGE, ExitCode.INPUT, ExitCode.MODEL, ExitCode.ENVIRONMENT

APPS = {
    "lemur": "lemur.cli",
    "lemur-data": "lemur_data.cli",
    "lemur-train": "lemur_train.cli",
    "lemur-sft": "lemur_sft.cli",
    "lemur-agents": "lemur_agents.cli",
    "lemur-bench": "lemur_bench.cli",
}


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The files the rows name: bench fixtures, non-UTF-8 and malformed files, empty inputs."""
    from lemur_bench.fixtures import SCRIPT_NAME, write_fixtures

    root = tmp_path_factory.mktemp("battery")
    fx = write_fixtures(root / "fx")
    latin = root / "latin1.txt"
    latin.write_bytes("café à la crème\n".encode("latin-1"))
    latin_yaml = root / "latin1.yaml"
    latin_yaml.write_bytes("name: caf\xe9\n".encode("latin-1"))
    (root / "bad.yaml").write_text("name: [1, 2\n", encoding="utf-8")
    (root / "list.yaml").write_text("- 1\n- 2\n", encoding="utf-8")
    (root / "file.txt").write_text("a plain file\n", encoding="utf-8")
    (root / "empty.jsonl").write_text("", encoding="utf-8")
    (root / "notrun").mkdir()
    instruct_like = root / "instruct-like"
    instruct_like.mkdir()
    (instruct_like / "examples.jsonl").write_text("", encoding="utf-8")
    empty_fx = root / "empty-fx"
    shutil.copytree(fx, empty_fx)
    (empty_fx / "mint" / "humaneval" / "test_prompts.json").write_text("", encoding="utf-8")
    latin_rows = root / "latin1.jsonl"
    latin_rows.write_bytes(b'{"conversations": [{"from": "human", "value": "caf\xe9"}]}\n')
    latin_source = root / "latin-source.yaml"
    latin_source.write_text(
        "name: latin\nsources:\n- name: latin\n  format: sharegpt\n"
        f"  paths: [{latin_rows}]\ndecontam:\n  humaneval: false\n",
        encoding="utf-8",
    )
    latin_fx = root / "latin-fx"
    shutil.copytree(fx, latin_fx)
    (latin_fx / "mint" / "humaneval" / "test_prompts.json").write_bytes(b'{"a": "caf\xe9"}\n')
    empty_source = root / "empty-source.yaml"
    empty_source.write_text(
        "name: empty\nsources:\n- name: empty\n  format: sharegpt\n"
        f"  paths: [{root / 'empty.jsonl'}]\ndecontam:\n  humaneval: false\n",
        encoding="utf-8",
    )
    missing_source = root / "missing-source.yaml"
    missing_source.write_text(
        "name: missing\nsources:\n- name: missing\n  format: sharegpt\n"
        f"  paths: [{root / 'nope.jsonl'}]\ndecontam:\n  humaneval: false\n",
        encoding="utf-8",
    )
    unknown_field = root / "unknown-field.yaml"
    unknown_field.write_text("preset: tiny\nseq_lenn: 3\n", encoding="utf-8")
    return {
        "root": str(root),
        "fx": str(fx),
        "script": str(fx / SCRIPT_NAME),
        "latin": str(latin),
        "latin_yaml": str(latin_yaml),
        "bad_yaml": str(root / "bad.yaml"),
        "list_yaml": str(root / "list.yaml"),
        "file": str(root / "file.txt"),
        "empty_jsonl": str(root / "empty.jsonl"),
        "notrun": str(root / "notrun"),
        "instruct_like": str(instruct_like),
        "empty_fx": str(empty_fx),
        "latin_fx": str(latin_fx),
        "empty_source": str(empty_source),
        "missing_source": str(missing_source),
        "latin_source": str(latin_source),
        "unknown_field": str(unknown_field),
        "dead": f"openai:http://127.0.0.1:{_dead_port()}/v1?timeout=0.5&max_retries=0#m",
    }


# (app, args, exit code, text the message must contain). {name} is a path of `paths`;
# {out} a fresh directory for the row.
RUN = ("run", "--out", "{out}", "--model", "scripted:{script}", "--tasks-dir", "{fx}")
EP = ("episode", "--env", "lemur/SQL-v0", "--task", "0")
CLI_CASES: list[tuple[str, tuple[str, ...], int, str]] = [
    # ---- lemur-bench ---------------------------------------------------------------------
    ("lemur-bench", (*RUN, "--suite", "mmlux"), USAGE, "did you mean 'mmlu'"),
    ("lemur-bench", (*RUN, "--suite", "ｍｍｌｕ"), USAGE, "did you mean 'mmlu'"),
    ("lemur-bench", (*RUN, "--suite", ","), USAGE, "empty suite"),
    ("lemur-bench", (*RUN, "--suite", "tools,nope"), USAGE, "'nope'"),
    ("lemur-bench", (*RUN, "--suite", "tool"), USAGE, "did you mean 'tools'"),
    ("lemur-bench", (*RUN, "--suite", "gsm8k", "--concurrency", "0"), USAGE, "--concurrency"),
    ("lemur-bench", (*RUN, "--suite", "gsm8k", "--concurrency", "-3"), USAGE, "--concurrency"),
    ("lemur-bench", (*RUN, "--suite", "gsm8k", "--concurrency", "many"), USAGE, "--concurrency"),
    ("lemur-bench", (*RUN, "--suite", "gsm8k", "--limit-per-task", "0"), USAGE, "--limit-per"),
    ("lemur-bench", (*RUN, "--suite", "gsm8k", "--max-new-tokens", "0"), USAGE, "--max-new"),
    ("lemur-bench", (*RUN, "--suite", "gsm8k", "--max-model-errors", "-1"), USAGE, "--max-model"),
    ("lemur-bench", (*RUN, "--suite", "gsm8k", "--scoring-mode", "exact"), USAGE, "mint"),
    ("lemur-bench", (*RUN, "--suite", "gsm8k", "--action-representation", "x"), USAGE, "symbolic"),
    ("lemur-bench", (*RUN, "--suite", "gsm8k", "--site-url", "shop=h:1"), USAGE, "PLACEHOLDER"),
    ("lemur-bench", (*RUN, "--suite", "gsm8k", "--auth-dir", "/nonexistent"), USAGE, "auth-dir"),
    ("lemur-bench", (*RUN, "--suite", "gsm8k", "--feedback-model", "gpt4"), USAGE, "--feedback"),
    ("lemur-bench", (*RUN, "--suite", "gsm8k", "--nope"), USAGE, "No such option"),
    (
        "lemur-bench",
        ("run", "--suite", "gsm8k", "--model", "scripted:{script}", "--tasks-dir", "{fx}"),
        USAGE,
        "--out",
    ),
    (
        "lemur-bench",
        (
            "run",
            "--suite",
            "gsm8k",
            "--out",
            "{out}",
            "--model",
            "scripted:{script}",
            "--tasks-dir",
            "/nonexistent",
        ),
        USAGE,
        "does not exist",
    ),
    (
        "lemur-bench",
        (
            "run",
            "--suite",
            "gsm8k",
            "--out",
            "{out}",
            "--model",
            "scripted:{script}",
            "--tasks-dir",
            "{file}",
        ),
        USAGE,
        "is a file",
    ),
    *[
        ("lemur-bench", ("run", "--suite", "gsm8k", "--out", "{out}", "--model", spec), code, text)
        for spec, code, text in [
            ("opnai:http://x#y", USAGE, "did you mean 'openai'"),
            ("openai:http://x", USAGE, "names no model"),
            ("openai:ftp://x#m", USAGE, "http://"),
            ("gpt4", USAGE, "no scheme"),
            ("hff:x", USAGE, "did you mean 'hf'"),
            ("openai:http://h:1/v1?timeout=abc#m", USAGE, "timeout"),
            ("openai:http://h:1/v1?timeout=-1#m", USAGE, "timeout"),
            ("openai:http://h:1/v1?concurrency=0#m", USAGE, "concurrency"),
            ("openai:http://h:1/v1?bogus=1#m", USAGE, "bogus"),
            ("scripted:/nonexistent.json", INPUT, "does not exist"),
            ("scripted:{notrun}", INPUT, "is a directory"),
        ]
    ],
    (
        "lemur-bench",
        (*RUN[:-2], "--tasks-dir", "{fx}", "--suite", "gsm8k", "--model", "scripted:{latin}"),
        INPUT,
        "not UTF-8",
    ),
    (
        "lemur-bench",
        (
            "run",
            "--suite",
            "gsm8k",
            "--out",
            "{file}/sub",
            "--model",
            "scripted:{script}",
            "--tasks-dir",
            "{fx}",
        ),
        INPUT,
        "not a directory",
    ),
    (
        "lemur-bench",
        (
            "run",
            "--suite",
            "gsm8k",
            "--out",
            "{out}",
            "--model",
            "{dead}",
            "--tasks-dir",
            "{fx}",
            "--max-model-errors",
            "1",
            "--no-preflight",
        ),
        MODEL,
        "model_error",
    ),
    (
        "lemur-bench",
        ("run", "--suite", "gsm8k", "--out", "{out}", "--model", "{dead}"),
        MODEL,
        "model server check failed",
    ),
    ("lemur-bench", ("check", "--model", "{dead}"), MODEL, "model server check failed"),
    ("lemur-bench", ("check", "--model", "opnai:http://x#y"), USAGE, "did you mean 'openai'"),
    ("lemur-bench", ("estimate", "--tasks-dir", "/nonexistent"), USAGE, "does not exist"),
    ("lemur-bench", ("estimate", "--suite", "mmlux"), USAGE, "did you mean 'mmlu'"),
    ("lemur-bench", ("estimate", "--limit-per-task", "0"), USAGE, "--limit-per-task"),
    ("lemur-bench", ("list", "--suite", "nope"), USAGE, "unknown suite"),
    ("lemur-bench", ("view", "{notrun}"), INPUT, "not a run directory"),
    ("lemur-bench", ("view", "/nonexistent"), INPUT, "not a run directory"),
    ("lemur-bench", ("rescore", "{notrun}"), INPUT, "episodes.jsonl"),
    ("lemur-bench", ("rescore", "{notrun}", "--mode", "exact"), USAGE, "--mode"),
    ("lemur-bench", ("rescore", "{notrun}", "--workers", "0"), USAGE, "--workers"),
    ("lemur-bench", ("import", "mint", "{empty_jsonl}", "--out", "{out}"), INPUT, "--task"),
    (
        "lemur-bench",
        ("import", "mint", "{latin}", "--out", "{out}", "--task", "gsm8k"),
        INPUT,
        "latin1.txt",
    ),
    (
        "lemur-bench",
        ("import", "mint", "/nonexistent.jsonl", "--out", "{out}", "--task", "gsm8k"),
        INPUT,
        "nonexistent.jsonl",
    ),
    ("lemur-bench", ("fixtures", "{file}/sub"), INPUT, "not a directory"),
    ("lemur-bench", ("nosuch",), USAGE, "No such command"),
    # counted skips: exit 0, the task listed with its reason
    (
        "lemur-bench",
        (
            "run",
            "--suite",
            "mint-humaneval,gsm8k",
            "--out",
            "{out}",
            "--model",
            "scripted:{script}",
            "--tasks-dir",
            "{empty_fx}",
        ),
        0,
        "no tasks in",
    ),
    (
        "lemur-bench",
        (
            "run",
            "--suite",
            "mint-humaneval,gsm8k",
            "--out",
            "{out}",
            "--model",
            "scripted:{script}",
            "--tasks-dir",
            "{latin_fx}",
        ),
        0,
        "not UTF-8",
    ),
    # ---- lemur-agents --------------------------------------------------------------------
    (
        "lemur-agents",
        ("episode", "--env", "lemur/SQL-v1", "--task", "0", "--model", "scripted:{script}"),
        USAGE,
        "did you mean 'lemur/SQL-v0'",
    ),
    (
        "lemur-agents",
        ("episode", "--env", "nope", "--task", "0", "--model", "scripted:{script}"),
        USAGE,
        "unknown env",
    ),
    (
        "lemur-agents",
        (*EP, "--model", "scripted:{script}", "--format", "code:cobol"),
        USAGE,
        "cobol",
    ),
    (
        "lemur-agents",
        (*EP, "--model", "scripted:{script}", "--format", "xml"),
        USAGE,
        "unknown action format",
    ),
    (
        "lemur-agents",
        (*EP, "--model", "scripted:{script}", "--format", "code:"),
        USAGE,
        "unknown action format",
    ),
    ("lemur-agents", (*EP, "--model", "hff:x"), USAGE, "did you mean 'hf'"),
    ("lemur-agents", (*EP, "--model", "openai:http://x"), USAGE, "names no model"),
    ("lemur-agents", (*EP, "--model", "scripted:/nonexistent.yaml"), INPUT, "does not exist"),
    ("lemur-agents", (*EP, "--model", "scripted:{latin}"), INPUT, "not UTF-8"),
    (
        "lemur-agents",
        (*EP, "--model", "scripted:{script}", "--system-prompt-file", "{latin}"),
        INPUT,
        "latin1.txt",
    ),
    (
        "lemur-agents",
        (*EP, "--model", "scripted:{script}", "--system-prompt-file", "/nonexistent"),
        USAGE,
        "does not exist",
    ),
    (
        "lemur-agents",
        (*EP, "--model", "scripted:{script}", "--max-turns", "0"),
        USAGE,
        "--max-turns",
    ),
    (
        "lemur-agents",
        (*EP, "--model", "scripted:{script}", "--temperature", "-1"),
        USAGE,
        "--temperature",
    ),
    (
        "lemur-agents",
        (*EP, "--model", "scripted:{script}", "--max-new-tokens", "0"),
        USAGE,
        "--max-new-tokens",
    ),
    (
        "lemur-agents",
        ("episode", "--env", "lemur/SQL-v0", "--task", "999999", "--model", "scripted:{script}"),
        INPUT,
        "999999",
    ),
    ("lemur-agents", (*EP, "--model", "{dead}"), MODEL, "model failed"),
    (
        "lemur-agents",
        (*EP, "--model", "scripted:{script}", "--out", "{file}/x.jsonl"),
        INPUT,
        "not a directory",
    ),
    ("lemur-agents", ("episode", "--task", "0", "--model", "scripted:{script}"), USAGE, "--env"),
    ("lemur-agents", ("nosuch",), USAGE, "No such command"),
    # ---- lemur-data ----------------------------------------------------------------------
    ("lemur-data", ("corpus", "build", "tinyy", "--out", "{out}"), USAGE, "did you mean 'tiny'"),
    (
        "lemur-data",
        ("corpus", "build", "/nonexistent/c.yaml", "--out", "{out}"),
        USAGE,
        "does not exist",
    ),
    ("lemur-data", ("corpus", "build", "{bad_yaml}", "--out", "{out}"), USAGE, "not valid YAML"),
    ("lemur-data", ("corpus", "build", "{unknown_field}", "--out", "{out}"), USAGE, "seq_lenn"),
    ("lemur-data", ("corpus", "build", "tiny", "--out", "{out}", "--set", "nope=1"), USAGE, "nope"),
    ("lemur-data", ("corpus", "show-config", "tinyy"), USAGE, "did you mean 'tiny'"),
    (
        "lemur-data",
        ("corpus", "build", "tiny", "--out", "{out}", "--workers", "0"),
        USAGE,
        "--workers",
    ),
    ("lemur-data", ("corpus", "stats", "{notrun}"), INPUT, "manifest"),
    ("lemur-data", ("corpus", "inspect", "/nonexistent"), INPUT, "nonexistent"),
    ("lemur-data", ("corpus", "estimate", "lemur-v2"), USAGE, "lemur-v1"),
    ("lemur-data", ("corpus", "show-config", "{list_yaml}"), USAGE, "mapping"),
    ("lemur-data", ("instruct", "build", "tinyy", "--out", "{out}"), USAGE, "did you mean"),
    (
        "lemur-data",
        ("instruct", "build", "/nonexistent/i.yaml", "--out", "{out}"),
        USAGE,
        "does not exist",
    ),
    ("lemur-data", ("instruct", "build", "{empty_source}", "--out", "{out}"), INPUT, "0 examples"),
    ("lemur-data", ("instruct", "stats", "{notrun}"), INPUT, "manifest"),
    (
        "lemur-data",
        ("instruct", "build", "{missing_source}", "--out", "{out}"),
        INPUT,
        "matches no file",
    ),
    (
        "lemur-data",
        ("instruct", "build", "{latin_source}", "--out", "{out}"),
        INPUT,
        "latin1.jsonl",
    ),
    (
        "lemur-data",
        ("instruct", "estimate", "tiny", "--set", "sed=1"),
        USAGE,
        "did you mean 'seed'",
    ),
    ("lemur-data", ("instruct", "show-config", "{bad_yaml}"), USAGE, "not valid YAML"),
    ("lemur-data", ("instruct", "show-config", "{latin_yaml}"), INPUT, "not UTF-8"),
    ("lemur-data", ("nosuch",), USAGE, "No such command"),
    # ---- lemur-train ---------------------------------------------------------------------
    (
        "lemur-train",
        ("run", "tinyy", "--corpus", "{notrun}", "--out", "{out}"),
        USAGE,
        "did you mean 'tiny'",
    ),
    (
        "lemur-train",
        ("run", "tiny", "--corpus", "/nonexistent", "--out", "{out}"),
        USAGE,
        "does not exist",
    ),
    (
        "lemur-train",
        ("run", "tiny", "--corpus", "{notrun}", "--out", "{out}", "--set", "max_steps=0"),
        USAGE,
        "max_steps",
    ),
    (
        "lemur-train",
        ("run", "tiny", "--corpus", "{notrun}", "--out", "{out}", "--set", "steps=5"),
        USAGE,
        "max_steps",
    ),
    ("lemur-train", ("show-config", "tinyy"), USAGE, "did you mean 'tiny'"),
    ("lemur-train", ("show-config", "/nonexistent/t.yaml"), USAGE, "does not exist"),
    ("lemur-train", ("show-config", "{latin_yaml}"), INPUT, "not UTF-8"),
    ("lemur-train", ("show-config", "tiny", "--set", "optimizer.peak_lrr=1"), USAGE, "peak_lr"),
    ("lemur-train", ("plan", "tiny", "--chip", "tpu-v9"), USAGE, "unknown chip"),
    ("lemur-train", ("convert", "from-hf", "/nonexistent", "{out}"), USAGE, "does not exist"),
    ("lemur-train", ("convert", "to-hf", "{notrun}", "{out}", "--dtype", "fp8"), USAGE, "dtype"),
    ("lemur-train", ("nosuch",), USAGE, "No such command"),
    # ---- lemur-sft -----------------------------------------------------------------------
    (
        "lemur-sft",
        ("run", "tinyy", "--instruct", "{notrun}", "--base-model", "{notrun}", "--out", "{out}"),
        USAGE,
        "did you mean 'tiny'",
    ),
    (
        "lemur-sft",
        ("run", "tiny", "--instruct", "/nonexistent", "--base-model", "{notrun}", "--out", "{out}"),
        USAGE,
        "does not exist",
    ),
    (
        "lemur-sft",
        ("run", "tiny", "--instruct", "{notrun}", "--base-model", "{notrun}", "--out", "{out}"),
        INPUT,
        "examples.jsonl",
    ),
    (
        "lemur-sft",
        (
            "run",
            "tiny",
            "--instruct",
            "{instruct_like}",
            "--base-model",
            "{notrun}",
            "--out",
            "{out}",
        ),
        INPUT,
        "config.json",
    ),
    (
        "lemur-sft",
        (
            "run",
            "tiny",
            "--instruct",
            "{instruct_like}",
            "--base-model",
            "/nonexistent",
            "--out",
            "{out}",
        ),
        USAGE,
        "does not exist",
    ),
    (
        "lemur-sft",
        (
            "run",
            "tiny",
            "--instruct",
            "{notrun}",
            "--base-model",
            "{notrun}",
            "--out",
            "{out}",
            "--set",
            "optimizer.peak_lrr=1",
        ),
        USAGE,
        "peak_lr",
    ),
    ("lemur-sft", ("show-config", "tinyy"), USAGE, "did you mean 'tiny'"),
    ("lemur-sft", ("show-config", "{bad_yaml}"), USAGE, "not valid YAML"),
    ("lemur-sft", ("plan", "tiny", "--set", "max_steps=0"), USAGE, "max_steps"),
    ("lemur-sft", ("toy", "{file}/sub", "--examples", "4"), INPUT, "not a directory"),
    ("lemur-sft", ("nosuch",), USAGE, "No such command"),
    # ---- lemur (the umbrella) ------------------------------------------------------------
    ("lemur", ("validate", "tinyy"), USAGE, "tiny"),
    ("lemur", ("validate", "/nonexistent/r.yaml"), USAGE, "r.yaml"),
    ("lemur", ("validate", "{bad_yaml}"), USAGE, "not valid YAML"),
    ("lemur", ("validate", "{latin_yaml}"), INPUT, "not UTF-8"),
    ("lemur", ("validate", "tiny", "--set", "eval.suite=mmlux"), USAGE, "did you mean 'mmlu'"),
    ("lemur", ("validate", "tiny", "--set", "eval.suite=ｍｍｌｕ"), USAGE, "did you mean 'mmlu'"),
    ("lemur", ("validate", "tiny", "--set", "eval.models.0.spec=opnai:http://x#y"), USAGE, "opnai"),
    ("lemur", ("validate", "tiny", "--set", "pretrain.max_steps=0"), USAGE, "max_steps"),
    ("lemur", ("validate", "tiny", "--set", "nope=1"), USAGE, "nope"),
    ("lemur", ("show-config", "tiny", "pretrian"), USAGE, "pretrian"),
    ("lemur", ("plan", "lemur-70b", "--set", "resources.pretrain.chipp=x"), USAGE, "chipp"),
    ("lemur", ("run", "tiny", "--force", "pretrian", "--workdir", "{out}"), USAGE, "pretrian"),
    ("lemur", ("nosuch",), USAGE, "No such command"),
]


def _fill(args: tuple[str, ...], paths: dict[str, str], out: Path) -> list[str]:
    return [a.format(out=out, **paths) for a in args]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("app_name", "args", "code", "needle"),
    CLI_CASES,
    ids=[f"{i:03d}-{c[0]}-{'-'.join(c[1][:2])}" for i, c in enumerate(CLI_CASES)],
)
def test_bad_cli_input_is_one_line_with_its_class_code(
    app_name: str,
    args: tuple[str, ...],
    code: int,
    needle: str,
    paths: dict[str, str],
    tmp_path: Path,
) -> None:
    app = importlib.import_module(APPS[app_name]).app
    argv = _fill(args, paths, tmp_path / "out")
    result = CliRunner().invoke(app, argv, catch_exceptions=True)
    shown = f"{app_name} {' '.join(argv)}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    assert "Traceback" not in result.output, shown
    assert result.exit_code == code, shown
    needle = needle.format(**paths)
    if code == 0:  # a counted skip: listed with its reason
        assert "skipped" in result.output and needle in result.output, shown
        return
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, shown
    assert needle in errors[0], shown


def _expect(code: int, needle: str, call: Callable[[], Any]) -> None:
    with pytest.raises(Exception) as info:
        call()
    found = classify(info.value)
    assert found is not None, f"{type(info.value).__name__}: {info.value} is not classified"
    assert found.code == code, found
    assert needle in found.line and "\n" not in found.line, found.line


def _api_cases() -> list[tuple[str, int, str, Callable[[dict[str, str], Path], Any]]]:
    def bench(*args: Any, **kwargs: Any) -> Any:
        from lemur_bench import run_suite

        return run_suite(*args, **kwargs)

    def spec(text: str) -> Any:
        from lemur_agents.models.spec_check import check_model_spec

        return check_model_spec(text)

    def train_load(*args: Any) -> Any:
        from lemur_train import TrainConfig

        return TrainConfig.load(*args)

    def corpus_load(*args: Any) -> Any:
        from lemur_data.corpus.config import CorpusConfig

        return CorpusConfig.load(*args)

    def sft_load(*args: Any) -> Any:
        from lemur_sft.config import SFTConfig

        return SFTConfig.load(*args)

    def recipe(*args: Any) -> Any:
        from lemur.recipe import load_recipe

        return load_recipe(*args)

    def instruct(p: dict[str, str], out: Path) -> Any:
        from lemur_data.instruct.build import build_instruct
        from lemur_data.instruct.config import InstructConfig

        return build_instruct(InstructConfig.load(p["empty_source"]), out)

    def manifest(p: dict[str, str]) -> Any:
        from lemur_core import read_manifest

        return read_manifest(Path(p["notrun"]))

    script = "scripted:{script}"
    return [
        (
            "run_suite concurrency 0",
            USAGE,
            "concurrency",
            lambda p, o: bench(
                "gsm8k", script.format(**p), o, tasks_dir=Path(p["fx"]), concurrency=0
            ),
        ),
        (
            "run_suite unknown suite",
            USAGE,
            "did you mean 'mmlu'",
            lambda p, o: bench("mmlux", script.format(**p), o, tasks_dir=Path(p["fx"])),
        ),
        (
            "run_suite limit 0",
            USAGE,
            "limit_per_task",
            lambda p, o: bench("gsm8k", script.format(**p), o, limit_per_task=0),
        ),
        (
            "run_suite missing script",
            INPUT,
            "nope.json",
            lambda p, o: bench(
                "gsm8k", "scripted:/nonexistent/nope.json", o, tasks_dir=Path(p["fx"])
            ),
        ),
        (
            "model spec backend typo",
            USAGE,
            "did you mean 'openai'",
            lambda p, o: spec("opnai:http://x#y"),
        ),
        (
            "model spec without #MODEL",
            USAGE,
            "names no model",
            lambda p, o: spec("openai:http://x"),
        ),
        ("train preset typo", USAGE, "did you mean 'tiny'", lambda p, o: train_load("tinyy")),
        ("train max_steps 0", USAGE, "max_steps", lambda p, o: train_load("tiny", ["max_steps=0"])),
        (
            "corpus missing yaml",
            USAGE,
            "does not exist",
            lambda p, o: corpus_load("/nonexistent/c.yaml"),
        ),
        ("corpus non-UTF-8 yaml", INPUT, "not UTF-8", lambda p, o: corpus_load(p["latin_yaml"])),
        (
            "sft unknown field",
            USAGE,
            "peak_lrr",
            lambda p, o: sft_load("tiny", ["optimizer.peak_lrr=1"]),
        ),
        ("recipe unknown name", USAGE, "tiny", lambda p, o: recipe("tinyy")),
        (
            "recipe eval suite",
            USAGE,
            "did you mean 'mmlu'",
            lambda p, o: recipe("tiny", ["eval.suite=mmlux"]),
        ),
        ("build_instruct empty source", INPUT, "0 examples", lambda p, o: instruct(p, o)),
        ("read_manifest of a plain dir", INPUT, "manifest", lambda p, o: manifest(p)),
    ]


API_CASES = _api_cases()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("name", "code", "needle", "call"), API_CASES, ids=[c[0] for c in API_CASES]
)
def test_bad_python_input_raises_a_classified_one_line_error(
    name: str,
    code: int,
    needle: str,
    call: Callable[[dict[str, str], Path], Any],
    paths: dict[str, str],
    tmp_path: Path,
) -> None:
    _expect(code, needle, lambda: call(paths, tmp_path / "out"))


def test_a_failed_start_never_pins_the_output_directory(
    paths: dict[str, str], tmp_path: Path
) -> None:
    """A typo'd run leaves --out untouched, so the corrected run is not a stale artifact."""
    from lemur_bench.cli import app

    out = tmp_path / "run"
    bad = ["run", "--suite", "gsm8kk", "--out", str(out), "--model", f"scripted:{paths['script']}"]
    assert CliRunner().invoke(app, [*bad, "--tasks-dir", paths["fx"]]).exit_code == USAGE
    assert not out.exists()
    good = ["run", "--suite", "gsm8k", "--out", str(out), "--model", f"scripted:{paths['script']}"]
    result = CliRunner().invoke(app, [*good, "--tasks-dir", paths["fx"]])
    assert result.exit_code == 0, result.output
    # --force starts over a run made with another config instead of refusing it.
    other = [*good, "--tasks-dir", paths["fx"], "--max-new-tokens", "64"]
    refused = CliRunner().invoke(app, other)
    assert refused.exit_code == INPUT and "different config" in refused.stderr, refused.output
    forced = CliRunner().invoke(app, [*other, "--force"])
    assert forced.exit_code == 0, forced.output
    pinned = json.loads((out / "run_config.json").read_text(encoding="utf-8"))
    assert pinned["max_new_tokens"] == 64


def test_comma_separated_suites_run_every_named_suite() -> None:
    from lemur_bench.registry import suite_tasks

    both = [t.name for t in suite_tasks("tools,self-debug")]
    alone = [t.name for t in suite_tasks("tools")] + [t.name for t in suite_tasks("self-debug")]
    assert both == list(dict.fromkeys(alone)) and both


def test_every_known_error_class_exists() -> None:
    """KNOWN_ERRORS names classes by dotted path: a rename would silently make them bugs."""
    for dotted in KNOWN_ERRORS:
        module, _, name = dotted.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), name, None), type), dotted


def test_every_cli_has_version_and_debug() -> None:
    for name, module in APPS.items():
        app = importlib.import_module(module).app
        for args in (["--version"], ["version"]):
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0 and "0.1.0" in result.output, (name, args, result.output)
        helped = CliRunner().invoke(app, ["--help"])
        assert "--debug" in helped.output and "--version" in helped.output, name


def test_the_battery_has_at_least_100_bad_inputs() -> None:
    assert len(CLI_CASES) + len(API_CASES) >= 100


def test_the_turn_budget_option_keeps_its_old_name() -> None:
    """--separate-turn-budgets (no longer read as a --scoring-mode value) and the old --exact-mint."""
    from lemur_bench.cli import app

    helped = CliRunner().invoke(app, ["run", "--help"])
    assert "--separate-turn-budgets" in helped.output and "--exact-mint" in helped.output


@pytest.mark.timeout(120)
def test_a_busy_output_directory_is_the_environment_class(
    paths: dict[str, str], tmp_path: Path
) -> None:
    """Another live writer holds --out: one line naming it, exit 5, nothing written."""
    from lemur_bench.cli import app
    from lemur_core.dirlock import DirLock, lock_path_for

    out = tmp_path / "run"
    out.mkdir()
    holder = DirLock(lock_path_for(out.absolute()), out)
    holder.acquire()
    try:
        args = ["run", "--suite", "gsm8k", "--out", str(out), "--tasks-dir", paths["fx"]]
        result = CliRunner().invoke(app, [*args, "--model", f"scripted:{paths['script']}"])
    finally:
        holder.release()
    assert result.exit_code == ENV, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "already running" in errors[0], result.output
    assert not (out / "episodes.jsonl").exists()
