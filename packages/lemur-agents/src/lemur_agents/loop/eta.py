"""The progress bar's ETA, from turns rather than episodes.

Episodes differ by up to their whole turn budget (a solved first turn against ten turns of
debugging), so "episodes done per second" says little while the first ones run: a 24-minute
stall showed ``-:--:--`` because no episode had finished. Turns finish all the time, so the
ETA is the turns still expected divided by the rate at which turns complete.

The turns still expected come from the turn budget of the episodes left: a pending episode may
play its whole ``max_turns``, a live one its budget minus the turns it played. Once episodes
have finished, each budget is scaled by the share of their budgets those used (finished ones
used 40% of their turns: expect 40% of the rest), never below what a live one has already
played.
"""

from __future__ import annotations

from collections.abc import Iterable


def turns_expected(left: Iterable[tuple[int, int]], finished: Iterable[tuple[int, int]]) -> float:
    """Turns the episodes ``left`` (``(turn budget, turns played)`` each) are still expected to
    play, scaled by the budget share the ``finished`` episodes used."""
    used = budget = 0
    for b, played in finished:
        used, budget = used + played, budget + b
    share = used / budget if budget else 1.0
    return sum(max(0.0, b * share - played) for b, played in left)


def turns_eta(
    elapsed: float,
    turns_done: int,
    left: Iterable[tuple[int, int]],
    finished: Iterable[tuple[int, int]],
) -> float | None:
    """Seconds until the episodes ``left`` are done at the rate turns completed so far
    (``turns_done`` in ``elapsed`` seconds); ``None`` before any turn completed."""
    if turns_done <= 0 or elapsed <= 0:
        return None
    return turns_expected(left, finished) / (turns_done / elapsed)


def format_eta(seconds: float | None) -> str:
    """``H:MM:SS``, or ``-:--:--`` when there is no estimate yet."""
    if seconds is None:
        return "-:--:--"
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
