"""The one error path of every Lemur CLI: exit-code classes, typed expected errors, one line each.

An *expected* error (a bad option, a missing or malformed file, an unknown name, an unreachable
model server, a full disk) is printed as one line on stderr::

    error: <what is wrong>, <where>; <the fix>

and the process exits with the code of its class (:class:`ExitCode`): usage 2, input/data 3,
model/server 4, environment/disk 5. Anything else is a bug: its traceback is printed and the exit
code is 1. ``--debug`` (or ``LEMUR_DEBUG=1``) prints the traceback for expected errors too.

:func:`classify` decides the class of any exception. Lemur's own typed errors are listed once in
:data:`KNOWN_ERRORS` by dotted name (so lemur-core imports none of the packages); code raising a
new expected error raises a :class:`LemurError` subclass (or adds its class there). This module
needs only the standard library and pydantic; the Typer side lives in :mod:`lemur_core.cli_app`.
"""

from __future__ import annotations

import errno
import io
import json
import os
import traceback
from dataclasses import dataclass
from enum import IntEnum
from pathlib import PurePath
from types import TracebackType
from typing import ClassVar

from pydantic import ValidationError


class ExitCode(IntEnum):
    """The exit code of each class of failure; documented in docs/errors.md."""

    OK = 0
    INTERNAL = 1  # a bug: the traceback is printed
    USAGE = 2  # a bad option, argument, config field or name
    INPUT = 3  # an input file or artifact is missing, unreadable, malformed or stale
    MODEL = 4  # the model server is unreachable, refuses, or failed the run
    ENVIRONMENT = 5  # the machine: disk full or read-only, permissions, a lock, a missing package
    INTERRUPTED = 130  # Ctrl-C


def error_line(
    what: str, where: str | os.PathLike[str] | None = None, fix: str | None = None
) -> str:
    """``what, where; fix`` — the text after ``error:`` (empty parts left out)."""
    text = what
    if where is not None and str(where):
        text += f", {where}"
    if fix:
        text += f"; {fix}"
    return text


class LemurError(Exception):
    """An expected failure with its exit-code class; its text is one line: what, where, fix."""

    code: ClassVar[ExitCode] = ExitCode.INPUT

    def __init__(
        self,
        what: str,
        where: str | os.PathLike[str] | None = None,
        fix: str | None = None,
        *,
        code: ExitCode | None = None,
    ) -> None:
        self.what, self.where, self.fix = what, where, fix
        if code is not None:
            self.code = code  # type: ignore[misc]  # per-instance class when a caller needs one
        super().__init__(error_line(what, where, fix))


class UsageError(LemurError, ValueError):
    """A bad option, argument, config value or name (exit 2). Also a ``ValueError``."""

    code = ExitCode.USAGE


class InputError(LemurError, ValueError):
    """An input file or artifact that is missing, unreadable, malformed or empty (exit 3)."""

    code = ExitCode.INPUT


class ServerError(LemurError, RuntimeError):
    """The model server is unreachable, serves another model, or failed the run (exit 4)."""

    code = ExitCode.MODEL


class EnvError(LemurError, RuntimeError):
    """The machine refuses: disk full or read-only, permissions, a lock, a package (exit 5)."""

    code = ExitCode.ENVIRONMENT


