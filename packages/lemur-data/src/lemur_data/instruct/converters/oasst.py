"""OpenAssistant/oasst1: flat message rows -> conversation threads, by a selectable policy.

The published schema has one row per message (``message_id``, ``parent_id``, ``text``,
``role`` in {prompter, assistant}, ``lang``, ``rank``, ``deleted``, ``message_tree_id``, ...).
Siblings are ordered best first: the lowest ``rank`` (0 is best; unranked replies come after
ranked ones), ties broken by ``created_date`` then ``message_id``, so no result depends on row
order. How threads are cut out of a tree is the ``policy`` (:data:`OASST_POLICIES`):

* ``best_path`` — one thread per tree: from the root prompt, at every level the best reply,
  ending at the last assistant reply (``oasst1/<lang>/<tree>``). Instances = trees.
* ``all_paths`` — every root-to-assistant path, one per assistant message
  (``oasst1/<lang>/<tree>/<message>``). Instances = assistant messages; a path's rounds = the
  assistant's depth in assistant turns.
* ``top_ranked_paths`` — every path that ends in a top-ranked assistant reply (the best reply
  of its prompt, by the order above). Instances = prompts that got a reply.

Every policy follows only alternating, non-empty, undeleted messages; a thread's language is
its root prompt's ``lang`` (``languages`` keeps only those trees).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal, get_args

from lemur_core import Message, Role

from lemur_data.instruct.converters.rows import ConvertResult, Fixes, Rejected, Row, make_example

_ROLES = {"prompter": Role.USER, "assistant": Role.ASSISTANT}

OasstPolicy = Literal["best_path", "all_paths", "top_ranked_paths"]
OASST_POLICIES: tuple[str, ...] = get_args(OasstPolicy)


def _rank_key(row: Row) -> tuple[int, float, str, str]:
    rank = row.get("rank")
    ranked = isinstance(rank, int | float) and not isinstance(rank, bool)
    return (
        0 if ranked else 1,
        float(rank) if ranked else 0.0,  # type: ignore[arg-type]
        str(row.get("created_date") or ""),
        str(row["message_id"]),
    )


def convert_oasst1(
    rows: Iterable[Row],
    source: str,
    fixes: Fixes,
    languages: Sequence[str] | None = None,
    policy: OasstPolicy = "best_path",
) -> Iterator[ConvertResult]:
    """Yield the threads ``policy`` cuts from each tree (see the module docstring), or a
    :class:`Rejected` per unusable row or tree.

    Rows lacking ``message_id``/``role``/``text`` are ``malformed_row``; ``deleted`` messages
    are skipped (``deleted_message``) together with their subtrees; a reply whose parent is not
    in the data is an ``orphan_message``. A tree whose thread has no assistant reply is
    ``no_assistant_reply``; with ``languages`` set, other-language trees are
    ``language_not_selected``.
    """
    by_id: dict[str, Row] = {}
    children: dict[str, list[Row]] = defaultdict(list)
    roots: list[Row] = []
    for index, row in enumerate(rows):
        message_id = row.get("message_id") if isinstance(row, dict) else None
        role = row.get("role") if isinstance(row, dict) else None
        text = row.get("text") if isinstance(row, dict) else None
        if not isinstance(message_id, str) or role not in _ROLES or not isinstance(text, str):
            yield Rejected(
                str(message_id or f"row{index}"),
                "malformed_row",
                "needs message_id, role in {prompter, assistant}, text",
            )
            continue
        if row.get("deleted") is True:
            yield Rejected(message_id, "deleted_message")
            continue
        by_id[message_id] = row
    for message_id, row in by_id.items():
        parent = row.get("parent_id")
        if parent is None:
            if row["role"] == "prompter":
                roots.append(row)
            else:
                yield Rejected(message_id, "malformed_row", "a root message must be a prompt")
        elif parent in by_id:
            children[str(parent)].append(row)
        else:
            yield Rejected(message_id, "orphan_message", f"parent {parent} is missing or deleted")
    roots.sort(key=lambda r: str(r.get("message_tree_id") or r["message_id"]))
    for root in roots:
        tree_id = str(root.get("message_tree_id") or root["message_id"])
        lang = str(root.get("lang") or "und")
        row_id = f"oasst1/{lang}/{tree_id}"
        if languages is not None and lang not in languages:
            yield Rejected(row_id, "language_not_selected", lang)
            continue
        if policy == "best_path":
            thread = _best_path(root, children)
            if len(thread) > 1 and len(thread) % 2:
                thread.pop()  # a trailing prompt without a reply teaches nothing
                fixes["oasst1_trailing_prompt_dropped"] += 1
            paths = [thread]
        elif policy in ("all_paths", "top_ranked_paths"):
            paths = list(_assistant_paths(root, children, top_only=policy == "top_ranked_paths"))
        else:
            raise ValueError(f"unknown OASST1 policy {policy!r}; use one of {OASST_POLICIES}")
        paths = [p for p in paths if len(p) >= 2]
        if not paths:
            yield Rejected(row_id, "no_assistant_reply")
            continue
        for thread in paths:
            messages = [Message(role=_ROLES[r["role"]], content=r["text"].strip()) for r in thread]
            example_id = row_id if policy == "best_path" else f"{row_id}/{thread[-1]['message_id']}"
            yield make_example(example_id, source, messages)


def _replies(row: Row, children: dict[str, list[Row]]) -> list[Row]:
    """The usable replies to ``row``, best first (alternating role, non-empty text)."""
    expected = "assistant" if row["role"] == "prompter" else "prompter"
    replies = [r for r in children.get(str(row["message_id"]), []) if r["role"] == expected]
    return sorted((r for r in replies if r["text"].strip()), key=_rank_key)


def _best_path(root: Row, children: dict[str, list[Row]]) -> list[Row]:
    thread = [root]
    while replies := _replies(thread[-1], children):
        thread.append(replies[0])
    return thread


def _assistant_paths(
    root: Row, children: dict[str, list[Row]], *, top_only: bool
) -> Iterator[list[Row]]:
    """Root-to-assistant paths in depth-first, best-first order."""
    stack: list[list[Row]] = [[root]]
    while stack:
        path = stack.pop()
        replies = _replies(path[-1], children)
        if path[-1]["role"] == "prompter":
            for rank, reply in enumerate(replies):
                if rank == 0 or not top_only:
                    yield [*path, reply]
        # Push in reverse so the best reply's subtree comes out first.
        stack.extend([*path, reply] for reply in reversed(replies))


def thread_stats(
    rows: Iterable[Row], policy: OasstPolicy, languages: Sequence[str] | None = None
) -> tuple[int, float]:
    """(instances, mean rounds) that ``policy`` gives on ``rows`` — the Table 1 figures."""
    from collections import Counter

    n, rounds = 0, 0
    for result in convert_oasst1(rows, "oasst1", Counter(), languages, policy):
        if not isinstance(result, Rejected):
            n += 1
            rounds += sum(1 for m in result.messages if m.role is Role.ASSISTANT)
    return n, (rounds / n if n else 0.0)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lemur_data.instruct.converters.oasst FILE... [--lang en]``: each policy's counts."""
    import argparse
    from pathlib import Path

    from lemur_data.instruct.readers import _read_file

    parser = argparse.ArgumentParser(prog="python -m lemur_data.instruct.converters.oasst")
    parser.add_argument("files", nargs="+", type=Path, help="oasst1 message rows (.jsonl/.parquet)")
    parser.add_argument("--lang", action="append", help="keep only these root languages")
    args = parser.parse_args(argv)
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)} (download OpenAssistant/oasst1 first)")
    rows = [r for f in args.files for r in _read_file(f) if isinstance(r, dict)]
    print(f"{len(rows):,} message rows; paper Table 1: 34,546 instances, 1.6 rounds")
    for policy in OASST_POLICIES:
        n, mean = thread_stats(rows, policy, args.lang)  # type: ignore[arg-type]
        print(f"{policy:18s} {n:>8,} instances  {mean:.2f} mean rounds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
