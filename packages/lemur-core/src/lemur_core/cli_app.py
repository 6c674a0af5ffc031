"""The Typer side of the one error path: every Lemur CLI is built with :func:`lemur_typer`.

Its command group catches what a command raises: an expected error (see
:mod:`lemur_core.cli_errors`) becomes one ``error: ...`` line on stderr and its class's exit code;
a usage error of Typer itself (a bad option value, a missing option) is one line and exit 2; a
bug prints its traceback and exits 1. Every command also gets ``--debug`` (traceback for expected
errors too, like ``LEMUR_DEBUG=1``) and the app ``--version``. Piped help is plain text, without
Rich's boxes and type tags.

This module imports Typer, which every CLI package depends on; lemur-core's library modules
never import it.
"""

from __future__ import annotations

import inspect
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Annotated, Any

import typer
from typer import _click  # Typer's own copy of click: its UsageError
from typer.core import TyperGroup

from lemur_core.cli_errors import ExitCode, classify, debug_enabled
from lemur_core.config import SET_HELP

# The ``--set KEY=VALUE`` option every stage CLI takes (StageConfig.load applies the overrides;
# a bad one is a ConfigError, which lemur_typer turns into one line and exit 2).
SetOption = Annotated[list[str] | None, typer.Option("--set", help=SET_HELP, metavar="KEY=VALUE")]

_DEBUG_HELP = "print the traceback of an error too (also LEMUR_DEBUG=1)"


_DEBUG_KEY = "lemur_debug"


def _set_debug(ctx: typer.Context, value: bool) -> bool:
    # Kept on the invocation's context (its meta is shared by every subcommand's context),
    # not in os.environ: one --debug call must not change later in-process invocations.
    if value:
        ctx.meta[_DEBUG_KEY] = True
    return value


def _made_by_typer(decl: str, **options: Any) -> Any:
    """The Typer option ``typer.Option(False, decl, **options)`` builds, taken from a probe
    command, so the options added to every command are Typer's own objects (their help renders
    like the rest). Its parameter is named after ``decl`` (``--debug`` -> ``lemur_debug``):
    options sharing one name would share one value."""
    name = "lemur_" + decl.lstrip("-").replace("-", "_")
    probe = typer.Typer()

    def command(**kwargs: Any) -> None:  # pragma: no cover - never invoked
        del kwargs

    default = typer.Option(False, decl, **options)
    param = inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=bool
    )
    command.__signature__ = inspect.Signature([param])  # type: ignore[attr-defined]
    probe.command()(command)
    probe.command("other")(command)  # two commands: get_command then builds a group
    group = typer.main.get_command(probe)
    return group.commands["command"].params[0]  # type: ignore[attr-defined]


def _debug_option() -> Any:
    return _made_by_typer(
        "--debug",
        is_eager=True,
        expose_value=False,
        callback=_set_debug,
        help=_DEBUG_HELP,
    )


_TYPE_WORDS = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "path": "PATH", "bool": "BOOLEAN"}


def _plain_metavar(param: Any) -> None:
    """Conventional metavars (``RUN_DIR``, ``--limit INTEGER``) instead of this Typer's
    ``<str>``/``<int range>`` tags; flags show none."""
    if getattr(param, "metavar", None) is not None or getattr(param, "is_flag", False):
        return
    if getattr(param, "count", False):
        return
    if param.param_type_name == "argument":
        param.metavar = (param.name or "value").upper()
        # This Typer appends an argument's type to its name whatever its metavar: no type.
        param.display_type_rich = lambda ctx: None
        return
    desc = getattr(param, "type_descriptor", None)
    if desc is None or desc.is_choice:
        return
    try:
        label = param.display_type(None).strip("<>").removesuffix(" range")
    except Exception:  # a type this Typer renders differently: keep its own label
        return
    if label.startswith("list[") and label.endswith("]"):
        label = label[5:-1]
    if label in _TYPE_WORDS:
        param.metavar = _TYPE_WORDS[label]


def _add_debug(commands: Iterable[Any]) -> None:
    for command in commands:
        for param in command.params:
            _plain_metavar(param)
        if not any("--debug" in getattr(p, "opts", ()) for p in command.params):
            command.params.append(_debug_option())
        sub = getattr(command, "commands", None)
        if isinstance(sub, dict):
            _add_debug(sub.values())


def report_error(exc: BaseException, command_path: str = "", *, debug: bool = False) -> int:
    """Print ``exc`` the Lemur way (one line, or a traceback for a bug) and return the exit code."""
    if isinstance(exc, _click.exceptions.UsageError):
        hint = f"; see '{exc.ctx.command_path} --help'" if exc.ctx is not None else ""
        line = " ".join(exc.format_message().split()).rstrip(".")
        typer.echo(f"error: {line}{hint}", err=True)
        return int(ExitCode.USAGE)
    if isinstance(exc, typer.TyperException):
        typer.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
        return int(ExitCode.USAGE)
    found = classify(exc)
    if found is None:
        traceback.print_exception(exc, file=sys.stderr)
        where = f" in '{command_path}'" if command_path else ""
        typer.echo(
            f"error: internal error{where}: {type(exc).__name__}: {' '.join(str(exc).split())}; "
            "this is a bug, please report it with the traceback above",
            err=True,
        )
        return int(ExitCode.INTERNAL)
    if debug or debug_enabled():
        traceback.print_exception(exc, file=sys.stderr)
    typer.echo(f"error: {found.line}", err=True)
    return int(found.code)


def lemur_group(version: Callable[[], str]) -> type[TyperGroup]:
    """A Typer group class that reports errors the Lemur way and answers ``--version``."""

    def _print_version(value: bool) -> None:
        if value:
            typer.echo(version())
            raise typer.Exit()

    class LemurGroup(TyperGroup):
        def __init__(self, **attrs: Any) -> None:
            super().__init__(**attrs)
            opts = {o for p in self.params for o in getattr(p, "opts", ())}
            if "--version" not in opts:
                self.params.append(
                    _made_by_typer(
                        "--version",
                        is_eager=True,
                        expose_value=False,
                        callback=_print_version,
                        help="print the version and exit",
                    )
                )
            if "--debug" not in opts:
                self.params.append(_debug_option())
            _add_debug(self.commands.values())

        def invoke(self, ctx: Any) -> Any:
            try:
                return super().invoke(ctx)
            except (typer.Exit, typer.Abort, SystemExit):
                raise
            except BaseException as exc:
                code = report_error(exc, ctx.command_path, debug=bool(ctx.meta.get(_DEBUG_KEY)))
                raise typer.Exit(code) from None

    return LemurGroup


def lemur_typer(*, help: str, version: str | Callable[[], str], **kwargs: Any) -> typer.Typer:
    """A Typer app with Lemur's error path, ``--version``/``--debug``, and plain piped help."""
    get_version = version if callable(version) else (lambda: version)
    kwargs.setdefault("no_args_is_help", True)
    # Rich help (boxes, <str>/<bool> tags) on a terminal; plain Click help when piped.
    kwargs.setdefault("rich_markup_mode", "rich" if sys.stdout.isatty() else None)
    kwargs.setdefault("pretty_exceptions_enable", False)
    return typer.Typer(help=help, cls=lemur_group(get_version), **kwargs)
