"""Typed action schemas: the actions an environment accepts, their parameters and types.

One :class:`ActionSchema` drives two textual representations (paper Fig. 5): a symbolic one
(``type [12] [foo] [1]``, ALFWorld's ``take apple 1 from countertop 1``) rendered from a
template, and a Python-call one (``type(id=12, content='foo', press_enter_after=True)``)
parsed with :mod:`ast`. An :class:`Action` is the representation-free value both map to.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any, Literal

from lemur_core import ActionParseError
from pydantic import BaseModel, ConfigDict, Field, model_validator

ArgValue = int | bool | str
ParamKind = Literal["int", "bool", "text", "choice"]
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Param(BaseModel):
    """One parameter of an action: its name (the Python keyword), kind and default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_IDENTIFIER.pattern)
    kind: ParamKind = "text"
    choices: tuple[str, ...] = ()
    default: ArgValue | None = None
    description: str = ""

    @model_validator(mode="after")
    def _choices_match_kind(self) -> Param:
        if (self.kind == "choice") != bool(self.choices):
            raise ValueError(f"param '{self.name}': kind 'choice' needs choices, and only it")
        return self

    @property
    def required(self) -> bool:
        """True when the parameter has no default."""
        return self.default is None

    def check(self, action: str, value: Any) -> ArgValue:
        """``value`` as this parameter's type, or :class:`ActionParseError` saying what is wrong."""
        where = f"{action}(): argument '{self.name}'"
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ActionParseError(f"{where} must be an integer, got {value!r}")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ActionParseError(f"{where} must be True or False, got {value!r}")
            return value
        if not isinstance(value, str):
            raise ActionParseError(f"{where} must be a string, got {value!r}")
        if self.kind == "choice" and value not in self.choices:
            raise ActionParseError(f"{where} must be one of {list(self.choices)}, got {value!r}")
        return value


class ActionSpec(BaseModel):
    """One action: Python name, parameters, and the symbolic template(s).

    ``symbolic`` is a template whose ``{param}`` placeholders are filled in order; further
    ``symbolic_aliases`` are accepted when parsing (e.g. WebArena's ``type`` without its
    ``[press_enter]`` flag) but never rendered.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_IDENTIFIER.pattern)
    params: tuple[Param, ...] = ()
    symbolic: str = Field(min_length=1)
    symbolic_aliases: tuple[str, ...] = ()
    description: str = ""

    @model_validator(mode="after")
    def _templates_name_params(self) -> ActionSpec:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"action '{self.name}': duplicate parameter names {names}")
        placed = _PLACEHOLDER.findall(self.symbolic)
        if sorted(placed) != sorted(names):
            raise ValueError(
                f"action '{self.name}': template {self.symbolic!r} must name each of {names} once"
            )
        for alias in self.symbolic_aliases:
            for name in _PLACEHOLDER.findall(alias):
                if name not in names:
                    raise ValueError(f"action '{self.name}': alias {alias!r} names unknown {name}")
        return self

    def param(self, name: str) -> Param:
        """The parameter called ``name``."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def signature_text(self) -> str:
        """``type(id: int, content: str, press_enter_after: bool = True)`` for prompts and errors."""
        parts = []
        for p in self.params:
            kind = {"int": "int", "bool": "bool", "text": "str"}.get(p.kind, "str")
            if p.kind == "choice":
                kind = " | ".join(repr(c) for c in p.choices)
            parts.append(f"{p.name}: {kind}" + ("" if p.required else f" = {p.default!r}"))
        return f"{self.name}({', '.join(parts)})"


class Action(BaseModel):
    """A typed action: the action's name and its bound, type-checked arguments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    args: dict[str, ArgValue] = Field(default_factory=dict)


class ActionSchema(BaseModel):
    """The actions of one environment (e.g. :data:`WEBARENA_SCHEMA`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    actions: tuple[ActionSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ActionSchema:
        names = [a.name for a in self.actions]
        if len(set(names)) != len(names):
            raise ValueError(f"schema '{self.name}': duplicate action names")
        return self

    def spec(self, name: str) -> ActionSpec:
        """The spec called ``name``; :class:`ActionParseError` with a suggestion otherwise."""
        for spec in self.actions:
            if spec.name == name:
                return spec
        known = [a.name for a in self.actions]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ActionParseError(f"unknown action '{name}'{hint}; valid actions: {', '.join(known)}")

    def bind(self, name: str, arguments: Mapping[str, Any]) -> Action:
        """Check ``arguments`` against action ``name``: unknown, missing and mistyped arguments
        raise :class:`ActionParseError`; defaults are filled in."""
        spec = self.spec(name)
        unknown = [k for k in arguments if k not in {p.name for p in spec.params}]
        if unknown:
            raise ActionParseError(
                f"{name}() got unexpected argument(s) {unknown}; signature: {spec.signature_text()}"
            )
        args: dict[str, ArgValue] = {}
        for param in spec.params:
            if param.name in arguments:
                args[param.name] = param.check(name, arguments[param.name])
            elif param.default is not None:
                args[param.name] = param.default
            else:
                raise ActionParseError(
                    f"{name}() is missing argument '{param.name}'; signature: {spec.signature_text()}"
                )
        return Action(name=name, args=args)

    def validate_action(self, action: Action) -> Action:
        """Re-check an :class:`Action` built by hand; returns it with defaults filled in."""
        return self.bind(action.name, action.args)

    def describe(self, representation: Literal["python", "symbolic"] = "python") -> str:
        """One line per action, for system prompts: its Python signature
        (``click(id: int): click the element``) or its symbolic template with the parameters
        named (``click [id]: click the element``)."""
        lines = []
        for spec in self.actions:
            if representation == "python":
                form, notes = spec.signature_text(), [spec.description]
            else:
                form = _PLACEHOLDER.sub(lambda m: m.group(1), spec.symbolic)
                # The template hides what a signature shows: how flags are written, the choices.
                notes = [spec.description] + [_symbolic_note(p) for p in spec.params]
            text = "; ".join(n for n in notes if n)
            lines.append(f"{form}: {text}" if text else form)
        return "\n".join(lines)


def _symbolic_note(param: Param) -> str:
    if param.kind == "bool":
        default = "" if param.default is None else f" (default {int(param.default)})"
        return f"{param.name} is 1 or 0{default}"
    if param.kind == "choice":
        return f"{param.name} is one of {', '.join(param.choices)}"
    return ""
