"""Instruction-set statistics laid out like paper Table 1.

Per row (a source's ``group``): instances, mean rounds (assistant turns per example), mean
prompt length (tokens per user turn, system prompt counted with the first), and mean
completion length (tokens per assistant turn), plus the paper's count where the preset has one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lemur_core import InstructExample, Role

# Paper Table 1 mean rounds we can cite (OASST1: 34,546 instances, 1.6 rounds).
PAPER_MEAN_ROUNDS: dict[str, float] = {"OpenAssistant 1": 1.6}


class TableOneAccumulator:
    """Streams examples into per-row sums; :meth:`rows` gives the table."""

    def __init__(self, count_tokens: Callable[[str], int]) -> None:
        self.count_tokens = count_tokens
        self._sums: dict[str, list[float]] = {}

    def add(self, label: str, example: InstructExample) -> None:
        """Count one example into row ``label``."""
        s = self._sums.setdefault(
            label, [0, 0, 0, 0, 0, 0]
        )  # n, rounds, p_tok, p_turns, c_tok, c_turns
        s[0] += 1
        pending_system = 0
        for msg in example.messages:
            tokens = self.count_tokens(msg.content)
            if msg.role is Role.SYSTEM:
                pending_system = tokens
            elif msg.role is Role.USER:
                s[2] += tokens + pending_system
                s[3] += 1
                pending_system = 0
            elif msg.role is Role.ASSISTANT:
                s[1] += 1
                s[4] += tokens
                s[5] += 1

    def rows(self, paper_counts: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
        """One dict per row plus a ``Total`` row; means rounded to 0.01."""
        out = []
        total = [0.0] * 6
        for label, s in self._sums.items():
            total = [a + b for a, b in zip(total, s, strict=True)]
            out.append(_row(label, s, (paper_counts or {}).get(label)))
        if out:
            paper_total = sum((paper_counts or {}).values()) or None
            out.append(_row("Total", total, paper_total))
        return out


def _row(label: str, s: list[float], paper: int | None) -> dict[str, Any]:
    return {
        "dataset": label,
        "instances": int(s[0]),
        "paper_instances": paper,
        "mean_rounds": round(s[1] / s[0], 2) if s[0] else 0.0,
        "paper_mean_rounds": PAPER_MEAN_ROUNDS.get(label),
        "mean_prompt_tokens": round(s[2] / s[3], 2) if s[3] else 0.0,
        "mean_completion_tokens": round(s[4] / s[5], 2) if s[5] else 0.0,
    }


def format_table_one(rows: Iterable[Mapping[str, Any]], token_unit: str) -> str:
    """Render rows as a Markdown table with the paper's columns."""
    header = (
        "| Dataset | #Instances | Paper #Instances | Mean #Rounds | "
        f"Mean Prompt Len ({token_unit}) | Mean Completion Len ({token_unit}) |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |"
    )
    lines = [header]
    for r in rows:
        paper = f"{r['paper_instances']:,}" if r.get("paper_instances") else "-"
        lines.append(
            f"| {r['dataset']} | {r['instances']:,} | {paper} | {r['mean_rounds']:.2f} | "
            f"{r['mean_prompt_tokens']:.2f} | {r['mean_completion_tokens']:.2f} |"
        )
    return "\n".join(lines)
