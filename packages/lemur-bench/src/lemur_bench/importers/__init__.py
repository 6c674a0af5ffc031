"""Importers: other harnesses' recorded runs as lemur-bench eval runs.

``import_mint(results_files, out_dir)`` reads MINT's ``results.jsonl`` files
(:mod:`lemur_bench.importers.mint`) of one model into ``out_dir/episodes.jsonl`` and
``summary.json``; :mod:`lemur_bench.rescore` re-judges them in a scoring mode and the report
shows our success rate beside MINT's recorded one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lemur_core import EpisodeRecord

from lemur_bench.importers.mint import (
    MINT_TASKS,
    MintImportError,
    MintRunInfo,
    mint_record,
    read_mint_results,
    run_info_from_path,
)


def import_mint(
    results_files: Sequence[Path],
    out_dir: Path,
    *,
    model: str | None = None,
    task: str | None = None,
    fenced_code: bool = False,
) -> dict[str, Any]:
    """Import MINT results files of one model into the run directory ``out_dir``; the summary.

    ``fenced_code``: the files come from the harness that ran Markdown ```python blocks as
    code (MINT's Eurus and OpenCodeInterpreter runs): their replies are parsed that way, now
    and when rescored.

    The records keep MINT's verdicts (``success`` and ``info["mint"]``); run
    :func:`lemur_bench.rescore.rescore_dir` to judge them with our scorers.
    """
    from lemur_bench.rescore import write_run

    if not results_files:
        raise MintImportError("pass at least one MINT results.jsonl")
    records: list[EpisodeRecord] = []
    models: set[str] = set()
    for path in results_files:
        run = run_info_from_path(Path(path), model=model, task=task, fenced_code=fenced_code)
        models.add(run.model)
        records.extend(read_mint_results(Path(path), run))
    if len(models) > 1:
        raise MintImportError(
            f"these files hold runs of several models ({', '.join(sorted(models))}): import "
            "each model into its own --out (or name one with --model)"
        )
    ids = [r.episode_id for r in records]
    if len(set(ids)) != len(ids):
        raise MintImportError(
            "two files hold the same MINT task (e.g. two turn budgets of one task): import "
            "each budget into its own --out"
        )
    return write_run(
        Path(out_dir),
        records,
        extra={"model": models.pop(), "source": "mint-import", "scoring_mode": "mint-recorded"},
    )


__all__ = [
    "MINT_TASKS",
    "MintImportError",
    "MintRunInfo",
    "import_mint",
    "mint_record",
    "read_mint_results",
    "run_info_from_path",
]
