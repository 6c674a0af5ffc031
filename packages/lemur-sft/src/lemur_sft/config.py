"""The SFT run configuration: a frozen pydantic model, validated up front, loadable from YAML.

It speaks the one config dialect of :class:`lemur_core.config.StageConfig` (a preset, YAML that
deep-merges onto it, ``--set a.b=v`` on the CLI) and uses lemur-train's names for the concepts
both share: ``optimizer.peak_lr`` (and the rest of ``optimizer``), ``seq_len``, ``max_steps``,
``global_batch_size``, ``grad_accum_steps``, ``log_every_steps``, ``checkpoint.every_steps``,
``checkpoint.keep_last``, ``compute_dtype``. Two presets ship: ``tiny`` (CPU, a couple of
minutes) and ``lemur-chat`` (the paper's instruction tuning of Lemur-70B: 2 epochs, Adam lr
2e-5, global batch 128, the Table 1 mixture).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Literal

from lemur_core.config import StageConfig
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The paper's Table 1 instruction mixture (Lemur-Chat), by lemur-data's source names: fixed counts
# where the paper gives one per source; ShareGPT and Chatlogs are taken whole (1.0) because the
# paper reports only their combined count after its English filter and dedup (81,319).
LEMUR_CHAT_MIXTURE: dict[str, int | float] = {
    "oasst1": 34_546,
    "openorca-gpt4": 200_000,
    "sharegpt": 1.0,
    "chatlogs": 1.0,
    "evol-codealpaca": 51_952,
}
# Examples per epoch of the paper's mixture (Table 1 total), for estimates before data exists.
LEMUR_CHAT_EXAMPLES = 34_546 + 200_000 + 81_319 + 51_952

ZeroStage = Literal[0, 1, 2, 3]


class DeepSpeedSettings(BaseModel):
    """Which shipped DeepSpeed ZeRO config to use (or a path to one's own JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    config: Literal["zero2", "zero3", "zero3_offload"] | Path = Field(
        default="zero2",
        description="a shipped config name (zero2, zero3, zero3_offload) or a path to a DeepSpeed JSON",
    )


class SFTOptimizerConfig(BaseModel):
    """AdamW with a warm-up over ``warmup_ratio`` of the run, then cosine / linear decay to
    ``min_lr_ratio`` x peak (or constant). Names as in lemur-train's ``optimizer``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    peak_lr: float = Field(default=2e-5, gt=0.0)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_ratio: float = Field(default=0.03, ge=0.0, lt=1.0)
    min_lr_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    beta1: float = Field(default=0.9, ge=0.0, lt=1.0)
    beta2: float = Field(default=0.999, ge=0.0, lt=1.0)
    eps: float = Field(default=1e-8, gt=0.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    grad_clip_norm: float | None = Field(default=1.0, gt=0.0, description="None: no clipping")


class SFTCheckpointConfig(BaseModel):
    """Step checkpoints: every ``every_steps``, the last ``keep_last`` kept (as in lemur-train)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    every_steps: int = Field(default=50, ge=1)
    keep_last: int = Field(default=2, ge=1)


# Old SFT names (and lemur-train's old ones) -> the shared names; an old name is an error saying so.
RENAMED_FIELDS: Mapping[str, str] = {
    "learning_rate": "optimizer.peak_lr",
    "lr_schedule": "optimizer.schedule",
    "warmup_ratio": "optimizer.warmup_ratio",
    "min_lr_ratio": "optimizer.min_lr_ratio",
    "adam_beta1": "optimizer.beta1",
    "adam_beta2": "optimizer.beta2",
    "adam_eps": "optimizer.eps",
    "weight_decay": "optimizer.weight_decay",
    "max_grad_norm": "optimizer.grad_clip_norm",
    "max_seq_len": "seq_len",
    "save_every_steps": "checkpoint.every_steps",
    "keep_checkpoints": "checkpoint.keep_last",
    "dtype": "compute_dtype",
    "steps": "max_steps",
    "microbatches": "grad_accum_steps",
    "global_batch_rows": "global_batch_size",
    "log_every": "log_every_steps",
}


