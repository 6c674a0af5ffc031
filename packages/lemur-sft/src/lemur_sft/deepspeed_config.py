"""The shipped DeepSpeed ZeRO configs (ZeRO-2, ZeRO-3, ZeRO-3 with CPU offload) and their
resolution against an :class:`SFTConfig` ("auto" values filled, contradictions refused)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from lemur_sft.config import SFTConfig

SHIPPED = ("zero2", "zero3", "zero3_offload")


def shipped_config_path(name: str) -> Path:
    """Path of a shipped DeepSpeed JSON (``zero2``, ``zero3``, ``zero3_offload``)."""
    if name not in SHIPPED:
        raise ValueError(
            f"unknown shipped DeepSpeed config '{name}'; choose one of {', '.join(SHIPPED)}"
        )
    return Path(str(resources.files("lemur_sft") / "deepspeed_configs" / f"{name}.json"))


def load_deepspeed_config(source: str | Path) -> dict[str, Any]:
    """Read a shipped config by name or a DeepSpeed JSON by path."""
    path = (
        shipped_config_path(source)
        if isinstance(source, str) and source in SHIPPED
        else Path(source)
    )
    if not path.exists():
        raise FileNotFoundError(f"DeepSpeed config {path} does not exist")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a DeepSpeed config is a JSON object")
    return data


def resolve_deepspeed_config(
    raw: dict[str, Any], config: SFTConfig, world_size: int
) -> dict[str, Any]:
    """Fill every ``"auto"`` from ``config`` and ``world_size``; a concrete value that contradicts
    the SFT config (batch sizes, clipping, precision) raises naming both.

    The trainer keeps its own client ``torch.optim.AdamW`` (no fused-op JIT build) and its own LR
    schedule, so ``optimizer`` / ``scheduler`` sections are refused.
    """
    out = json.loads(json.dumps(raw))
    for banned in ("optimizer", "scheduler"):
        if banned in out:
            raise ValueError(
                f"DeepSpeed config has a '{banned}' section: lemur-sft drives AdamW and the LR "
                f"schedule itself (SFTConfig fields); remove '{banned}' from the JSON"
            )
    wanted: dict[str, Any] = {
        "train_batch_size": config.global_batch_size,
        "train_micro_batch_size_per_gpu": config.micro_batch_size,
        "gradient_accumulation_steps": config.grad_accum_steps,
        "gradient_clipping": config.optimizer.grad_clip_norm
        if config.optimizer.grad_clip_norm is not None
        else 0.0,
    }
    for key, value in wanted.items():
        current = out.get(key, "auto")
        if current == "auto":
            out[key] = value
        elif current != value:
            raise ValueError(
                f"DeepSpeed config sets {key}={current} but the SFT config implies {value}: "
                'set it to "auto" or make them agree'
            )
    bf16 = out.setdefault("bf16", {"enabled": "auto"})
    if bf16.get("enabled") == "auto":
        bf16["enabled"] = config.compute_dtype == "bfloat16"
    if out["train_batch_size"] != config.micro_batch_size * config.grad_accum_steps * world_size:
        raise ValueError(
            f"DeepSpeed train_batch_size {out['train_batch_size']} != micro {config.micro_batch_size} x "
            f"accumulation {config.grad_accum_steps} x world {world_size}"
        )
    return out


def zero_stage(resolved: dict[str, Any]) -> int:
    """The ZeRO stage of a (resolved) DeepSpeed config (0 when absent)."""
    return int(resolved.get("zero_optimization", {}).get("stage", 0))
