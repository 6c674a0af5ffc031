"""Start-up checks of a model spec string, before any expensive work: its form (a typo'd
backend gets a did-you-mean) and, for ``scripted:FILE``, that the file exists. Errors are
lemur_core's one-line ``UsageError`` / ``InputError`` naming the option."""

from __future__ import annotations

import difflib
from pathlib import Path

from lemur_core.cli_errors import InputError, UsageError

from lemur_agents.models.spec import HFSpec, OpenAISpec, ScriptedSpec, parse_model_spec

BACKENDS = ("openai", "hf", "scripted")


def check_model_spec(spec: str, option: str = "--model") -> OpenAISpec | HFSpec | ScriptedSpec:
    """The typed spec that ``spec`` names; a one-line error naming ``option`` when it is
    malformed, names an unknown backend, or (``scripted:``) a file that does not exist."""
    try:
        typed = parse_model_spec(spec)
    except ValueError as exc:
        scheme = spec.partition(":")[0]
        close = difflib.get_close_matches(scheme.lower(), BACKENDS, n=1, cutoff=0.5)
        hint = (
            f" (did you mean '{close[0]}'?)"
            if close and scheme not in BACKENDS and ":" in spec
            else ""
        )
        raise UsageError(f"{option}: {' '.join(str(exc).split())}{hint}") from None
    if isinstance(typed, ScriptedSpec):
        path = Path(typed.path)
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "does not exist"
            raise InputError(
                f"{option}: script file {path} {what}",
                fix="give a JSON/YAML script file (lemur-bench fixtures DIR writes one)",
            )
    return typed
