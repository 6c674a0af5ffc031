"""The vectorized n-gram check gives the verdicts of a plain per-n-gram scan on real text."""

from __future__ import annotations

import random
import sysconfig
from pathlib import Path

from lemur_data.decontam import Decontaminator, _is_informative, words
from lemur_data.instruct.decontam_refs import humaneval_references

Tables = tuple[dict[str, str], dict[str, str]]


def _tables(refs: dict[str, str], n: int, min_words: int = 8) -> Tables:
    """Per-n-gram reference index: the n-gram *strings* (no hashing) -> first item id."""
    full: dict[str, str] = {}
    short: dict[str, str] = {}
    for item_id in sorted(refs):
        tokens = words(refs[item_id])
        if len(tokens) < min(n, min_words):
            continue
        if len(tokens) < n:
            if _is_informative(tokens):
                short.setdefault(" ".join(tokens), item_id)
            continue
        for start in range(len(tokens) - n + 1):
            if _is_informative(tokens[start : start + n]):
                full.setdefault(" ".join(tokens[start : start + n]), item_id)
    return full, short


def _scan(tables: Tables, text: str, n: int) -> list[tuple[str, str]]:
    """Every start of every length, in the order of the documented scan."""
    full, short = tables
    tokens = words(text)
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    short_lengths = sorted({len(k.split(" ")) for k in short})
    for length, table in [(n, full), *((ln, short) for ln in short_lengths)]:
        for start in range(len(tokens) - length + 1):
            gram = " ".join(tokens[start : start + length])
            if gram in table and gram not in seen:
                seen.add(gram)
                found.append((table[gram], gram))
    return found


def test_hits_equal_a_per_ngram_string_scan_on_stdlib_and_humaneval() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(stdlib.glob("*.py"))]
    rng = random.Random(7)
    sample = rng.sample(texts, 40)
    refs = {f"std/{i}": t for i, t in enumerate(sample[:6])}
    for i, t in enumerate(sample[6:20]):  # short items: one 8..12-word line each
        lines = [line for line in t.splitlines() if 8 <= len(words(line)) < 13]
        if lines:
            refs[f"short/{i}"] = rng.choice(lines)
    he = humaneval_references() or {}
    refs.update(dict(list(he.items())[:40]))
    docs = sample[6:] + list(he.values())[:60]
    docs.append("\n".join(list(he.values())[:3]).upper() + sample[0][:3000])
    flagged = 0
    for n in (13, 8):
        deco = Decontaminator(refs, n=n)
        tables = _tables(refs, n)
        for doc in docs:
            expected = _scan(tables, doc, n)
            assert [(h.item_id, h.ngram) for h in deco.hits(doc)] == expected
            assert deco.is_contaminated(doc) == bool(expected)
            flagged += bool(expected)
    assert flagged > 10  # the comparison covered documents with hits, not only clean ones


def test_a_window_with_a_word_no_reference_uses_is_never_a_hit() -> None:
    ref = " ".join(f"w{i}" for i in range(20))
    deco = Decontaminator({"r": ref})
    doc = " ".join(f"w{i}" for i in range(6)) + " unseen " + " ".join(f"w{i}" for i in range(6, 20))
    hits = deco.hits(doc)
    assert all("unseen" not in h.ngram for h in hits)
    assert [h.ngram for h in hits] == [
        " ".join(f"w{i}" for i in range(6, 19)),
        " ".join(f"w{i}" for i in range(7, 20)),
    ]


def test_ascii_word_split_equals_the_unicode_word_class() -> None:
    import regex

    unicode_words = regex.compile(r"\w+", regex.UNICODE)
    rng = random.Random(3)
    alphabet = [chr(c) for c in range(128)]
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
        assert words(text) == unicode_words.findall(text.lower())
    assert words("".join(alphabet)) == unicode_words.findall("".join(alphabet).lower())
    assert words("Ünïcode ½ x_1") == unicode_words.findall("ünïcode ½ x_1")
