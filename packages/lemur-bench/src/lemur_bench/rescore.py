"""Re-judge recorded episodes in a scoring mode, without calling a model.

``rescore_record(record, mode)`` replays the recorded replies through MINT's accounting in
``mode``: each reply is parsed (``MintTagMapper(mode)``), a proposed solution is judged by the
task's scorer in ``mode``, and the episode ends where MINT's rules end it (a correct solution,
the proposal budget, the step budget). The replies after that point are kept but not judged.
The new record carries ``info["scoring_mode"]`` and the per-turn verdicts; the verdict recorded
at import (MINT's own) stays in ``info["mint"]``.

``rescore_dir(run_dir, mode)`` does it for every record of an eval run directory and rewrites
``episodes.jsonl`` and ``summary.json`` atomically, so a report shows our SR in that mode
beside MINT's recorded SR.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lemur_agents.actions import MintParseError, MintTagMapper
from lemur_core import EpisodeRecord, TerminationReason, atomic_write_text

from lemur_bench.loaders.base import BenchTask
from lemur_bench.scorers import ScoringMode, TaskScorer, check_mode

EPISODES = "episodes.jsonl"
SUMMARY = "summary.json"


class RescoreError(ValueError):
    """A run directory or record that cannot be re-judged (the message says why)."""


def scorer_for(benchmark: str) -> TaskScorer:
    """The scorer object of a MINT task of the registry (``mint-gsm8k``, ``mint-mbpp-nl`` ...)."""
    from lemur_bench.registry import get_task

    spec = get_task(benchmark)
    if spec.scorer is None:
        raise RescoreError(
            f"task '{benchmark}' is scored by its environment; it cannot be rescored"
        )
    return spec.scorer


def _task_of(record: EpisodeRecord) -> BenchTask:
    task = record.info.get("task")
    if not isinstance(task, dict):
        raise RescoreError(
            f"{record.episode_id}: the record keeps no task (prompt, reference); only imported "
            "MINT records (`lemur-bench import mint`) can be rescored"
        )
    return BenchTask(
        task_id=record.task_id,
        prompt=str(task.get("prompt", "")),
        reference=task.get("reference"),
        metadata=dict(task.get("metadata") or {}),
    )


def judge_turns(
    record: EpisodeRecord, mode: ScoringMode, scorer: TaskScorer | None = None
) -> list[dict[str, Any]]:
    """Per reply, until MINT's accounting ends the episode: how ``mode`` parses it and, for a
    proposal, the verdict (``{"index", "kind", "valid", "correct"?}``)."""
    scorer = (scorer or scorer_for(record.benchmark)).with_mode(mode)
    task = _task_of(record)
    reference = scorer.reference_of(task)
    mapper = MintTagMapper(mode, fenced_code=bool(record.info.get("fenced_code")))
    max_steps = record.max_turns
    max_propose = int(record.info.get("max_propose", 2))
    propose = used = invalid = 0
    out: list[dict[str, Any]] = []
    for turn in record.turns:
        entry: dict[str, Any] = {"index": turn.index}
        try:
            action = mapper.parse(turn.raw_output)
        except MintParseError as exc:
            entry.update(kind=exc.kind, valid=False)
            if exc.kind == "solution":
                propose += 1
            else:
                invalid += 1
        else:
            entry.update(kind=action.kind, valid=True)
            if action.kind == "solution":
                propose += 1
                entry["correct"] = scorer.score(action.content, reference).correct
            else:
                used += 1
        out.append(entry)
        if entry.get("correct") or propose >= max_propose or propose + used + invalid >= max_steps:
            break
    return out


def rescore_record(
    record: EpisodeRecord, mode: ScoringMode, scorer: TaskScorer | None = None
) -> EpisodeRecord:
    """``record`` re-judged in ``mode`` (see the module docstring)."""
    judged = judge_turns(record, check_mode(mode), scorer)
    success = any(j.get("correct") for j in judged)
    if success:
        termination = TerminationReason.SOLVED
    elif judged and sum(1 for j in judged if j["kind"] == "solution") >= int(
        record.info.get("max_propose", 2)
    ):
        termination = TerminationReason.SUBMITTED
    else:
        termination = TerminationReason.MAX_TURNS
    info = {**record.info, "scoring_mode": mode, "verdicts": judged}
    return record.model_copy(
        update={
            "success": success,
            "score": float(success),
            "termination": termination,
            "info": info,
        }
    )


def read_records(path: Path) -> list[EpisodeRecord]:
    """The records of an ``episodes.jsonl``; a broken line is an error naming it."""
    if not path.is_file():
        raise RescoreError(f"{path} does not exist: pass a run directory holding {EPISODES}")
    records = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(EpisodeRecord.model_validate_json(line))
        except ValueError as exc:
            raise RescoreError(f"{path}:{lineno}: not an episode record ({exc})") from None
    return records


def write_run(
    run_dir: Path, records: Iterable[EpisodeRecord], *, extra: dict[str, Any]
) -> dict[str, Any]:
    """Write ``episodes.jsonl`` and ``summary.json`` of ``records`` atomically; the summary."""
    from lemur_bench.summary import summarize

    records = list(records)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / EPISODES, "".join(r.model_dump_json() + "\n" for r in records))
    summary = summarize(records, skipped={}, data_sha256={}, config=extra)
    summary.update(extra)
    summary["mint_recorded"] = mint_recorded_rates(records)
    atomic_write_text(run_dir / SUMMARY, json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


def mint_recorded_rates(records: Iterable[EpisodeRecord]) -> dict[str, float]:
    """Per task, the success rate MINT itself recorded (imported records only)."""
    hits: dict[str, list[bool]] = {}
    for r in records:
        mint = r.info.get("mint")
        if isinstance(mint, dict) and "success" in mint:
            hits.setdefault(r.benchmark, []).append(bool(mint["success"]))
    return {name: sum(v) / len(v) for name, v in sorted(hits.items())}


def rescore_dir(run_dir: Path, mode: ScoringMode, *, workers: int = 4) -> dict[str, Any]:
    """Re-judge every record of ``run_dir`` in ``mode`` and rewrite the run; the summary."""
    run_dir = Path(run_dir)
    mode = check_mode(mode)
    records = read_records(run_dir / EPISODES)
    # Code checks run in sandboxed subprocesses, so threads overlap them.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        rescored = list(pool.map(lambda r: rescore_record(r, mode), records))
    old = {}
    if (run_dir / SUMMARY).exists():
        old = json.loads((run_dir / SUMMARY).read_text(encoding="utf-8"))
    extra = {k: old[k] for k in ("model", "source") if k in old}
    extra["scoring_mode"] = mode
    return write_run(run_dir, rescored, extra=extra)
