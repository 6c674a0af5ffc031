"""OASST1 thread policies: counts follow from the tree shape, ids are unique, order is fixed."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from lemur_core import Role
from lemur_data.instruct.converters.oasst import OASST_POLICIES, convert_oasst1, thread_stats
from lemur_data.instruct.converters.rows import Rejected


def synthetic_trees(n_trees: int, seed: int = 0) -> list[dict[str, Any]]:
    """Message rows of ``n_trees`` OASST-shaped trees: each prompt gets 0-3 ranked assistant
    replies, each assistant reply 0-2 follow-up prompts, up to 4 rounds; languages en/es."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []

    def add(tree: str, parent: str | None, role: str, depth: int, lang: str) -> None:
        mid = f"{tree}-{len(rows)}"
        rows.append(
            {
                "message_id": mid,
                "parent_id": parent,
                "message_tree_id": tree,
                "role": role,
                "text": f"{role} {mid}",
                "lang": lang,
                "created_date": f"2023-01-01T00:00:{len(rows) % 60:02d}",
                "deleted": False,
                "rank": None,
            }
        )
        if role == "prompter" and depth < 4:
            k = rng.choice([0, 1, 2, 3, 3])
            first = len(rows)
            for _ in range(k):
                add(tree, mid, "assistant", depth + 1, lang)
            if k > 1:  # siblings are ranked only when there is a choice, as in oasst1
                order = list(range(k))
                rng.shuffle(order)
                replies = [r for r in rows[first:] if r["parent_id"] == mid]
                for rank, reply in zip(order, replies, strict=True):
                    reply["rank"] = rank
        elif role == "assistant":
            for _ in range(rng.choice([0, 0, 1, 2])):
                add(tree, mid, "prompter", depth, lang)

    for t in range(n_trees):
        add(f"t{t:04d}", None, "prompter", 0, "en" if t % 3 else "es")
    return rows


def _expected(rows: list[dict[str, Any]], policy: str) -> tuple[int, float]:
    """Counts from the tree shape alone: the formulas the docs give."""
    by_id = {r["message_id"]: r for r in rows}
    kids: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["parent_id"]:
            kids.setdefault(r["parent_id"], []).append(r)

    def rounds(m: dict[str, Any]) -> int:  # assistant turns from the root to m
        n = 0
        while m is not None:
            n += m["role"] == "assistant"
            m = by_id.get(m["parent_id"])  # type: ignore[assignment]
        return n

    def best(m: dict[str, Any]) -> dict[str, Any]:
        # Best first: ranked before unranked, lowest rank, then created_date, then id.
        return min(
            kids[m["message_id"]],
            key=lambda r: (r["rank"] is None, r["rank"] or 0, r["created_date"], r["message_id"]),
        )

    if policy == "all_paths":
        ends = [r for r in rows if r["role"] == "assistant"]
    elif policy == "top_ranked_paths":
        ends = [best(r) for r in rows if r["role"] == "prompter" and r["message_id"] in kids]
    else:
        ends = []
        for root in (r for r in rows if r["parent_id"] is None):
            node, last = root, None
            while node["message_id"] in kids:
                node = best(node)
                last = node if node["role"] == "assistant" else last
            if last is not None:
                ends.append(last)
    return len(ends), sum(rounds(e) for e in ends) / len(ends)


@pytest.mark.parametrize("policy", OASST_POLICIES)
def test_policy_counts_match_the_tree_shape_formula(policy: str) -> None:
    rows = synthetic_trees(300)
    n, mean = thread_stats(rows, policy)  # type: ignore[arg-type]
    want_n, want_mean = _expected(rows, policy)
    assert n == want_n and mean == pytest.approx(want_mean)


def test_policies_yield_unique_ids_valid_threads_and_ignore_row_order() -> None:
    rows = synthetic_trees(120, seed=1)
    shuffled = list(rows)
    random.Random(5).shuffle(shuffled)
    for policy in OASST_POLICIES:
        out = [r for r in convert_oasst1(rows, "oasst1", Counter(), policy=policy)]  # type: ignore[arg-type]
        again = [r for r in convert_oasst1(shuffled, "oasst1", Counter(), policy=policy)]  # type: ignore[arg-type]
        examples = [r for r in out if not isinstance(r, Rejected)]
        assert [e.id for e in examples] == [e.id for e in again if not isinstance(e, Rejected)]
        assert len({e.id for e in examples}) == len(examples)
        for e in examples:
            assert e.messages[-1].role is Role.ASSISTANT
            assert [m.role for m in e.messages[::2]] == [Role.USER] * len(e.messages[::2])


def test_language_filter_composes_with_every_policy() -> None:
    rows = synthetic_trees(90, seed=2)
    for policy in OASST_POLICIES:
        everything, _ = thread_stats(rows, policy)  # type: ignore[arg-type]
        en, _ = thread_stats(rows, policy, ["en"])  # type: ignore[arg-type]
        es, _ = thread_stats(rows, policy, ["es"])  # type: ignore[arg-type]
        assert en + es == everything and 0 < es < en


def test_unknown_policy_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="best_path"):
        list(convert_oasst1(synthetic_trees(2), "oasst1", Counter(), policy="every"))  # type: ignore[arg-type]


def test_synthetic_figures_quoted_in_the_docs() -> None:
    rows = synthetic_trees(1000)
    got = {p: thread_stats(rows, p) for p in OASST_POLICIES}  # type: ignore[arg-type]
    print({p: (n, round(m, 2)) for p, (n, m) in got.items()})
    assert got["best_path"][0] < got["top_ranked_paths"][0] < got["all_paths"][0]


def test_instruct_stats_prints_our_table_one_beside_the_papers(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lemur_data.instruct.cli import _print_stats

    monkeypatch.setenv("COLUMNS", "200")  # one table row per line
    from lemur_data.instruct.stats import TableOneAccumulator

    table = TableOneAccumulator(lambda text: len(text.split()))
    for result in convert_oasst1(synthetic_trees(50), "oasst1", Counter(), policy="all_paths"):
        if not isinstance(result, Rejected):
            table.add("OpenAssistant 1", result)
    rows = table.rows({"OpenAssistant 1": 34_546})
    assert rows[0]["paper_mean_rounds"] == 1.6
    _print_stats({"table1": rows, "token_unit": "words"})
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "OpenAssistant 1" in x)
    assert "34,546" in line and "1.6" in line and f"{rows[0]['mean_rounds']:.2f}" in line
