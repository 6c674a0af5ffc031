"""The one error path: exit-code classes, one-line messages, tracebacks only for bugs or --debug."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
import typer
from lemur_core.cli_app import lemur_typer
from lemur_core.cli_errors import (
    KNOWN_ERRORS,
    ExitCode,
    InputError,
    ServerError,
    UsageError,
    classify,
    error_line,
)
from lemur_core.config import ConfigError
from lemur_core.manifest import StaleArtifactError
from lemur_core.stage_errors import StageBusyError, StageDiskError
from pydantic import BaseModel, Field
from typer.testing import CliRunner


class _Limits(BaseModel):
    n: int = Field(ge=1)


def _app() -> typer.Typer:
    app = lemur_typer(help="probe", version="9.9.9")

    @app.command()
    def boom(kind: str, path: Path = Path("x"), n: int = typer.Option(1, min=1)) -> None:
        if kind == "usage":
            raise UsageError("unknown widget 'wigdet' (did you mean 'widget'?)", "--kind", "fix")
        if kind == "config":
            raise ConfigError("train config: optimizer.peak_lrr: unknown field")
        if kind == "stale":
            raise StaleArtifactError("out holds another config; pass --force")
        if kind == "busy":
            raise StageBusyError("out is being written by pid 7")
        if kind == "disk":
            raise StageDiskError("cannot write out: no space left on device; free space")
        if kind == "server":
            raise ServerError("cannot reach http://h:1/v1", fix="start the server")
        if kind == "missing":
            path.read_text(encoding="utf-8")
        if kind == "latin1":
            path.read_text(encoding="utf-8")
        if kind == "json":
            json.loads(path.read_text(encoding="utf-8"))
        if kind == "pydantic":
            _Limits(n=0)
        if kind == "enospc":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        if kind == "bug":
            raise ZeroDivisionError("division by zero")

    @app.command()
    def other() -> None:
        """A second command, so the app is a group."""

    return app


APP = _app()


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(APP, list(args), env=env)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("kind", "code", "needle"),
    [
        ("usage", ExitCode.USAGE, "did you mean 'widget'"),
        ("config", ExitCode.USAGE, "peak_lrr"),
        ("stale", ExitCode.INPUT, "--force"),
        ("busy", ExitCode.ENVIRONMENT, "pid 7"),
        ("disk", ExitCode.ENVIRONMENT, "no space left"),
        ("server", ExitCode.MODEL, "start the server"),
        ("pydantic", ExitCode.USAGE, "greater than or equal to 1"),
    ],
)
def test_expected_errors_are_one_line_with_their_class_code(
    kind: str, code: ExitCode, needle: str
) -> None:
    exit_code, output = _run("boom", kind)
    assert exit_code == code, output
    assert output.startswith("error: ") and output.count("\n") == 1, output
    assert needle in output and "Traceback" not in output


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    code, out = _run("boom", "missing", "--path", str(missing))
    assert code == ExitCode.INPUT and str(missing) in out and out.count("\n") == 1
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    code, out = _run("boom", "latin1", "--path", str(latin))
    assert code == ExitCode.INPUT and "not UTF-8" in out and str(latin) in out, out
    broken = tmp_path / "broken.json"
    broken.write_text("{nope", encoding="utf-8")
    code, out = _run("boom", "json", "--path", str(broken))
    assert code == ExitCode.INPUT and "not valid JSON" in out and "line 1" in out, out
    code, out = _run("boom", "enospc", "--path", str(tmp_path / "o"))
    assert code == ExitCode.ENVIRONMENT and "no space left" in out and "/o" in out


def test_typer_usage_errors_are_one_line_exit_2() -> None:
    code, out = _run("boom", "usage", "--n", "0")
    assert code == ExitCode.USAGE and out.count("\n") == 1 and "--n" in out, out
    code, out = _run("nosuch")
    assert code == ExitCode.USAGE and "No such command 'nosuch'" in out and "--help" in out


def test_a_bug_prints_its_traceback_and_exits_1() -> None:
    code, out = _run("boom", "bug")
    assert code == ExitCode.INTERNAL
    assert "Traceback" in out and "ZeroDivisionError" in out and "this is a bug" in out


def test_debug_prints_the_traceback_of_an_expected_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEMUR_DEBUG", raising=False)
    code, out = _run("boom", "usage", "--debug")
    assert code == ExitCode.USAGE and "Traceback" in out and out.rstrip().endswith("fix")
    code, out = _run("boom", "usage", env={"LEMUR_DEBUG": "1"})
    assert code == ExitCode.USAGE and "Traceback" in out


def test_version_option_and_plain_piped_help() -> None:
    assert _run("--version") == (0, "9.9.9\n")
    code, out = _run("boom", "--help")
    assert code == 0 and "--debug" in out
    assert "<str>" not in out and "<int>" not in out and "╭" not in out


def test_error_line_and_classify_of_plain_exceptions() -> None:
    assert error_line("bad", "f.txt", "fix it") == "bad, f.txt; fix it"
    assert error_line("bad") == "bad"
    assert str(InputError("empty", Path("a/b"), "fill it")) == "empty, a/b; fill it"
    assert classify(ValueError("x")) is None  # an untyped ValueError is a bug, not guessed
    found = classify(FileNotFoundError(errno.ENOENT, "No such file", "/x/y"))
    assert found is not None and found.code == ExitCode.INPUT and "/x/y" in found.line
    found = classify(PermissionError(errno.EACCES, "Permission denied", "/root/z"))
    assert found is not None and found.code == ExitCode.ENVIRONMENT
    found = classify(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))
    assert found is not None and found.code == ExitCode.MODEL
    found = classify(ModuleNotFoundError("No module named 'torch'", name="torch"))
    assert found is not None and found.code == ExitCode.ENVIRONMENT and "torch" in found.line


def test_the_known_error_table_names_lemur_core_classes_that_exist() -> None:
    import importlib

    for dotted, code in KNOWN_ERRORS.items():
        if not dotted.startswith("lemur_core."):
            continue  # the other packages' names are checked in the repository's battery test
        module, _, name = dotted.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), name), type), dotted
        assert code in ExitCode


def test_debug_of_one_invocation_does_not_leak_into_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEMUR_DEBUG", raising=False)
    assert "Traceback" in _run("boom", "usage", "--debug")[1]
    code, out = _run("boom", "usage")
    assert code == ExitCode.USAGE and "Traceback" not in out and out.count("\n") == 1
    assert "Traceback" in _run("--debug", "boom", "usage")[1]  # on the app, before the command
