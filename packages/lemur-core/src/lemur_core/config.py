"""One config dialect for every stage: a named preset, YAML that deep-merges onto it, dotted
``--set`` overrides, and one-line errors that name the field and the fix.

Every stage config (corpus, instruct, pretrain, SFT) derives from :class:`StageConfig`, so the
same YAML means the same thing in every package::

    preset: tiny            # start from a named preset (optional)
    optimizer:
      peak_lr: 1.0e-4       # nested mappings merge key by key onto the preset
    sources: [...]          # lists (and tuples) replace the preset's list whole

and every CLI takes the same overrides: ``--set optimizer.peak_lr=1e-4`` (repeatable; list
items by index, ``sources.0.weight=2``). Presets are registered by the module that defines
them (:meth:`StageConfig.register_preset`), so a config module never imports its presets.

Reading YAML needs PyYAML, which every stage package depends on; lemur-core itself only
imports it when a YAML file is read or an override value is parsed.
"""

from __future__ import annotations

import difflib
import enum
import re
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

C = TypeVar("C", bound="StageConfig")
M = TypeVar("M", bound=BaseModel)

#: Help text of the ``--set`` option every stage CLI declares.
SET_HELP = (
    "override one config field: KEY=VALUE with a dotted KEY (optimizer.peak_lr=1e-4, "
    "sources.0.weight=2); repeatable; applied after the preset or YAML file"
)

_MAX_ERRORS = 3
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


