"""Building the Accelerator: plain (one or many processes) or DeepSpeed ZeRO, on GPU or CPU.

The CPU traps of DeepSpeed/Accelerate (PLATFORM.md) are handled here: a single process gets the
rendezvous environment DeepSpeed insists on, the ``shm_comm`` JIT build is skipped, and the
process group is gloo when there is no GPU.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import torch
from accelerate import Accelerator, DeepSpeedPlugin
from accelerate.state import AcceleratorState, GradientState, PartialState
from accelerate.utils import InitProcessGroupKwargs

from lemur_sft.config import SFTConfig
from lemur_sft.deepspeed_config import load_deepspeed_config, resolve_deepspeed_config


def launched_world_size() -> int:
    """Processes of this launch, from the launcher's environment (1 when run directly)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _single_process_rendezvous() -> None:
    # DeepSpeed asks for mpi4py unless a torch.distributed rendezvous is described.
    if "RANK" not in os.environ:
        os.environ.update(
            {
                "RANK": "0",
                "LOCAL_RANK": "0",
                "WORLD_SIZE": "1",
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(_free_port()),
            }
        )


def reset_accelerate_state() -> None:
    """Forget the process-wide Accelerate state so that another run in this process starts clean
    (only when this process is not part of a multi-process launch)."""
    if launched_world_size() == 1:
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
        PartialState._reset_state()


def build_accelerator(config: SFTConfig) -> tuple[Accelerator, dict[str, Any] | None]:
    """An Accelerator for ``config`` and the resolved DeepSpeed config (``None`` without DeepSpeed)."""
    reset_accelerate_state()
    on_gpu = torch.cuda.is_available()
    # gloo only where a process group will exist: naming a backend in a lone process makes
    # Accelerate look for one that was never initialised.
    distributed = launched_world_size() > 1 or config.deepspeed is not None
    handlers = [InitProcessGroupKwargs(backend="gloo")] if distributed and not on_gpu else []
    mixed = "bf16" if config.compute_dtype == "bfloat16" else "no"
    if config.deepspeed is None:
        accelerator = Accelerator(
            gradient_accumulation_steps=config.grad_accum_steps,
            mixed_precision=mixed,
            cpu=not on_gpu,
            kwargs_handlers=handlers,
        )
        return accelerator, None
    _single_process_rendezvous()
    import deepspeed.ops

    # The shared-memory comm op is a ~50 s JIT build that CPU training does not need.
    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    resolved = resolve_deepspeed_config(
        load_deepspeed_config(config.deepspeed.config), config, launched_world_size()
    )
    stage = int(resolved.get("zero_optimization", {}).get("stage", 0))
    plugin = DeepSpeedPlugin(hf_ds_config=resolved, zero3_init_flag=stage == 3)
    # Accelerator(cpu=True, deepspeed_plugin=...) silently drops DeepSpeed: never pass cpu here.
    accelerator = Accelerator(
        gradient_accumulation_steps=config.grad_accum_steps,
        mixed_precision=mixed,
        deepspeed_plugin=plugin,
        kwargs_handlers=handlers,
    )
    return accelerator, resolved