#: Lemur's typed errors by dotted class name -> class; the most derived listed class wins.
#: lemur-core does not import the packages, so names are strings (tests check each resolves).
KNOWN_ERRORS: dict[str, ExitCode] = {
    # lemur-core
    "lemur_core.config.ConfigError": ExitCode.USAGE,
    "lemur_core.manifest.ManifestError": ExitCode.INPUT,
    "lemur_core.manifest.StaleArtifactError": ExitCode.INPUT,
    "lemur_core.stage_errors.StageError": ExitCode.INPUT,
    "lemur_core.stage_errors.StageBusyError": ExitCode.ENVIRONMENT,
    "lemur_core.stage_errors.StageDiskError": ExitCode.ENVIRONMENT,
    "lemur_core.protocols.ActionParseError": ExitCode.INPUT,
    # lemur-data
    "lemur_data.corpus.mixer.MixError": ExitCode.INPUT,
    "lemur_data.corpus.tokenize.TokenizerError": ExitCode.INPUT,
    "lemur_data.corpus.finalize.PackingError": ExitCode.INPUT,
    "lemur_data.decontam.DecontamInputError": ExitCode.INPUT,
    # lemur-train
    "lemur_train.data.CorpusError": ExitCode.INPUT,
    "lemur_train.checkpoint.CheckpointError": ExitCode.INPUT,
    # lemur-sft
    "lemur_sft.launch_check.LaunchError": ExitCode.USAGE,
    "lemur_sft.masking.MaskError": ExitCode.INPUT,
    "lemur_sft.masking.BoundaryStraddleError": ExitCode.INPUT,
    "lemur_sft.masking.UnrepresentableTextError": ExitCode.INPUT,
    # lemur-agents
    "lemur_agents.models.base.ModelError": ExitCode.MODEL,
    "lemur_agents.envs.base.UnknownTaskError": ExitCode.USAGE,
    "lemur_agents.envs.robotics.task_file.RoboticsTaskFileError": ExitCode.INPUT,
    "lemur_agents.envs.robotics.robocodegen.RoboCodeGenNotebookError": ExitCode.INPUT,
    "lemur_agents.envs.sql.mysql_dump.MySQLDumpError": ExitCode.INPUT,
    # lemur-bench
    "lemur_bench.runner.RunIncompleteError": ExitCode.MODEL,
    "lemur_bench.loaders.base.LoaderError": ExitCode.INPUT,
    "lemur_bench.importers.mint.MintImportError": ExitCode.INPUT,
    "lemur_bench.rescore.RescoreError": ExitCode.INPUT,
    # the umbrella
    "lemur.recipe.RecipeError": ExitCode.USAGE,
}

_DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT}


@dataclass(frozen=True)
class Classified:
    """The class of an expected error and its one line (without the ``error:`` prefix)."""

    code: ExitCode
    line: str


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _one_line(text: str) -> str:
    """Messages are one line: newlines and runs of spaces become single spaces."""
    return " ".join(text.split())


def _message(exc: BaseException) -> str:
    text = str(exc)
    # KeyError's str() is the repr of its argument: 'unknown task' arrives quoted.
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]
    return _one_line(text) or type(exc).__name__


def file_in_traceback(tb: TracebackType | None) -> str | None:
    """The file being read when an exception was raised, found in the failing frames' locals
    (an open text file, or the path of ``Path.read_text``), innermost frame first."""
    frames = [frame for frame, _ in traceback.walk_tb(tb)]
    for frame in reversed(frames):
        for value in frame.f_locals.values():
            if isinstance(value, io.TextIOBase | io.BufferedIOBase):
                name = getattr(value, "name", None)
                if isinstance(name, str):
                    return name
            if isinstance(value, PurePath) and frame.f_code.co_filename.endswith("pathlib.py"):
                return str(value)
            if isinstance(value, PurePath) and frame.f_code.co_name in (
                "read_text",
                "read_json",
                "read_bytes",
            ):
                return str(value)
    return None


def _unicode_line(exc: UnicodeDecodeError) -> str:
    where = file_in_traceback(exc.__traceback__) or "an input file"
    bad = exc.object[exc.start : exc.start + 1].hex() if isinstance(exc.object, bytes) else "?"
    return error_line(
        f"not UTF-8 text (byte 0x{bad} at offset {exc.start})",
        where,
        "convert the file to UTF-8 (e.g. iconv -f LATIN1 -t UTF-8 FILE > NEW)",
    )


