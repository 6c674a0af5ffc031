"""Export the fine-tuned model as a Hugging Face directory with the ChatML chat template."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def export_hf(
    accelerator: Accelerator,
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    target: Path,
    *,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``target`` = config.json, model.safetensors, tokenizer files (with ``chat_template``)
    and generation_config.json; collective (ZeRO-3 weights are gathered on all ranks), rank 0
    writes. ``target`` is a staging directory: :meth:`lemur_core.stage.Claim.publish` adds the
    manifest (every file's size and sha256) and renames it into place in one step."""
    state_dict: dict[str, Any] = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        unwrapped: PreTrainedModel = accelerator.unwrap_model(model)
        if unwrapped.config.get_text_config().tie_word_embeddings:
            # DeepSpeed's gathered state dict repeats tied weights; the HF layout stores them once.
            tied = getattr(unwrapped, "_tied_weights_keys", None) or {}
            for key in list(tied):
                state_dict.pop(key, None)
        if dtype is not None:
            state_dict = {k: v.to(dtype) for k, v in state_dict.items()}
        if target.exists():
            shutil.rmtree(target)  # a half-written export of a killed run
        unwrapped.save_pretrained(target, state_dict=state_dict, safe_serialization=True)
        tokenizer.save_pretrained(target)
    accelerator.wait_for_everyone()
    return target