class ConfigError(ValueError):
    """A config that cannot be used. The message is one line naming the field and the fix;
    CLIs print it without a traceback."""


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in: mappings merge key by key, anything else (lists
    and tuples included) replaces. Neither argument is modified."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class StageConfig(BaseModel):
    """Base of every stage's top-level config: frozen, unknown fields rejected, and loadable
    from a preset, a YAML file or a mapping with the same meaning everywhere."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: How messages name this config ("corpus config", "train config").
    config_label: ClassVar[str] = "config"
    #: Old dotted field paths -> their new names; an old name is an error naming the new one.
    renamed_fields: ClassVar[Mapping[str, str]] = {}
    _presets: ClassVar[dict[str, Callable[[], Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._presets = {}  # each config class has its own presets, none inherited

    # ---- presets -------------------------------------------------------------------------

    @classmethod
    def register_preset(cls: type[C], name: str) -> Callable[[Callable[[], C]], Callable[[], C]]:
        """Decorator: register a zero-argument function returning this config as preset ``name``."""

        def register(factory: Callable[[], C]) -> Callable[[], C]:
            cls._presets[name] = factory
            return factory

        return register

    @classmethod
    def preset_names(cls) -> list[str]:
        """The names of the registered presets, sorted."""
        return sorted(cls._presets)

    @classmethod
    def preset(cls: type[C], name: str) -> C:
        """The preset called ``name``; an unknown name is a :class:`ConfigError` with a
        did-you-mean and the known names."""
        factory = cls._presets.get(name)
        if factory is None:
            raise ConfigError(
                f"unknown {cls.config_label} preset '{name}'{_did_you_mean(name, cls._presets)}; "
                f"known presets: {', '.join(cls.preset_names()) or '(none)'}"
            )
        config = factory()
        if not isinstance(config, cls):
            raise TypeError(f"preset '{name}' of {cls.__name__} returned {type(config).__name__}")
        return config

    @classmethod
    def tiny(cls: type[C]) -> C:
        """The ``tiny`` preset: the CPU-sized default every stage ships."""
        return cls.preset("tiny")

    # ---- loading -------------------------------------------------------------------------

    @classmethod
    def from_mapping(cls: type[C], data: Mapping[str, Any], *, origin: str | None = None) -> C:
        """Validate ``data``: an optional ``preset: NAME`` is loaded first and the other keys
        deep-merge onto it (:func:`deep_merge`). Errors are one :class:`ConfigError` line that
        starts with ``origin`` and names each bad field (did-you-mean for unknown ones)."""
        where = origin or cls.config_label
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{where}: expected a mapping of {cls.__name__} fields, got {type(data).__name__}"
            )
        fields = dict(data)
        preset_name = fields.pop("preset", None)
        cls._check_renamed(fields, where)
        merged: dict[str, Any] = fields
        if preset_name is not None:
            try:
                base = cls.preset(str(preset_name)).model_dump(mode="json")
            except ConfigError as exc:
                raise ConfigError(f"{where}: preset: {exc}") from exc
            merged = deep_merge(base, fields)
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            raise ConfigError(f"{where}: {describe_errors(cls, exc)}") from exc

    @classmethod
    def from_yaml(cls: type[C], path: str | Path) -> C:
        """Read a YAML file of this config's fields (``preset: NAME`` + overrides allowed), with
        the meaning of :meth:`from_mapping`."""
        import yaml

        p = Path(path)
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{cls.config_label} file {p} does not exist") from exc
        except OSError as exc:
            raise ConfigError(f"cannot read {cls.config_label} file {p}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{p} is not valid YAML{at}: fix the syntax") from exc
        return cls.from_mapping(raw if raw is not None else {}, origin=str(p))

    @classmethod
    def load(cls: type[C], source: str | Path, overrides: Sequence[str] | None = ()) -> C:
        """What a CLI argument names: a YAML file (``*.yaml``/``*.yml`` or an existing path) or a
        preset name, then the ``--set`` ``overrides`` applied in order."""
        text = str(source)
        path = Path(text)
        if path.suffix in (".yaml", ".yml") or path.exists():
            config = cls.from_yaml(path)
        elif text in cls._presets:
            config = cls.preset(text)
        else:
            raise ConfigError(
                f"'{text}' is neither a YAML file nor a {cls.config_label} preset"
                f"{_did_you_mean(text, cls._presets)}; known presets: "
                f"{', '.join(cls.preset_names()) or '(none)'}"
            )
        return config.with_overrides(overrides or ())

    # ---- overrides -----------------------------------------------------------------------

    def with_overrides(self: C, overrides: Sequence[str]) -> C:
        """This config with ``KEY=VALUE`` overrides applied (dotted keys; list items by index).

        A value is parsed as YAML (``1e-4``, ``true``, ``null``, ``[a, b]``) unless the field
        holds text, where it is kept as written. Unknown keys get a did-you-mean."""
        if not overrides:
            return self
        cls = type(self)
        data: dict[str, Any] = self.model_dump(mode="json")
        for item in overrides:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ConfigError(
                    f"--set {item!r}: expected KEY=VALUE, e.g. --set optimizer.peak_lr=1e-4"
                )
            where = f"--set {key}"
            if key in cls.renamed_fields:
                raise ConfigError(_renamed_message(key, cls.renamed_fields[key], where))
            path = key.split(".")
            _assign(data, path, _parse_value(raw, _annotation_at(cls, path)), cls, where)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"--set: {describe_errors(cls, exc)}") from exc

    def to_yaml(self) -> str:
        """This config as YAML that :meth:`from_yaml` reads back to an equal config."""
        import yaml

        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    # ---- internals -----------------------------------------------------------------------

    @classmethod
    def _check_renamed(cls, fields: Mapping[str, Any], where: str) -> None:
        for old, new in cls.renamed_fields.items():
            if _has_path(fields, old.split(".")):
                raise ConfigError(_renamed_message(old, new, where))


def _renamed_message(old: str, new: str, where: str) -> str:
    return f"{where}: '{old}' was renamed to '{new}'; use '{new}' instead"


def _did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, [str(o) for o in options], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _has_path(data: Any, path: list[str]) -> bool:
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    return True


# ---- walking a model's annotations (for did-you-mean and override values) -----------------


def _unwrap(annotation: Any) -> list[Any]:
    """The members of an annotation: ``X | None`` -> [X, NoneType]; ``Annotated[X, ...]`` -> [X]."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [m for arg in get_args(annotation) for m in _unwrap(arg)]
    return [annotation]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for member in _unwrap(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _descend(annotation: Any, part: str | int) -> Any:
    """The annotation of ``part`` inside a value of ``annotation`` (None when unknown)."""
    model = _model_of(annotation)
    if model is not None and isinstance(part, str):
        field = model.model_fields.get(part)
        return None if field is None else field.annotation
    for member in _unwrap(annotation):
        origin, args = get_origin(member), get_args(member)
        if origin in (tuple, list, Sequence) and args:
            return args[0]
        if origin in (dict, Mapping) and len(args) == 2:
            return args[1]
    return None


def _annotation_at(cls: type[BaseModel], path: Sequence[str | int]) -> Any:
    annotation: Any = cls
    for part in path:
        if annotation is None:
            return None
        annotation = _descend(annotation, int(part) if str(part).isdigit() else part)
    return annotation


def _takes_text(annotation: Any) -> bool:
    """Whether a field of this annotation holds text (so an override value is kept as written)."""
    for member in _unwrap(annotation):
        if member is str or (isinstance(member, type) and issubclass(member, PurePath)):
            return True
        if isinstance(member, type) and issubclass(member, enum.Enum) and issubclass(member, str):
            return True
        if get_origin(member) is Literal and any(isinstance(a, str) for a in get_args(member)):
            return True
    return False


def _parse_value(raw: str, annotation: Any) -> Any:
    text = raw.strip()
    if text in ("null", "~") and type(None) in _unwrap(annotation):
        return None
    if annotation is not None and _takes_text(annotation):
        return raw
    import yaml

    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return raw
    # YAML 1.1 reads 1e-4 (no dot) as a string; a number is meant.
    if isinstance(value, str) and _NUMBER.fullmatch(text):
        return float(text)
    return value


def _assign(
    data: dict[str, Any], path: list[str], value: Any, cls: type[BaseModel], where: str
) -> None:
    node: Any = data
    annotation: Any = cls
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        done = ".".join(path[:depth])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"{where}: '{done}' is a list of {len(node)} item(s); index it with "
                    f"0..{len(node) - 1}"
                )
            index: str | int = int(part)
        elif isinstance(node, dict):
            model = _model_of(annotation)
            if model is not None and part not in model.model_fields:
                raise ConfigError(_unknown_field_message(".".join(path[: depth + 1]), model, where))
            index = part
        else:
            raise ConfigError(f"{where}: '{done}' is a single value, it has no field '{part}'")
        annotation = _descend(annotation, index)
        if last:
            node[index] = value
        else:
            child = node[index] if isinstance(node, list) else node.get(index)  # type: ignore[index]
            if child is None:  # an unset optional sub-config: start it empty
                child = {}
                node[index] = child
            node = child


