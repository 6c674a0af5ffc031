"""Canonical JSON and its sha256: the same value gives the same hash on every run and machine."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel


def _normalize(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return _normalize(obj.model_dump(mode="json"))
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"canonical JSON needs string keys, got {key!r} ({type(key).__name__})"
                )
            out[key] = _normalize(value)
        return out
    if isinstance(obj, list | tuple):
        return [_normalize(v) for v in obj]
    if isinstance(obj, PurePath):
        return obj.as_posix()
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"canonical JSON cannot hold the non-finite float {obj!r}")
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"canonical JSON cannot hold a {type(obj).__name__}: {obj!r}")


# Sorted keys, no spaces, UTF-8: the one spelling of canonical JSON.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(obj: Any) -> str:
    """Serialize ``obj`` as canonical JSON: sorted keys, no spaces, UTF-8, tuples as lists.

    Pydantic models are dumped in JSON mode first; paths become POSIX strings. Non-finite
    floats and non-string keys are refused because they have no single JSON spelling.
    """
    return _ENCODER.encode(_normalize(obj))


def canonical_json_of_plain(obj: Any) -> str:
    """:func:`canonical_json` of a value that is plain JSON data already (what a pydantic
    ``model_dump(mode="json")`` gives: string keys, lists, finite numbers), without the walk
    that normalizes and checks every value — for hot paths. A non-string key would be written
    as a string instead of refused, so the caller vouches for the keys."""
    return _ENCODER.encode(obj)


def canonical_sha256(obj: Any) -> str:
    """Hex sha256 of :func:`canonical_json` of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()
