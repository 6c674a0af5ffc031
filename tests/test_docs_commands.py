"""Every `lemur*` command written in the README, the package READMEs and the docs names a real
subcommand and real options of that CLI, so a renamed flag cannot leave the docs stale."""

from __future__ import annotations

import importlib
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

ROOT = Path(__file__).resolve().parents[1]
CLIS = {
    "lemur": "lemur.cli",
    "lemur-agents": "lemur_agents.cli",
    "lemur-bench": "lemur_bench.cli",
    "lemur-data": "lemur_data.cli",
    "lemur-sft": "lemur_sft.cli",
    "lemur-train": "lemur_train.cli",
}
_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)
_SPAN = re.compile(r"`([^`\n]+)`")


def doc_files() -> list[Path]:
    """The Markdown a user reads: the READMEs and the docs site."""
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").rglob("*.md")),
        *sorted(ROOT.glob("packages/*/README.md")),
    ]


def commands(text: str) -> Iterator[list[str]]:
    """The token lists of the `lemur*` invocations in ``text`` (code blocks and inline code;
    line continuations joined; pipelines and `&&` chains split; `uv run` stripped)."""
    snippets = [
        line for block in _FENCE.findall(text) for line in block.replace("\\\n", " ").splitlines()
    ]
    snippets += _SPAN.findall(_FENCE.sub("", text))
    for snippet in snippets:
        for part in re.split(r"&&|\|\||;|\|", snippet):
            part = part.strip().removeprefix("$").strip()
            try:
                tokens = shlex.split(part, comments=True)
            except ValueError:  # prose with an odd quote, not a command
                continue
            if tokens[:2] == ["uv", "run"]:
                tokens = tokens[2:]
            while tokens and tokens[0].startswith("--"):  # uv run's own options
                tokens = tokens[1:] if "=" in tokens[0] else tokens[2:]
            if tokens and tokens[0] in CLIS:
                yield tokens


def problems(tokens: list[str]) -> list[str]:
    """What in ``tokens`` the CLI does not have: an unknown subcommand or option."""
    command: Any = typer.main.get_command(importlib.import_module(CLIS[tokens[0]]).app)
    path, rest = [tokens[0]], tokens[1:]
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        if sub is None:
            return [f"`{' '.join(path)}` has no subcommand '{rest[0]}'"]
        command, path, rest = sub, [*path, rest[0]], rest[1:]
    if hasattr(command, "commands") and not rest:
        return []  # a group named alone prints its help
    known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
    return [
        f"`{' '.join(path)}` has no option {t.split('=')[0]}"
        for t in rest
        if t.startswith("-") and t != "-" and t.split("=")[0] not in known
    ]


def test_every_documented_command_names_real_subcommands_and_options() -> None:
    found, bad = 0, []
    for path in doc_files():
        for tokens in commands(path.read_text(encoding="utf-8")):
            found += 1
            bad += [
                f"{path.relative_to(ROOT)}: {p} in `{' '.join(tokens)}`" for p in problems(tokens)
            ]
    assert found > 50, f"only {found} documented commands found: is the extraction broken?"
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("```bash\nuv run lemur-bench run --suite all --modle x\n```", "has no option --modle"),
        ("Run `lemur-data corpus biuld tiny`.", "has no subcommand 'biuld'"),
        (
            "```\nlemur-train plan lemur-70b \\\n  --mesh fsdp=8 --chips 4\n```",
            "has no option --chips",
        ),
    ],
)
def test_a_stale_flag_or_subcommand_is_caught(doc: str, expected: str) -> None:
    found = [p for tokens in commands(doc) for p in problems(tokens)]
    assert any(expected in p for p in found), found


# Documented commands that need nothing but a fresh clone and finish in seconds: each one is
# run, as a user would paste it, from an empty directory. One per CLI at least, and the config
# printers of every package (their --set paths are the ones users copy).
RUNNABLE = (
    "lemur --version",
    "lemur validate tiny",
    "lemur show-config tiny pretrain",
    "lemur-data corpus show-config tiny --set pack.seq_len=128",
    "lemur-data instruct show-config tiny --set semantic_dedup.threshold=0.9",
    "lemur-sft show-config tiny --set optimizer.peak_lr=5e-4",
    "lemur-sft presets",
    "lemur-bench list --suite all",
    "lemur-bench fixtures fixtures",
    "lemur-bench show-config --suite tools --model hf:smollm2 --set limit_per_task=5",
    "lemur-agents envs",
)


def documented_commands() -> set[str]:
    """Every documented `lemur*` invocation, as one space-joined string."""
    return {
        " ".join(tokens)
        for path in doc_files()
        for tokens in commands(path.read_text(encoding="utf-8"))
    }


def test_the_runnable_sample_is_documented() -> None:
    # The sample is of the docs' own commands: one dropped from the docs leaves the sample too.
    missing = sorted(set(RUNNABLE) - documented_commands())
    assert not missing, f"not in the docs any more (update RUNNABLE): {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("command", RUNNABLE)
def test_documented_command_runs_from_an_empty_directory(command: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    tokens = shlex.split(command)
    # The console script of this environment, as `uv run` would find it.
    exe = Path(sys.executable).parent / tokens[0]
    assert exe.exists(), f"{tokens[0]} is not installed in {exe.parent}"
    done = subprocess.run(
        [str(exe), *tokens[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
        check=False,
    )
    assert done.returncode == 0, f"`{command}` exited {done.returncode}:\n{done.stderr[-2000:]}"
    assert done.stdout.strip(), f"`{command}` printed nothing"
