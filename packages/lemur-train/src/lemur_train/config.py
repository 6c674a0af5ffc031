"""Frozen, validated configuration of a continued pre-training run, and its presets.

Every model maps one to one onto YAML (``TrainConfig.from_yaml``, the one dialect of
:class:`lemur_core.config.StageConfig`: a preset, deep-merged overrides, ``--set`` on the CLI);
invalid values and invalid combinations fail at construction with the field named, before any
device is touched. Field names shared with lemur-sft mean the same there (``max_steps``,
``global_batch_size``, ``grad_accum_steps``, ``seq_len``, ``optimizer.peak_lr``,
``log_every_steps``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar, Literal

from lemur_core.config import StageConfig
from pydantic import BaseModel, ConfigDict, Field, model_validator

RematPolicy = Literal["none", "dots", "full"]
ComputeDtype = Literal["float32", "bfloat16"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelConfig(_Frozen):
    """Llama-2 architecture hyper-parameters (names follow Transformers' ``LlamaConfig``)."""

    vocab_size: int | None = Field(
        default=None, ge=2, description="None: take it from the corpus tokenizer"
    )
    hidden_size: int = Field(ge=8)
    intermediate_size: int = Field(ge=8)
    num_hidden_layers: int = Field(ge=1)
    num_attention_heads: int = Field(ge=1)
    num_key_value_heads: int = Field(ge=1)
    head_dim: int | None = Field(default=None, ge=2)
    rms_norm_eps: float = Field(default=1e-5, gt=0)
    rope_theta: float = Field(default=10000.0, gt=0)
    max_position_embeddings: int = Field(default=4096, ge=2)
    tie_word_embeddings: bool = False
    initializer_range: float = Field(default=0.02, gt=0)
    cross_document_attention: bool = Field(
        default=False,
        description=(
            "True reproduces the original EasyLM run: plain causal attention over the whole packed "
            "row and positions 0..L-1; False (default) blocks attention across documents and "
            "restarts positions at each document"
        ),
    )

    @model_validator(mode="after")
    def _heads(self) -> ModelConfig:
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"num_attention_heads={self.num_attention_heads} must be a multiple of "
                f"num_key_value_heads={self.num_key_value_heads} (grouped-query attention)"
            )
        if self.head_dim is None and self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not divisible by num_attention_heads="
                f"{self.num_attention_heads}; set head_dim explicitly"
            )
        if self.resolved_head_dim % 2:
            raise ValueError(
                f"head_dim={self.resolved_head_dim} must be even for rotary embeddings"
            )
        return self

    @property
    def resolved_head_dim(self) -> int:
        """``head_dim`` if given, else ``hidden_size // num_attention_heads``."""
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def vocab(self) -> int:
        """The vocabulary size; an error if it was left to the corpus and not resolved yet."""
        if self.vocab_size is None:
            raise ValueError(
                "model.vocab_size is unset: resolve it from the corpus with "
                "ModelConfig.model_copy(update={'vocab_size': ...}) before building the model"
            )
        return self.vocab_size


