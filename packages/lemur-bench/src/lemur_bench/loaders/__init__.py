"""Dataset loaders by name, and :func:`load_tasks` that resolves a spec's source.

``load_tasks(spec, tasks_dir)`` reads ``tasks_dir / spec.source.local_path`` when that file
exists, otherwise the Hugging Face dataset ``spec.source.hf_name``; it returns the tasks and the
sha256 of the data they came from (the file's bytes, or the canonical JSON of the HF rows), and
refuses a local file whose sha256 differs from the one the spec pins.

A source with a ``local_dir`` (ALFWorld's games, published as a directory of game files) is
read first by its directory loader (:data:`DIR_LOADERS`) when ``tasks_dir / local_dir`` exists;
that loader says when the directory holds the file format instead (ALFWorld's stand-in
``tasks.json``), and the file path above is taken.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lemur_core import canonical_sha256, file_sha256

from lemur_bench.loaders.agent import (
    load_env_tasks,
    load_intercode_bash,
    load_intercode_ctf,
    load_intercode_sql,
    load_mint,
    load_robocodegen,
    load_webarena,
)
from lemur_bench.loaders.alfworld import load_alfworld_dir
from lemur_bench.loaders.base import BenchTask, LoaderError, RowLoader, read_hf, read_rows
from lemur_bench.loaders.static import (
    load_bbh,
    load_ds1000,
    load_gsm8k,
    load_humaneval,
    load_mbpp,
    load_mmlu,
    load_multipl_e,
    load_spider,
)

if TYPE_CHECKING:  # the registry holds scorer and env objects that import the loaders
    from lemur_bench.registry import TaskSpec

LOADERS: dict[str, RowLoader] = {
    "mmlu": load_mmlu,
    "bbh": load_bbh,
    "gsm8k": load_gsm8k,
    "humaneval": load_humaneval,
    "mbpp": load_mbpp,
    "spider": load_spider,
    "multipl_e": load_multipl_e,
    "ds1000": load_ds1000,
    "mint": load_mint,
    "intercode_sql": load_intercode_sql,
    "intercode_bash": load_intercode_bash,
    "intercode_ctf": load_intercode_ctf,
    "webarena": load_webarena,
    "robocodegen": load_robocodegen,
    "alfworld": load_env_tasks,
}

# A directory in its publisher's layout -> (tasks, sha256), or None: "read the file instead".
DirLoader = Callable[[Path], "tuple[list[BenchTask], str] | None"]
DIR_LOADERS: dict[str, DirLoader] = {"alfworld": load_alfworld_dir}


def data_dir(spec: TaskSpec, tasks_dir: Path | None) -> Path | None:
    """The directory a spec's directory loader reads, when the spec has one and it exists."""
    if tasks_dir is None or spec.source.local_dir is None:
        return None
    path = tasks_dir / spec.source.local_dir
    return path if path.is_dir() else None


def data_path(spec: TaskSpec, tasks_dir: Path | None) -> Path | None:
    """The local file a spec reads from ``tasks_dir``, or ``None`` when it must use the Hub."""
    if tasks_dir is None or spec.source.local_path is None:
        return None
    path = tasks_dir / spec.source.local_path
    return path if path.exists() else None


def load_tasks(spec: TaskSpec, tasks_dir: Path | None = None) -> tuple[list[BenchTask], str]:
    """Load a spec's tasks and the sha256 of their data (see the module docstring)."""
    loader = LOADERS.get(spec.loader)
    if loader is None:
        raise LoaderError(f"task '{spec.name}': unknown loader '{spec.loader}'")
    folder = data_dir(spec, tasks_dir)
    if folder is not None and spec.loader in DIR_LOADERS:
        found = DIR_LOADERS[spec.loader](folder)
        if found is not None:
            return found
    path = data_path(spec, tasks_dir)
    if path is not None:
        digest = file_sha256(path)
        if spec.source.sha256 is not None and digest != spec.source.sha256:
            raise LoaderError(
                f"task '{spec.name}': {path} has sha256 {digest}, but the spec pins "
                f"{spec.source.sha256}; use the pinned data or register a new task version"
            )
        return loader(read_rows(path)), digest
    if spec.source.hf_name is None:
        where = f"{tasks_dir}/{spec.source.local_path}" if tasks_dir else spec.source.local_path
        missing = f"reads {where}, which does not exist"
        if spec.source.local_dir is not None:
            folder_name = (
                f"{tasks_dir}/{spec.source.local_dir}/"
                if tasks_dir
                else f"{spec.source.local_dir}/"
            )
            missing = f"reads {folder_name} (the upstream layout) or {where}; neither exists"
        raise LoaderError(
            f"task '{spec.name}' {missing}: pass --tasks-dir pointing "
            f"at the upstream data ({spec.source.url or 'see docs/bench.md'}) or at fixtures "
            "written by `lemur-bench fixtures`"
        )
    rows = read_hf(spec.source.hf_name, spec.source.hf_config, spec.source.hf_split)
    return loader(rows), canonical_sha256(rows)


__all__ = [
    "DIR_LOADERS",
    "LOADERS",
    "BenchTask",
    "LoaderError",
    "data_dir",
    "data_path",
    "load_tasks",
]