def _unknown_field_message(dotted: str, model: type[BaseModel], where: str) -> str:
    *parent, name = dotted.split(".")
    prefix = ".".join(parent)
    hint = _did_you_mean(name, model.model_fields)
    if hint:
        suggestion = f"{prefix}.{hint.split(chr(39))[1]}" if prefix else hint.split(chr(39))[1]
        hint = f" (did you mean '{suggestion}'?)"
    known = ", ".join(model.model_fields)
    return f"{where}: unknown field '{dotted}'{hint}; {model.__name__} has: {known}"


def validate_section(model: type[M], data: Mapping[str, Any], origin: str) -> M:
    """``data`` validated as ``model`` (any pydantic model: a recipe's ``resources.pretrain``,
    say), with the one-line :class:`ConfigError` of :meth:`StageConfig.from_mapping`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: expected a mapping of {model.__name__} fields")
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {describe_errors(model, exc)}") from exc


def describe_errors(cls: type[BaseModel], exc: ValidationError) -> str:
    """One line for a pydantic error: each bad field's dotted path and what is wrong with it
    (unknown fields with a did-you-mean), the first few only."""
    parts: list[str] = []
    seen: set[str] = set()
    for err in exc.errors():
        loc = [p for p in err["loc"] if isinstance(p, int) or not _is_union_tag(p)]
        dotted = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            parent = _annotation_at(cls, loc[:-1])
            model = _model_of(parent) if loc[:-1] else cls
            name = str(loc[-1]) if loc else "?"
            hint = _did_you_mean(name, model.model_fields) if model is not None else ""
            text = f"unknown field '{dotted}'{hint}"
        else:
            msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
            got = err.get("input")
            shown = (
                f" (got {got!r})"
                if isinstance(got, str | int | float | bool) and err["type"] != "value_error"
                else ""
            )
            text = f"{dotted}: {msg}{shown}" if dotted else msg
        if text not in seen:
            seen.add(text)
            parts.append(text)
    more = len(parts) - _MAX_ERRORS
    shown_parts = parts[:_MAX_ERRORS] + ([f"and {more} more"] if more > 0 else [])
    return "; ".join(shown_parts)


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the union member tried into ``loc`` (``int``, ``function-after[...]``).
    return isinstance(part, str) and (
        part in {"int", "float", "str", "bool", "none", "dict", "list", "tuple"}
        or "[" in part
        or part.startswith(("function-", "lax-", "json-"))
    )


__all__ = [
    "SET_HELP",
    "ConfigError",
    "StageConfig",
    "deep_merge",
    "describe_errors",
    "validate_section",
]
