"""Lemur weights on disk, in any of their three forms, in and out.

Three on-disk forms hold lemur weights (the HF one is read and written by
:mod:`lemur_train.hf_format`):

* an HF directory (``config.json`` + safetensors) — what Transformers and every HF user read;
* a *lemur params checkpoint* (``model_config.json`` + an Orbax ``params/`` tree) — what
  ``lemur-train convert from-hf`` writes, so a 70B import happens once, not at every start;
* a training output directory (``run_config.json`` + ``checkpoints/``) — its latest step.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from lemur_core.atomic import atomic_write_text

from lemur_train.config import ModelConfig, TrainConfig
from lemur_train.hf_format import hf_sources, load_hf, model_config_from_hf, save_hf
from lemur_train.train_state import place_params

MODEL_CONFIG_FILE = "model_config.json"
RUN_CONFIG_FILE = "run_config.json"


def save_params_checkpoint(params: Any, cfg: ModelConfig, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``params`` as a lemur params checkpoint (Orbax tree + ``model_config.json``)."""
    out = Path(out_dir).absolute()
    out.mkdir(parents=True, exist_ok=True)
    target = out / "params"
    if target.exists():
        shutil.rmtree(target)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(target, params)
    atomic_write_text(out / MODEL_CONFIG_FILE, cfg.model_dump_json(indent=2) + "\n")
    return out


def read_model_config(path: str | os.PathLike[str]) -> ModelConfig:
    """The architecture of weights in any of the three forms, read from their config file
    alone: no tensor is loaded."""
    root = Path(path).absolute()
    if (root / "config.json").exists():
        return model_config_from_hf(json.loads((root / "config.json").read_text()))
    if (root / MODEL_CONFIG_FILE).exists():
        return ModelConfig.model_validate_json((root / MODEL_CONFIG_FILE).read_text())
    if (root / RUN_CONFIG_FILE).exists():
        return TrainConfig.model_validate_json((root / RUN_CONFIG_FILE).read_text()).model
    raise _not_weights(root)


def _not_weights(root: Path) -> FileNotFoundError:
    return FileNotFoundError(
        f"{root} is neither an HF directory (config.json), a lemur params checkpoint "
        f"({MODEL_CONFIG_FILE}) nor a training run ({RUN_CONFIG_FILE})"
    )


def load_weights(path: str | os.PathLike[str]) -> tuple[ModelConfig, Any]:
    """Model config and params (numpy) from any of the three forms in the module doc."""
    root = Path(path).absolute()
    if (root / "config.json").exists():
        return load_hf(root)
    if (root / MODEL_CONFIG_FILE).exists():
        cfg = ModelConfig.model_validate_json((root / MODEL_CONFIG_FILE).read_text())
        with ocp.StandardCheckpointer() as checkpointer:
            params = checkpointer.restore(root / "params")
        return cfg, _to_numpy(params)
    if (root / RUN_CONFIG_FILE).exists():
        run = TrainConfig.model_validate_json((root / RUN_CONFIG_FILE).read_text())
        manager, step = _latest_checkpoint(root)
        try:
            restored = manager.restore(
                step, args=ocp.args.Composite(state=ocp.args.StandardRestore())
            )
        finally:
            manager.close()
        return run.model, _to_numpy(restored.state["params"])
    raise _not_weights(root)


def load_sharded_params(path: str | os.PathLike[str], abstract: Any, shardings: Any) -> Any:
    """Params of any of the three forms as float32 jax Arrays in ``shardings``, each device
    reading only its own slice: an HF directory is read slice by slice from its memory-mapped
    safetensors (``jax.make_array_from_callback``); a lemur params checkpoint, and the params
    subtree of a training run's latest checkpoint (its optimizer state is never read), by
    Orbax's sharded restore. A stored shape that differs from ``abstract`` is a ``ValueError``
    naming the parameter."""
    root = Path(path).absolute()
    if (root / "config.json").exists():
        return place_params(hf_sources(root)[1], shardings, abstract)
    target = jax.tree.map(
        lambda leaf, sharding: jax.ShapeDtypeStruct(leaf.shape, jnp.float32, sharding=sharding),
        abstract,
        shardings,
    )
    if (root / MODEL_CONFIG_FILE).exists():
        _check_stored_shapes(root / "params", None, abstract)
        with ocp.StandardCheckpointer() as checkpointer:
            restored = checkpointer.restore(root / "params", target)
        return place_params(restored, shardings, abstract)
    if (root / RUN_CONFIG_FILE).exists():
        manager, step = _latest_checkpoint(root)
        try:
            _check_stored_shapes(root / "checkpoints" / str(step) / "state", "params", abstract)
            # Only the params subtree of the saved TrainState, straight into its shards.
            item = {"params": target}
            restore = ocp.args.PyTreeRestore(  # type: ignore[call-arg]
                item=item,
                restore_args=ocp.checkpoint_utils.construct_restore_args(item),
                partial_restore=True,
            )
            restored = manager.restore(step, args=ocp.args.Composite(state=restore))
        finally:
            manager.close()
        return place_params(restored.state["params"], shardings, abstract)
    raise _not_weights(root)


