"""Per-task loguru handlers do not recompute loguru's library directories (issue 17's profile:
``sysconfig.get_path`` for every scheme, every task, ~4% of a build's CPU)."""

from __future__ import annotations

import sysconfig

import pytest
from lemur_data.corpus.cluster import _cache_loguru_lib_dirs


def test_loguru_lib_dirs_are_computed_once_and_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    from loguru._better_exceptions import ExceptionFormatter

    original = ExceptionFormatter.__dict__["_get_lib_dirs"]
    expected = original.__func__()
    monkeypatch.setattr(ExceptionFormatter, "_get_lib_dirs", original)  # restored afterwards
    _cache_loguru_lib_dirs()
    calls = 0
    real = sysconfig.get_path

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sysconfig, "get_path", counting)
    formatters = [ExceptionFormatter() for _ in range(5)]
    assert all(f._lib_dirs == expected for f in formatters)
    assert calls <= len(sysconfig.get_scheme_names()) * 4  # one computation, not five
    _cache_loguru_lib_dirs()  # idempotent: still the one cached function
    assert ExceptionFormatter._get_lib_dirs() == expected
