"""Orbax checkpoints of the whole train state plus the data position, with exact resume.

A checkpoint holds params, optimizer state, step and RNG (one sharded pytree) and the data
position as JSON. Orbax writes into a temporary directory and renames it when complete, so a
process killed mid-save leaves the previous checkpoint as the latest one. Retention: the last
``keep_last`` plus every step that is a multiple of ``permanent_every``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from lemur_train.config import CheckpointConfig
from lemur_train.train_state import TrainState


class CheckpointError(RuntimeError):
    """A checkpoint cannot be restored into this run (corrupt, or from another config)."""


class Checkpointer:
    """Saves and restores :class:`TrainState` + data position under ``directory``."""

    def __init__(self, directory: str | os.PathLike[str], config: CheckpointConfig) -> None:
        """Open (creating) the checkpoint directory with the retention policy of ``config``."""
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            save_interval_steps=config.every_steps,
            max_to_keep=config.keep_last,
            keep_period=config.permanent_every,
            create=True,
            enable_async_checkpointing=True,
        )
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("state", "data")
        )

    def latest_step(self) -> int | None:
        """Step of the newest complete checkpoint, or None."""
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """Steps of every complete checkpoint kept on disk."""
        return sorted(self._manager.all_steps())

    def save(
        self, step: int, state: TrainState, data_position: dict[str, int], *, force: bool = False
    ) -> bool:
        """Save when the interval says so (or ``force``); returns whether a save started.

        Saving is asynchronous: training continues while the bytes are written.
        """
        return bool(
            self._manager.save(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(state),  # type: ignore[call-arg]
                    data=ocp.args.JsonSave(data_position),  # type: ignore[call-arg]
                ),
                force=force,
            )
        )

    def restore(
        self, step: int, abstract_state: TrainState, shardings: TrainState
    ) -> tuple[TrainState, dict[str, Any]]:
        """The state and data position saved at ``step``, placed with ``shardings``."""
        target = jax.tree.map(
            lambda leaf, sharding: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding),
            abstract_state,
            shardings,
        )
        try:
            restored = self._manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(target),  # type: ignore[call-arg]
                    data=ocp.args.JsonRestore(),
                ),
            )
        except Exception as exc:  # orbax/tensorstore raise many kinds for damaged files
            reason = " ".join(str(exc).split())[:300]
            raise CheckpointError(
                f"cannot restore checkpoint step {step} from {self.directory}: {reason}; "
                "it is corrupt or was written by another model/optimizer config: use a new "
                "output directory or start over with --force (force=True in train())"
            ) from exc
        return restored.state, dict(restored.data)

    def delete(self, step: int) -> None:
        """Remove the checkpoint of ``step`` (one that cannot be restored)."""
        self._manager.delete(step)

    def wait(self) -> None:
        """Block until pending asynchronous saves are on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Finish pending saves and release the manager."""
        self._manager.close()