def _latest_checkpoint(root: Path) -> tuple[ocp.CheckpointManager, int]:
    # The newest complete checkpoint of a training run directory (Orbax renames a checkpoint
    # into place only when it is whole, so an interrupted save is never the latest).
    manager = ocp.CheckpointManager(root / "checkpoints", item_names=("state", "data"))
    step = manager.latest_step()
    if step is None:
        manager.close()
        raise FileNotFoundError(f"{root} is a training run without any complete checkpoint")
    return manager, step


def _check_stored_shapes(tree_dir: Path, subtree: str | None, abstract: Any) -> None:
    # Orbax restores into the requested shape; compare with what was stored first, from the
    # checkpoint's metadata alone, so a mismatch names the parameter instead of restoring a
    # wrong-sized array.
    with ocp.PyTreeCheckpointer() as checkpointer:
        metadata = checkpointer.metadata(tree_dir)
    stored = getattr(metadata, "item_metadata", metadata)
    if subtree is not None:
        stored = stored[subtree]

    def check(path: Any, want: Any) -> None:
        node = stored
        for key in path:
            name = getattr(key, "key", getattr(key, "name", key))
            if name not in node:
                raise ValueError(
                    f"parameter {jax.tree_util.keystr(path)} is missing from {tree_dir}"
                )
            node = node[name]
        if tuple(node.shape) != tuple(want.shape):
            raise ValueError(
                f"parameter {jax.tree_util.keystr(path)} has shape {tuple(node.shape)} in "
                f"{tree_dir}, the model expects {tuple(want.shape)}"
            )

    jax.tree_util.tree_map_with_path(check, abstract)


def _to_numpy(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _to_numpy(v) for k, v in tree.items()}
    return np.asarray(tree)


def hf_to_lemur(hf_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """``convert from-hf``: an HF Llama directory to a lemur params checkpoint."""
    cfg, params = load_hf(hf_dir)
    return save_params_checkpoint(params, cfg, out_dir)


def lemur_to_hf(
    checkpoint: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    tokenizer_dir: str | os.PathLike[str] | None = None,
    dtype: str = "float32",
) -> Path:
    """``convert to-hf``: any lemur weights to an HF directory (tokenizer copied when given)."""
    cfg, params = load_weights(checkpoint)
    tokens: dict[str, int | None] = {}
    if tokenizer_dir is not None:
        tokens = special_token_ids(Path(tokenizer_dir))
    return save_hf(
        params, cfg, out_dir, tokenizer_dir=tokenizer_dir, dtype=dtype, special_tokens=tokens
    )


def special_token_ids(tokenizer_dir: Path) -> dict[str, int | None]:
    """bos/eos/pad ids named in ``tokenizer_config.json``, looked up in ``tokenizer.json``."""
    out: dict[str, int | None] = {}
    config_path = tokenizer_dir / "tokenizer_config.json"
    vocab_path = tokenizer_dir / "tokenizer.json"
    if not (config_path.exists() and vocab_path.exists()):
        return out
    config = json.loads(config_path.read_text())
    tok = json.loads(vocab_path.read_text())
    ids = {t["content"]: t["id"] for t in tok.get("added_tokens", [])}
    ids.update(
        tok.get("model", {}).get("vocab", {})
        if isinstance(tok.get("model", {}).get("vocab"), dict)
        else {}
    )
    for name in ("bos", "eos", "pad"):
        token = config.get(f"{name}_token")
        if isinstance(token, dict):
            token = token.get("content")
        out[f"{name}_token_id"] = ids.get(token) if isinstance(token, str) else None
    return out
