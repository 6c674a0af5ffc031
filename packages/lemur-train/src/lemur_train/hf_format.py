"""Hugging Face ``LlamaForCausalLM`` <-> lemur parameters, exactly (transposes and reshapes only).

HF stores ``nn.Linear`` weights as [out, in]; the Flax model stores kernels as [in, ...out] with
the layer axis stacked first (``nn.scan``). HF's q/k weights already use the rotate-half rotary
layout that :func:`lemur_train.model.rotary` implements, so no permutation is needed. Tied
embeddings (``tie_word_embeddings``, e.g. SmolLM2) have no ``lm_head`` on either side.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lemur_train.config import ModelConfig
from lemur_train.safetensors_io import read_hf_weights, write_safetensors

Params = dict[str, Any]
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "tokenizer.model",
)


def model_config_from_hf(hf: dict[str, Any]) -> ModelConfig:
    """A :class:`ModelConfig` from an HF ``config.json`` dict; an error for unsupported features."""
    if hf.get("model_type") not in ("llama", None):
        raise ValueError(f"expected a Llama config, got model_type={hf.get('model_type')!r}")
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type != "default":
        raise ValueError(
            f"rope_type={rope_type!r} is not supported (Llama-2 uses plain rotary embeddings)"
        )
    for flag in ("attention_bias", "mlp_bias"):
        if hf.get(flag):
            raise ValueError(f"{flag}=True is not part of the Llama-2 architecture")
    if hf.get("hidden_act", "silu") != "silu":
        raise ValueError(f"hidden_act={hf['hidden_act']!r}: Llama uses silu")
    return ModelConfig(
        vocab_size=hf["vocab_size"],
        hidden_size=hf["hidden_size"],
        intermediate_size=hf["intermediate_size"],
        num_hidden_layers=hf["num_hidden_layers"],
        num_attention_heads=hf["num_attention_heads"],
        num_key_value_heads=hf.get("num_key_value_heads") or hf["num_attention_heads"],
        head_dim=hf.get("head_dim"),
        rms_norm_eps=hf.get("rms_norm_eps", 1e-6),
        rope_theta=rope.get("rope_theta", hf.get("rope_theta", 10000.0)),
        max_position_embeddings=hf.get("max_position_embeddings", 4096),
        tie_word_embeddings=hf.get("tie_word_embeddings", False),
        initializer_range=hf.get("initializer_range", 0.02),
    )


def hf_config_from_model(
    cfg: ModelConfig,
    *,
    bos_token_id: int | None,
    eos_token_id: int | None,
    pad_token_id: int | None,
    dtype: str = "float32",
) -> dict[str, Any]:
    """The ``config.json`` dict Transformers needs to rebuild ``cfg`` as ``LlamaForCausalLM``."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads,
        "head_dim": cfg.resolved_head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_position_embeddings,
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": cfg.initializer_range,
        "bos_token_id": bos_token_id,
        "eos_token_id": eos_token_id,
        "pad_token_id": pad_token_id,
        "dtype": dtype,
        "use_cache": True,
    }


