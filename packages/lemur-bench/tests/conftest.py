"""Shared fixtures of lemur-bench's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from lemur_bench import write_fixtures


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline fixture tasks and scripted agent, written once (tests only read them)."""
    return write_fixtures(tmp_path_factory.mktemp("fixtures"))