class SFTConfig(StageConfig):
    """Everything that decides an SFT run's result (hashed into the model artifact's manifest).

    ``micro_batch_size`` counts *examples* per process per forward pass; they are packed into
    one padding-free row. The global batch (examples per optimizer step) must equal
    ``micro_batch_size * grad_accum_steps * world_size``; :func:`lemur_sft.launch_check.check_global_batch`
    enforces it when the run starts, once the world size is known.
    """

    config_label: ClassVar[str] = "SFT config"
    renamed_fields: ClassVar[Mapping[str, str]] = RENAMED_FIELDS

    name: str = Field(default="custom", min_length=1)
    epochs: int = Field(default=2, ge=1)
    max_steps: int | None = Field(
        default=None, ge=1, description="stop after this many optimizer steps (None: all epochs)"
    )
    global_batch_size: int = Field(
        default=128, ge=1, description="examples per optimizer step across all processes"
    )
    micro_batch_size: int = Field(default=4, ge=1)
    grad_accum_steps: int = Field(default=32, ge=1)
    seq_len: int = Field(default=4096, ge=8, description="longest packed row, in tokens")
    optimizer: SFTOptimizerConfig = SFTOptimizerConfig()
    seed: int = 0
    mixture: dict[str, int | float] | None = Field(
        default=None,
        description="per source: an int = number of examples, a float = fraction of that source; None = all",
    )
    compute_dtype: Literal["float32", "bfloat16"] = "float32"
    gradient_checkpointing: bool = Field(
        default=False, description="recompute activations in the backward pass (memory for time)"
    )
    deepspeed: DeepSpeedSettings | None = None
    checkpoint: SFTCheckpointConfig = SFTCheckpointConfig()
    log_every_steps: int = Field(default=1, ge=1)
    eval_examples: int = Field(
        default=0,
        ge=0,
        description="examples held out of training for the held-out loss (at most a tenth of the set; 0 = none)",
    )
    eval_every_steps: int = Field(
        default=0,
        ge=0,
        description="held-out loss every N steps and after the last; 0 = after the last only",
    )
    torch_threads: int | None = Field(
        default=None, ge=1, description="torch intra-op threads (None: torch's default)"
    )

    @field_validator("mixture")
    @classmethod
    def _check_mixture(cls, value: dict[str, int | float] | None) -> dict[str, int | float] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("mixture is empty: give at least one source or leave it unset (all)")
        for source, amount in value.items():
            if isinstance(amount, bool) or amount <= 0:
                raise ValueError(
                    f"mixture['{source}'] = {amount!r}: use a positive int (count) or float (fraction)"
                )
        return value

    @model_validator(mode="after")
    def _check_batch(self) -> SFTConfig:
        per_rank = self.micro_batch_size * self.grad_accum_steps
        if self.global_batch_size % per_rank:
            raise ValueError(
                f"global_batch_size {self.global_batch_size} is not a multiple of micro_batch_size "
                f"({self.micro_batch_size}) x grad_accum_steps ({self.grad_accum_steps}) = {per_rank}: "
                "change grad_accum_steps or micro_batch_size"
            )
        return self

    def implied_world_size(self) -> int:
        """The number of processes this config's batch arithmetic expects."""
        return self.global_batch_size // (self.micro_batch_size * self.grad_accum_steps)


@SFTConfig.register_preset("tiny")
def tiny_preset() -> SFTConfig:
    """A CPU preset for the demo: ~2 minutes on 2 busy cores for a 4-layer d~128-256 model
    and ~1-2k short examples (one epoch capped by ``max_steps``)."""
    return SFTConfig(
        name="tiny",
        epochs=1,
        max_steps=40,
        global_batch_size=16,
        micro_batch_size=4,
        grad_accum_steps=4,
        seq_len=512,
        optimizer=SFTOptimizerConfig(
            peak_lr=1e-3, warmup_ratio=0.1, min_lr_ratio=0.1, weight_decay=0.0
        ),
        checkpoint=SFTCheckpointConfig(every_steps=20),
        # 24 examples never trained on, scored every 10 steps (~1 s each on the tiny model).
        eval_examples=24,
        eval_every_steps=10,
        log_every_steps=5,
        # One thread: on a small shared CPU, torch's intra-op threads mostly spin-wait.
        torch_threads=1,
    )


@SFTConfig.register_preset("lemur-chat")
def lemur_chat_preset() -> SFTConfig:
    """The paper's Lemur-Chat preset (A.2.2): 2 epochs, Adam lr 2e-5, batch 128, Table 1 mixture,
    bf16 under DeepSpeed ZeRO-3, 2 examples x 2 accumulation x 32 GPUs (4 nodes of 8 x 80 GB:
    ZeRO-3 puts ~32 GiB of a 70B model's state on each). On another world size change
    ``grad_accum_steps``; the launch check says to what."""
    return SFTConfig(
        name="lemur-chat",
        epochs=2,
        global_batch_size=128,
        micro_batch_size=2,
        grad_accum_steps=2,
        seq_len=4096,
        optimizer=SFTOptimizerConfig(peak_lr=2e-5, schedule="cosine", warmup_ratio=0.03),
        mixture=dict(LEMUR_CHAT_MIXTURE),
        compute_dtype="bfloat16",
        gradient_checkpointing=True,
        deepspeed=DeepSpeedSettings(config="zero3"),
        checkpoint=SFTCheckpointConfig(every_steps=200),
    )
