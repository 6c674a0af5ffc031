"""What happens after each optimizer step, as hooks: metrics, progress, checkpoints, your own.

The trainer calls every hook's ``on_step`` with a :class:`StepInfo` after each optimizer step, in
this order: :class:`MetricsWriter`, :class:`ProgressHook`, the hooks passed to
:func:`lemur_sft.finetune` (``hooks=``), then :class:`CheckpointHook`. A hook of yours thus sees
the step's metrics already logged and runs before that step's checkpoint is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from lemur_core import atomic_write_text
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from lemur_sft.checkpointing import save_checkpoint

if TYPE_CHECKING:
    from accelerate import Accelerator


@dataclass(frozen=True)
class StepInfo:
    """The state after optimizer step ``step`` (1-based) of ``total_steps``.

    ``metrics`` is the step's record as written to ``metrics.jsonl`` (loss, loss_by_source, lr,
    grad_norm, target_tokens, tokens, tokens_per_s, step_s, epoch).
    """

    step: int
    total_steps: int
    epoch: int
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def is_last(self) -> bool:
        """True after the run's final step."""
        return self.step == self.total_steps


class TrainHook(Protocol):
    """Called after every optimizer step (on every rank: a hook decides what rank 0 alone does)."""

    def on_step(self, info: StepInfo) -> None:
        """React to the step just taken."""
        ...


class MetricsWriter:
    """Appends one JSON line per logged step (every ``every`` steps and the last) on rank 0."""

    def __init__(self, path: Path, *, every: int, main_process: bool) -> None:
        self.path = path
        self.every = every
        self.main_process = main_process

    def on_step(self, info: StepInfo) -> None:
        if self.main_process and (info.step % self.every == 0 or info.is_last):
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(info.metrics) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop lines logged after ``step``: a resumed run replays those steps."""
        if not self.main_process or not self.path.exists():
            return
        keep = [
            line
            for line in self.path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line)["step"] <= step
        ]
        atomic_write_text(self.path, "".join(line + "\n" for line in keep))


class CheckpointHook:
    """Saves the full training state every ``every`` steps (collective: runs on every rank).

    The final step is not checkpointed: the exported model is the run's result.
    """

    def __init__(self, accelerator: Accelerator, out_dir: Path, *, every: int, keep: int) -> None:
        self.accelerator = accelerator
        self.out_dir = out_dir
        self.every = every
        self.keep = keep

    def on_step(self, info: StepInfo) -> None:
        if info.step % self.every == 0 and not info.is_last:
            save_checkpoint(
                self.accelerator, self.out_dir, info.step, {"epoch": info.epoch}, self.keep
            )


class ProgressHook:
    """A Rich progress bar with the latest loss, shown on rank 0 only; a context manager."""

    def __init__(self, *, total_steps: int, start_step: int, main_process: bool) -> None:
        self._progress = Progress(
            TextColumn("sft"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            disable=not main_process,
        )
        self._task = self._progress.add_task(
            "train", total=total_steps, completed=start_step, loss="-"
        )

    def __enter__(self) -> ProgressHook:
        self._progress.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def on_step(self, info: StepInfo) -> None:
        self._progress.update(
            self._task, completed=info.step, loss=f"{info.metrics.get('loss', float('nan')):.4f}"
        )