class OptimizerConfig(_Frozen):
    """AdamW with linear warm-up then cosine decay to ``min_lr_ratio`` of the peak (paper A.1.2)."""

    peak_lr: float = Field(default=4e-5, gt=0)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.95, ge=0, lt=1)
    eps: float = Field(default=1e-8, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    grad_clip_norm: float = Field(default=1.0, gt=0)
    warmup_steps: int = Field(default=2000, ge=0)
    min_lr_ratio: float = Field(default=0.1, ge=0, le=1)


class MeshConfig(_Frozen):
    """Device mesh shape. ``-1`` on one axis means "all remaining devices"."""

    data: int = Field(default=-1)
    fsdp: int = Field(default=1)
    tensor: int = Field(default=1)

    @model_validator(mode="after")
    def _sizes(self) -> MeshConfig:
        sizes = (self.data, self.fsdp, self.tensor)
        if sum(1 for s in sizes if s == -1) > 1:
            raise ValueError("mesh: at most one of data/fsdp/tensor may be -1")
        for name, size in zip(("data", "fsdp", "tensor"), sizes, strict=True):
            if size == 0 or size < -1:
                raise ValueError(f"mesh.{name}={size}: use a positive size or -1 (the rest)")
        return self

    def resolve(self, num_devices: int) -> tuple[int, int, int]:
        """Concrete (data, fsdp, tensor) for ``num_devices``; an error naming the mismatch."""
        sizes = [self.data, self.fsdp, self.tensor]
        known = math.prod(s for s in sizes if s != -1)
        if -1 in sizes:
            if num_devices % known:
                raise ValueError(
                    f"mesh {self.spelled()} cannot fill {num_devices} devices: "
                    f"{num_devices} is not a multiple of {known}"
                )
            sizes[sizes.index(-1)] = num_devices // known
        elif known != num_devices:
            raise ValueError(
                f"mesh {self.spelled()} has {known} devices but {num_devices} are available; "
                "make the product match or set one axis to -1"
            )
        return sizes[0], sizes[1], sizes[2]

    def spelled(self) -> str:
        """The mesh as the CLI spells it: ``data=..,fsdp=..,tensor=..``."""
        return f"data={self.data},fsdp={self.fsdp},tensor={self.tensor}"

    @classmethod
    def parse(cls, text: str) -> MeshConfig:
        """Parse ``data=2,fsdp=4`` (unnamed axes default to 1, or data=-1 when none is -1)."""
        values: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            if not sep or name not in ("data", "fsdp", "tensor"):
                raise ValueError(f"bad mesh entry '{part}': expected data=N, fsdp=N or tensor=N")
            values[name] = int(value)
        values.setdefault("data", 1)
        return cls(**values)


class CheckpointConfig(_Frozen):
    """Orbax checkpointing: every ``every_steps``, keep the last ``keep_last`` plus permanent ones."""

    every_steps: int = Field(default=500, ge=1)
    keep_last: int = Field(default=2, ge=1)
    permanent_every: int | None = Field(
        default=None, ge=1, description="also keep every checkpoint whose step is a multiple"
    )


class DistributedConfig(_Frozen):
    """Multi-host start through ``jax.distributed.initialize`` (omit on a single host).

    On TPU pods all three fields may stay None: JAX discovers them from the environment.
    """

    enabled: bool = False
    coordinator_address: str | None = None
    num_processes: int | None = Field(default=None, ge=1)
    process_id: int | None = Field(default=None, ge=0)
    # How long a process waits at a barrier for the others (process 0 alone claims and checks
    # the run directory, so the others arrive first and wait).
    barrier_timeout_s: float = Field(default=900.0, gt=0)


# Names other lemur configs used to spell differently; each is now the one on the right in both
# lemur-train and lemur-sft, and an old name is an error that says so.
RENAMED_FIELDS: Mapping[str, str] = {
    "microbatches": "grad_accum_steps",
    "global_batch_rows": "global_batch_size",
    "steps": "max_steps",
    "log_every": "log_every_steps",
    "learning_rate": "optimizer.peak_lr",
    "max_seq_len": "seq_len",
}


class TrainConfig(StageConfig):
    """A whole continued pre-training run."""

    config_label: ClassVar[str] = "train config"
    renamed_fields: ClassVar[Mapping[str, str]] = RENAMED_FIELDS

    name: str = "run"
    model: ModelConfig
    optimizer: OptimizerConfig = OptimizerConfig()
    mesh: MeshConfig = MeshConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    distributed: DistributedConfig = DistributedConfig()
    init_from: str | None = Field(
        default=None,
        description="HF directory (config.json + safetensors) or lemur params checkpoint to start from; None = random init",
    )
    seq_len: int | None = Field(default=None, ge=2, description="None: the corpus seq_len")
    global_batch_size: int = Field(
        ge=1, description="packed rows per optimizer step across all hosts"
    )
    grad_accum_steps: int = Field(
        default=1,
        ge=1,
        description="gradient accumulation: micro-batches per optimizer step, inside the step",
    )
    max_steps: int = Field(ge=1, description="optimizer steps of the run (the schedule's length)")
    seed: int = 0
    data_seed: int = 0
    compute_dtype: ComputeDtype = "float32"
    remat: RematPolicy = "none"
    unroll_layers: bool | None = Field(
        default=None,
        description="compile the layer stack unrolled (true) or as a loop over one layer (false); "
        "None = unrolled on CPU up to 8 layers, a loop otherwise. Parameters and results are the same",
    )
    chip: str = Field(default="cpu", description="peak-FLOPs table entry for MFU (see plan)")
    log_every_steps: int = Field(default=1, ge=1)
    eval_every_steps: int = Field(
        default=0,
        ge=0,
        description="loss on the corpus's held-out rows every N steps and after the last; 0 = after the last only",
    )
    eval_max_rows: int = Field(
        default=256, ge=1, description="held-out rows evaluated (the first N of the split)"
    )
    tensorboard: bool = False
    export_dtype: ComputeDtype = "float32"

    @model_validator(mode="after")
    def _batch(self) -> TrainConfig:
        if self.global_batch_size % self.grad_accum_steps:
            raise ValueError(
                f"global_batch_size={self.global_batch_size} is not divisible by "
                f"grad_accum_steps={self.grad_accum_steps}"
            )
        return self

    def check_mesh_fit(self, num_devices: int) -> tuple[int, int, int]:
        """The resolved mesh for ``num_devices``; a ``ValueError`` naming the fix when a micro-batch
        cannot be split evenly over the data x fsdp axes (rows are sharded over both)."""
        data, fsdp, tensor = self.mesh.resolve(num_devices)
        rows = self.global_batch_size // self.grad_accum_steps
        if rows % (data * fsdp):
            multiple = data * fsdp
            raise ValueError(
                f"a micro-batch of {rows} rows (global_batch_size={self.global_batch_size} / "
                f"grad_accum_steps={self.grad_accum_steps}) cannot be split over data x fsdp = "
                f"{data} x {fsdp} = {multiple} shards on {num_devices} devices; make "
                f"global_batch_size / grad_accum_steps a multiple of {multiple} (e.g. "
                f"global_batch_size={-(-rows // multiple) * multiple * self.grad_accum_steps}) or "
                "change the mesh"
            )
        return data, fsdp, tensor

    @property
    def tokens_per_step(self) -> int:
        """Tokens per optimizer step (needs a resolved ``seq_len``)."""
        if self.seq_len is None:
            raise ValueError("seq_len is unset: resolve it from the corpus first")
        return self.global_batch_size * self.seq_len


@TrainConfig.register_preset("tiny")
def tiny_preset() -> TrainConfig:
    """A 4-layer d=128 Llama for the tiny corpus: 500 steps of 4 rows (512K tokens of its 4096-token
    BPE in rows of 256), 174 CPU-seconds measured. It ends the held-out loss at 5.39, 1.27 nats
    below the corpus's unigram line and still 0.95 above its bigram line, which needs a smaller
    vocabulary and about 1M tokens (the sweep in docs/train.md)."""
    return TrainConfig(
        name="tiny",
        model=ModelConfig(
            hidden_size=128,
            intermediate_size=352,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=1024,
        ),
        # lr 3e-3 untied beat 5e-3 and 1e-2 tied per token; 4 rows a step beat 8 per token
        # (more steps for the same tokens): the sweep in docs/train.md.
        optimizer=OptimizerConfig(
            peak_lr=3e-3, warmup_steps=10, weight_decay=0.0, min_lr_ratio=0.1
        ),
        checkpoint=CheckpointConfig(every_steps=100, keep_last=2),
        global_batch_size=4,
        grad_accum_steps=1,
        max_steps=500,
        # The corpus's held-out rows every 100 steps (128 rows: a few seconds on 2 cores).
        eval_every_steps=100,
        eval_max_rows=128,
    )


@TrainConfig.register_preset("lemur-70b")
def lemur_70b_preset() -> TrainConfig:
    """Paper scale: Llama-2-70B, 1024 x 4096 batch, Adam 4e-5 (0.9, 0.95), clip 1.0,
    2000 warm-up steps, cosine to 10%, 90B tokens (21,458 steps), on a TPUv4 pod.

    The mesh splits heads over 2 chips (tensor=2) and runs 8 micro-batches: one row of 4096
    tokens per chip, whose materialized attention scores (64 heads x 4096^2 float32, 4 GiB per
    array) would not fit a 32 GiB v4 chip beside the state without the head split."""
    return TrainConfig(
        name="lemur-70b",
        model=ModelConfig(
            vocab_size=32000,
            hidden_size=8192,
            intermediate_size=28672,
            num_hidden_layers=80,
            num_attention_heads=64,
            num_key_value_heads=8,
            rms_norm_eps=1e-5,
            rope_theta=10000.0,
            max_position_embeddings=4096,
        ),
        optimizer=OptimizerConfig(),
        mesh=MeshConfig(data=1, fsdp=-1, tensor=2),
        checkpoint=CheckpointConfig(every_steps=500, keep_last=2, permanent_every=5000),
        init_from="meta-llama/Llama-2-70b-hf",
        seq_len=4096,
        global_batch_size=1024,
        grad_accum_steps=8,
        max_steps=math.ceil(90e9 / (1024 * 4096)),
        compute_dtype="bfloat16",
        remat="full",
        chip="tpu-v4",
        log_every_steps=10,
        tensorboard=True,
        export_dtype="bfloat16",
    )
