"""What the fine-tuned model says, and how often its replies follow the expected format.

:func:`greedy_replies` generates greedy replies of an exported chat model to the first user
turns of the instruction set's held-out examples (the ones lemur-sft kept out of training: the
lowest id hashes). :func:`format_compliance` reads an evaluation run's episodes and counts the
model replies that parsed into an action or answer (no parse error), per benchmark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One greedy reply beside its prompt (and the instruction set's reference answer)."""

    prompt: str
    reply: str
    reference: str


def heldout_prompts(instruct_dir: Path, n: int) -> list[tuple[str, str]]:
    """``(first user turn, first assistant turn)`` of ``n`` held-out examples of an instruct
    artifact, in lemur-sft's held-out order."""
    from lemur_sft.heldout import id_rank

    rows = [
        json.loads(line)
        for line in (instruct_dir / "examples.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    rows.sort(key=lambda r: id_rank(str(r["id"])))
    out = []
    for row in rows[:n]:
        turns = row["messages"]
        user = next(m["content"] for m in turns if m["role"] == "user")
        answer = next((m["content"] for m in turns if m["role"] == "assistant"), "")
        out.append((user, answer))
    return out


def greedy_replies(
    model_dir: Path, prompts: list[tuple[str, str]], *, max_new_tokens: int = 48
) -> list[Reply]:
    """Greedy replies of the chat model at ``model_dir`` (its own chat template) to ``prompts``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    replies = []
    for prompt, reference in prompts:
        text: Any = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
        ids = tokenizer(str(text), return_tensors="pt", add_special_tokens=False).input_ids
        with torch.no_grad():
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
        reply = str(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))
        replies.append(Reply(prompt, reply.strip(), reference))
    return replies


def reply_in_format(turn: dict[str, Any]) -> bool | None:
    """Whether one recorded turn's reply had the expected format, by the check its benchmark
    made: the scorer extracted an answer (single-turn benchmarks: ``score_details.extracted``),
    MINT's parser found a valid action or proposal (``valid``), or a parse error was recorded.
    ``None`` when the environment takes any text as its action (InterCode, RoboCodeGen): there
    nothing tells a formatted reply from another, so it is not counted either way."""
    info = turn.get("info") or {}
    details = info.get("score_details")
    if isinstance(details, dict) and "extracted" in details:
        return details["extracted"] not in (None, "")
    if "valid" in info:
        return bool(info["valid"])
    if turn.get("parse_error"):
        return False
    return None


def format_compliance(run_dir: Path) -> dict[str, tuple[int, int]]:
    """Per benchmark: ``(replies in the expected format, replies that were checked)`` over every
    model turn of the run's ``episodes.jsonl`` (see :func:`reply_in_format`)."""
    counts: dict[str, list[int]] = {}
    path = run_dir / "episodes.jsonl"
    if not path.exists():
        return {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        episode: dict[str, Any] = json.loads(line)
        tally = counts.setdefault(str(episode.get("benchmark")), [0, 0])
        for turn in episode.get("turns", []):
            verdict = reply_in_format(turn)
            if verdict is not None:
                tally[1] += 1
                tally[0] += int(verdict)
    return {k: (v[0], v[1]) for k, v in sorted(counts.items())}
