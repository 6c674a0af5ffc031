"""Numbers as people read them in planners and estimates: ``69.0B`` params, ``3.42 TB``.

Counts use SI suffixes (K, M, B, T: thousand, million, billion, trillion); bytes use decimal
units (kB, MB, GB, TB, PB) like disk vendors and cloud bills. :func:`human_value` picks one by
the quantity's name, so a table of estimates renders each row the way its unit reads.
"""

from __future__ import annotations

_COUNT_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))
_BYTE_UNITS = ((1e15, "PB"), (1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"))


def human_count(value: float) -> str:
    """``69e9`` -> ``69.0B``; ``753_289_216`` -> ``753.3M``; below a thousand, as written
    (whole numbers without decimals, others to two)."""
    magnitude = abs(value)
    for scale, suffix in _COUNT_SUFFIXES:
        if magnitude >= scale:
            return f"{value / scale:.1f}{suffix}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def human_bytes(value: float) -> str:
    """``3.4236e12`` -> ``3.42 TB``; below a kilobyte, ``512 B``."""
    magnitude = abs(value)
    for scale, unit in _BYTE_UNITS:
        if magnitude >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f} B"


def human_value(name: str, value: object) -> str:
    """``value`` rendered for the quantity called ``name``: ``*bytes*`` as bytes, counts
    (``params``, ``*tokens*``, ``rows``, ``*examples*``) with suffixes, other
    floats (hours, GiB, epochs, ratios) to two decimals, everything else as ``str``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    lowered = name.lower()
    if "bytes" in lowered:
        return human_bytes(value)
    if any(word in lowered for word in ("params", "tokens", "rows", "examples")):
        return human_count(value)
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}"