@dataclass(frozen=True)
class LazyTensor:
    """One lemur parameter not read yet: its shape, and how to read any slice of it.

    ``read`` takes one slice per dimension (what ``jax.make_array_from_callback`` asks for) and
    returns only that part, so a host reads the shards of its own devices and no more.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    read: Callable[[tuple[slice, ...]], np.ndarray]

    def full(self) -> np.ndarray:
        """The whole tensor (a copy)."""
        return self.read(tuple(slice(None) for _ in self.shape))


def _stacked(layers: list[Callable[[], np.ndarray]], shape: tuple[int, ...]) -> LazyTensor:
    # Per-layer views over the memory-mapped file, stacked on a leading layer axis on read.
    def read(index: tuple[slice, ...]) -> np.ndarray:
        rest = index[1:]
        return np.stack([np.asarray(layers[i]()[rest]) for i in range(len(layers))[index[0]]])

    first = layers[0]()
    return LazyTensor((len(layers), *shape), first.dtype, read)


def _single(view: Callable[[], np.ndarray]) -> LazyTensor:
    array = view()
    return LazyTensor(tuple(array.shape), array.dtype, lambda index: np.array(view()[index]))


def hf_param_sources(state: dict[str, np.ndarray], cfg: ModelConfig) -> Params:
    """Lemur params as a tree of :class:`LazyTensor` over an HF state dict (e.g. memory-mapped
    safetensors views): every name and shape is checked now, no tensor data is read."""
    h, heads, kv, d = (
        cfg.hidden_size,
        cfg.num_attention_heads,
        cfg.num_key_value_heads,
        cfg.resolved_head_dim,
    )
    used: set[str] = set()

    def get(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in state:
            raise KeyError(
                f"HF checkpoint lacks tensor '{name}' needed by a {cfg.num_hidden_layers}-layer Llama"
            )
        used.add(name)
        array = state[name]
        if tuple(array.shape) != shape:
            raise ValueError(f"HF tensor '{name}' has shape {array.shape}, expected {shape}")
        return array

    def stack(
        suffix: str, shape: tuple[int, ...], fn: Callable[[np.ndarray], np.ndarray]
    ) -> LazyTensor:
        arrays = [get(f"model.layers.{i}.{suffix}", shape) for i in range(cfg.num_hidden_layers)]
        out_shape = tuple(fn(arrays[0]).shape)
        return _stacked([functools.partial(fn, a) for a in arrays], out_shape)

    def same(w: np.ndarray) -> np.ndarray:
        return w

    embedding = get("model.embed_tokens.weight", (cfg.vocab, h))
    layers = {
        "input_layernorm": {"scale": stack("input_layernorm.weight", (h,), same)},
        "post_attention_layernorm": {"scale": stack("post_attention_layernorm.weight", (h,), same)},
        "self_attn": {
            "q_proj": {
                "kernel": stack(
                    "self_attn.q_proj.weight", (heads * d, h), lambda w: w.T.reshape(h, heads, d)
                )
            },
            "k_proj": {
                "kernel": stack(
                    "self_attn.k_proj.weight", (kv * d, h), lambda w: w.T.reshape(h, kv, d)
                )
            },
            "v_proj": {
                "kernel": stack(
                    "self_attn.v_proj.weight", (kv * d, h), lambda w: w.T.reshape(h, kv, d)
                )
            },
            "o_proj": {
                "kernel": stack(
                    "self_attn.o_proj.weight", (h, heads * d), lambda w: w.T.reshape(heads, d, h)
                )
            },
        },
        "mlp": {
            "gate_proj": {
                "kernel": stack("mlp.gate_proj.weight", (cfg.intermediate_size, h), lambda w: w.T)
            },
            "up_proj": {
                "kernel": stack("mlp.up_proj.weight", (cfg.intermediate_size, h), lambda w: w.T)
            },
            "down_proj": {
                "kernel": stack("mlp.down_proj.weight", (h, cfg.intermediate_size), lambda w: w.T)
            },
        },
    }
    norm = get("model.norm.weight", (h,))
    params: Params = {
        "embed_tokens": {"embedding": _single(lambda: embedding)},
        "layers": layers,
        "norm": {"scale": _single(lambda: norm)},
    }
    if not cfg.tie_word_embeddings:
        head = get("lm_head.weight", (cfg.vocab, h))
        params["lm_head"] = {"kernel": _single(lambda: head.T)}
    # A tied checkpoint may still carry a copy of lm_head; anything else unknown is a mistake.
    leftover = sorted(set(state) - used - {"lm_head.weight"})
    leftover = [k for k in leftover if not k.endswith("rotary_emb.inv_freq")]
    if leftover:
        raise ValueError(f"HF checkpoint has tensors this Llama does not use: {leftover[:5]}")
    return params


def materialize(sources: Any) -> Any:
    """A tree of :class:`LazyTensor` read whole into numpy arrays."""
    if isinstance(sources, dict):
        return {k: materialize(v) for k, v in sources.items()}
    return sources.full()


def params_from_hf(state: dict[str, np.ndarray], cfg: ModelConfig) -> Params:
    """Lemur params (nested dict of numpy arrays) from an HF state dict; checks every shape."""
    return materialize(hf_param_sources(state, cfg))  # type: ignore[no-any-return]


def hf_from_params(params: Params, cfg: ModelConfig) -> dict[str, np.ndarray]:
    """The HF state dict (names and [out, in] layouts) of lemur ``params``."""
    p = {k: v for k, v in params.items()}
    h = cfg.hidden_size
    state: dict[str, np.ndarray] = {
        "model.embed_tokens.weight": np.asarray(p["embed_tokens"]["embedding"]),
        "model.norm.weight": np.asarray(p["norm"]["scale"]),
    }
    if not cfg.tie_word_embeddings:
        state["lm_head.weight"] = np.asarray(p["lm_head"]["kernel"]).T
    layers = p["layers"]
    attn, mlp = layers["self_attn"], layers["mlp"]
    for i in range(cfg.num_hidden_layers):
        pre = f"model.layers.{i}."
        state[pre + "input_layernorm.weight"] = np.asarray(layers["input_layernorm"]["scale"][i])
        state[pre + "post_attention_layernorm.weight"] = np.asarray(
            layers["post_attention_layernorm"]["scale"][i]
        )
        for name in ("q_proj", "k_proj", "v_proj"):
            kernel = np.asarray(attn[name]["kernel"][i])
            state[pre + f"self_attn.{name}.weight"] = kernel.reshape(h, -1).T
        o = np.asarray(attn["o_proj"]["kernel"][i])
        state[pre + "self_attn.o_proj.weight"] = o.reshape(-1, h).T
        for name in ("gate_proj", "up_proj", "down_proj"):
            state[pre + f"mlp.{name}.weight"] = np.asarray(mlp[name]["kernel"][i]).T
    return {k: np.ascontiguousarray(v) for k, v in state.items()}


def load_hf(hf_dir: str | os.PathLike[str]) -> tuple[ModelConfig, Params]:
    """Model config and params of an HF Llama directory (memory-mapped reads)."""
    root = Path(hf_dir)
    if not (root / "config.json").exists():
        raise FileNotFoundError(
            f"{root} has no config.json; pass a Hugging Face model directory "
            "(e.g. `huggingface-cli download meta-llama/Llama-2-70b-hf --local-dir DIR`)"
        )
    cfg = model_config_from_hf(json.loads((root / "config.json").read_text()))
    return cfg, params_from_hf(read_hf_weights(root), cfg)


def hf_sources(hf_dir: str | os.PathLike[str]) -> tuple[ModelConfig, Params]:
    """Model config and a tree of :class:`LazyTensor` over the (memory-mapped) safetensors of an
    HF Llama directory: what the trainer reads slice by slice into each device's shard."""
    root = Path(hf_dir)
    if not (root / "config.json").exists():
        raise FileNotFoundError(f"{root} has no config.json; pass a Hugging Face model directory")
    cfg = model_config_from_hf(json.loads((root / "config.json").read_text()))
    return cfg, hf_param_sources(read_hf_weights(root), cfg)