def _validation_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg")))
    more = len(exc.errors()) - len(parts)
    title = exc.title or "value"
    return error_line(
        f"invalid {title}: " + "; ".join(parts) + (f" (+{more} more)" if more > 0 else ""),
        fix="fix the value named (see --help)",
    )


def _os_line(exc: OSError) -> Classified:
    where = exc.filename if exc.filename is not None else None
    reason = exc.strerror or _message(exc)
    if exc.errno in _DISK_ERRNOS:
        fix = "free space there or choose another directory on a writable file system, then rerun"
        return Classified(ExitCode.ENVIRONMENT, error_line(reason.lower(), where, fix))
    if isinstance(exc, PermissionError):
        fix = "make it readable/writable by this user (chmod/chown) or choose another path"
        return Classified(ExitCode.ENVIRONMENT, error_line("permission denied", where, fix))
    if exc.filename is None and exc.errno is None:
        # Raised with a message of its own (``FileNotFoundError("script x.json not found")``).
        code = ExitCode.INPUT if isinstance(exc, FileNotFoundError | FileExistsError) else None
        if code is not None:
            text = _message(exc)
            return Classified(code, error_line(text, fix=None if ";" in text else "check the path"))
    if isinstance(exc, FileNotFoundError):
        return Classified(
            ExitCode.INPUT, error_line("no such file or directory", where, "check the path")
        )
    if isinstance(exc, FileExistsError):
        is_file = where is not None and os.path.isfile(where)
        what = "is a file, not a directory" if is_file else "already exists"
        fix = "choose another path or remove what is there"
        return Classified(ExitCode.INPUT, error_line(what, where, fix))
    if isinstance(exc, IsADirectoryError):
        return Classified(
            ExitCode.INPUT, error_line("is a directory, expected a file", where, "name the file")
        )
    if isinstance(exc, NotADirectoryError):
        return Classified(ExitCode.INPUT, error_line("not a directory", where, "name a directory"))
    if isinstance(exc, ConnectionError | TimeoutError):
        fix = "check that the server is running and the URL is right"
        return Classified(
            ExitCode.MODEL, error_line(f"cannot reach the server: {reason}", where, fix)
        )
    return Classified(
        ExitCode.ENVIRONMENT, error_line(reason, where, "check the path and the machine")
    )


def classify(exc: BaseException) -> Classified | None:
    """The exit-code class and one line of an expected error; ``None`` for a bug.

    Click/Typer usage errors are handled by :mod:`lemur_core.cli_app` before this is called.
    """
    if isinstance(exc, KeyboardInterrupt):
        return Classified(ExitCode.INTERRUPTED, "interrupted; rerun the same command to resume")
    if isinstance(exc, LemurError):
        return Classified(exc.code, _message(exc))
    for cls in type(exc).__mro__:
        code = KNOWN_ERRORS.get(_dotted(cls))
        if code is not None:
            return Classified(code, _message(exc))
    if isinstance(exc, ValidationError):
        return Classified(ExitCode.USAGE, _validation_line(exc))
    if isinstance(exc, UnicodeDecodeError):
        return Classified(ExitCode.INPUT, _unicode_line(exc))
    if isinstance(exc, json.JSONDecodeError):
        where = file_in_traceback(exc.__traceback__) or "an input file"
        return Classified(
            ExitCode.INPUT,
            error_line(
                f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
                where,
                "fix the file or write it again",
            ),
        )
    if isinstance(exc, OSError):
        return _os_line(exc)
    if isinstance(exc, ImportError):
        missing = exc.name or _message(exc)
        return Classified(
            ExitCode.ENVIRONMENT,
            error_line(
                f"missing Python package '{missing}'",
                fix="install it (uv sync, or the extra the docs name)",
            ),
        )
    return None


def debug_enabled() -> bool:
    """Whether ``LEMUR_DEBUG`` asks for tracebacks of expected errors too."""
    return os.environ.get("LEMUR_DEBUG", "").strip().lower() not in ("", "0", "false", "no")
