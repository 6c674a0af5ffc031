"""One SFT run's identity (config + pinned inputs) and its claim on the output directory.

The run directory holds checkpoints, ``metrics.jsonl`` and the exported model ``hf/``; it is
claimed through :mod:`lemur_core.stage` as a whole (lock beside it, reuse of ``hf/``, resume of
the checkpoints, refusal of another config's checkpoints). In a multi-process launch rank 0
claims and the other ranks follow its decision.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lemur_core import ArtifactKind, InputRef, tree_sha256
from lemur_core.stage import Claim, StageError, claim

from lemur_sft.config import SFTConfig

MODEL_SCHEMA_VERSION = 1
HF_DIR = "hf"


@dataclass(frozen=True)
class SFTRun:
    """One fine-tuning run: what it trains, on what, and where (the run's identity is
    ``config_dict`` + ``inputs``)."""

    config: SFTConfig
    instruct_dir: Path
    base_model_dir: Path
    out_dir: Path
    config_dict: dict[str, Any]
    inputs: tuple[InputRef, ...]

    @classmethod
    def create(
        cls, config: SFTConfig, instruct_dir: Path, base_model_dir: Path, out_dir: Path
    ) -> SFTRun:
        instruct_dir, base_model_dir = Path(instruct_dir), Path(base_model_dir)
        inputs = (
            InputRef(
                path=str(instruct_dir),
                kind=ArtifactKind.INSTRUCT.value,
                sha256=tree_sha256(instruct_dir),
            ),
            InputRef(
                path=str(base_model_dir),
                kind=ArtifactKind.MODEL.value,
                sha256=tree_sha256(base_model_dir),
            ),
        )
        return cls(
            config,
            instruct_dir,
            base_model_dir,
            Path(out_dir).absolute(),
            config.model_dump(mode="json"),
            inputs,
        )


def claim_run(run: SFTRun, force: bool, verify: bool, *, primary: bool) -> Claim:
    """Claim ``run.out_dir`` (checkpoints, metrics) with its artifact ``hf/`` for this run."""
    return claim(
        run.out_dir / HF_DIR,
        ArtifactKind.MODEL.value,
        run.config_dict,
        run.inputs,
        force,
        schema_version=MODEL_SCHEMA_VERSION,
        name="sft",
        scratch=run.out_dir,
        verify=verify,
        stale_scratch="refuse",
        primary=primary,
    )


@contextlib.contextmanager
def claim_on_all_ranks(run: SFTRun, force: bool, verify: bool, accelerator: Any) -> Iterator[Claim]:
    """Rank 0 claims (locks, clears, resumes); the other ranks then read what it decided.

    A refusal on rank 0 (busy, stale, unwritable) is sent to every rank, so none waits forever.
    """
    from accelerate.utils import broadcast_object_list

    owner: Claim | None = None
    failure: list[str | None] = [None]
    if accelerator.is_main_process:
        try:
            owner = claim_run(run, force, verify, primary=True)
        except (StageError, ValueError, OSError) as exc:
            failure = [str(exc)]
            error: BaseException = exc
    broadcast_object_list(failure, from_process=0)
    if failure[0] is not None:
        if accelerator.is_main_process:
            raise error
        raise StageError(f"rank 0 could not claim {run.out_dir}: {failure[0]}")
    if owner is None:
        owner = claim_run(run, force, verify, primary=False)
    with owner:
        yield owner