def save_hf(
    params: Params,
    cfg: ModelConfig,
    out_dir: str | os.PathLike[str],
    *,
    tokenizer_dir: str | os.PathLike[str] | None,
    dtype: str = "float32",
    special_tokens: dict[str, int | None] | None = None,
) -> Path:
    """Write an HF directory (config.json, model.safetensors, tokenizer files) for ``params``.

    ``dtype`` ("float32" or "bfloat16") is the stored weight dtype. Tokenizer files present in
    ``tokenizer_dir`` are copied so that the directory is complete for AutoTokenizer.
    """
    import ml_dtypes

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np_dtype = np.float32 if dtype == "float32" else ml_dtypes.bfloat16
    state = {k: v.astype(np_dtype) for k, v in hf_from_params(params, cfg).items()}
    write_safetensors(out / "model.safetensors", state)
    tokens = special_tokens or {}
    config = hf_config_from_model(
        cfg,
        bos_token_id=tokens.get("bos_token_id"),
        eos_token_id=tokens.get("eos_token_id"),
        pad_token_id=tokens.get("pad_token_id"),
        dtype=dtype,
    )
    from lemur_core.atomic import atomic_write_text

    atomic_write_text(out / "config.json", json.dumps(config, indent=2) + "\n")
    if tokenizer_dir is not None:
        for name in _TOKENIZER_FILES:
            src = Path(tokenizer_dir) / name
            if src.exists():
                shutil.copyfile(src, out / name)
    return out
