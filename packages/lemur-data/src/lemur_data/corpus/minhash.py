"""MinHash signatures and LSH buckets computed with whole-array numpy operations.

Drop-in datatrove steps for ``MinhashDedupSignature`` and ``MinhashDedupBuckets`` (same
constructor arguments as the build passes them) that write and read the same files
(``bucket_XXX/RANK.minhash.sig`` records of ``rows`` hashes plus the document index, sorted;
``BUCKET_WORKER.dups`` records ``(rank1, doc1, rank2, doc2)``). datatrove spends
its time in Python per shingle (join the words, call xxhash) and per permutation value (a
``% (2^61 - 1)`` over an ``shingles x permutations`` array); here a batch of documents is hashed in
a fixed number of numpy calls:

1. the normalized texts are joined and read as one array of code points; a code-point class table
   (word / space / punctuation, decided once per code point by the tokenizer's own regex) gives
   the token boundaries of :class:`~lemur_data.corpus.dedup.CodeWordTokenizer` -- punctuation
   characters are tokens, so ``a+1`` and ``a-1`` differ;
2. each token is hashed once: a polynomial hash from prefix sums of the code points (mod 2^64)
   followed by the splitmix64 finalizer;
3. an n-gram is a rolling combination of ``n`` consecutive token hashes (n shifted array
   multiply-adds), mixed again and cut to 32 bits; windows that cross a document boundary are
   dropped;
4. the ``bands x rows`` permutations are ``a*x + b mod 2^32`` (odd ``a``: bijections), one
   ``(shingles, permutations)`` array per chunk, and ``np.minimum.reduceat`` takes every
   document's minimum at once.

Signatures are 32-bit (``HashConfig(precision=32)``); with 5-gram shingles and hundreds of
shingles per document the chance of two different shingles sharing a 32-bit value is negligible
for the Jaccard estimate (``tests/test_corpus_minhash.py`` checks the estimate's bias and variance
against independent permutations).

Bucket matching sorts each band's records with ``np.lexsort`` instead of a heap of Python
objects; a task handles several bands when there are fewer tasks than bands, or a hash range of
one band when there are more (datatrove's ``workers per bucket``), so memory per task stays bounded.
Every file is written through a temporary file and a rename, and a task that is run again
rewrites its own files from the start, so a killed stage resumes from datatrove's completion marks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import regex
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.utils.text import TextNormConfig, simplify_text
from datatrove.utils.typeshelper import StatHints

from lemur_data.corpus.dedup import CodeWordTokenizer

_U64 = np.uint64
_U32 = np.uint32
_WORD, _SPACE, _PUNCT, _UNKNOWN = 1, 0, 2, -1
_WORD_CHAR = regex.compile(r"\w")
# A space for either engine: datatrove's whitespace normalization (``re``) turns the one kind into
# " ", the tokenizer (``regex``) skips the other, so normalizing whitespace never changes tokens.
_SPACE_CHARS = (regex.compile(r"\s"), re.compile(r"\s"))
# Polynomial base for token hashes and its inverse mod 2^64 (the base is odd, so it exists).
_BASE = 0x100000001B3
_BASE_INV = pow(_BASE, -1, 1 << 64)
# Per-position multipliers of an n-gram's token hashes (odd 64-bit constants).
_NGRAM_MULTIPLIERS = (
    0x9E3779B97F4A7C15,
    0xC2B2AE3D27D4EB4F,
    0x165667B19E3779F9,
    0xD6E8FEB86659FD93,
    0xFF51AFD7ED558CCD,
    0xC4CEB9FE1A85EC53,
    0x94D049BB133111EB,
    0xBF58476D1CE4E5B9,
)
_CHUNK_VALUES = 1 << 21  # shingles x permutations per numpy pass (8 MiB of uint32)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place: every input bit affects every output bit."""
    x ^= x >> _U64(30)
    x *= _U64(0xBF58476D1CE4E5B9)
    x ^= x >> _U64(27)
    x *= _U64(0x94D049BB133111EB)
    x ^= x >> _U64(31)
    return x


class _CodePointClasses:
    """word / space / punctuation of every code point, filled lazily from the regexes."""

    def __init__(self) -> None:
        self.table = np.full(0x110000, _UNKNOWN, dtype=np.int8)
        self._fill(np.arange(128, dtype=_U32))

    def _fill(self, code_points: np.ndarray) -> None:
        for cp in code_points.tolist():
            ch = chr(cp)
            if _WORD_CHAR.match(ch):
                self.table[cp] = _WORD
            elif any(p.match(ch) for p in _SPACE_CHARS):
                self.table[cp] = _SPACE
            else:
                self.table[cp] = _PUNCT

    def classify(self, cps: np.ndarray) -> np.ndarray:
        classes = self.table[cps]
        unknown = classes == _UNKNOWN
        if unknown.any():
            self._fill(np.unique(cps[unknown]))
            classes = self.table[cps]
        return classes


_CLASSES = _CodePointClasses()
_powers: list[np.ndarray] = [np.ones(1, dtype=_U64), np.ones(1, dtype=_U64)]
_POWERS_STEP = 1 << 16


def _base_powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    """``BASE^i`` and ``BASE^-i`` (mod 2^64) for ``i < length``, cached for the task.

    Grown to the next multiple of 64 Ki, not doubled: a batch just past 2^20 code points made
    the cache 32 MiB that stayed resident for the rest of the build."""
    if len(_powers[0]) < length:
        size = -(-length // _POWERS_STEP) * _POWERS_STEP
        for k, base in enumerate((_BASE, _BASE_INV)):
            p = np.full(size, base, dtype=_U64)
            p[0] = 1
            _powers[k] = np.cumprod(p, dtype=_U64)  # wraps mod 2^64, as intended
    return _powers[0][:length], _powers[1][:length]


def code_token_spans(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (code-point offsets) of the tokens ``CodeWordTokenizer`` finds in ``text``
    once datatrove has normalized its whitespace.

    Word runs (``\\w+``) and single non-space, non-word characters, in order; a character that
    datatrove's normalization turns into a space is a separator here.
    """
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=_U32)
    return _spans(_CLASSES.classify(cps))


def _spans(classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    word = classes == _WORD
    punct = classes == _PUNCT
    prev_word = np.zeros_like(word)
    prev_word[1:] = word[:-1]
    next_word = np.zeros_like(word)
    next_word[:-1] = word[1:]
    starts = np.flatnonzero(punct | (word & ~prev_word))
    ends = np.flatnonzero(punct | (word & ~next_word)) + 1
    return starts, ends


class ShingleHasher:
    """32-bit hashes of every word n-gram of each document (the shingles MinHash sees).

    Text is normalized with datatrove's ``simplify_text`` and ``norm_config``, then tokenized as
    :class:`~lemur_data.corpus.dedup.CodeWordTokenizer` does; two documents share a shingle hash
    exactly when they share the n-gram (up to 32-bit hash collisions).
    """

    def __init__(self, n_grams: int, norm_config: TextNormConfig) -> None:
        if not 1 <= n_grams <= len(_NGRAM_MULTIPLIERS):
            raise ValueError(
                f"ngram_size {n_grams} is not supported by the vectorized MinHash; "
                f"use 1..{len(_NGRAM_MULTIPLIERS)}"
            )
        self.n_grams = n_grams
        self.norm_config = norm_config
        c = norm_config
        self._only_case_and_space = not (
            c.norm_numbers
            or c.norm_weekdays
            or c.norm_monthnames
            or c.remove_punctuation
            or c.norm_unicode_diacritics
        )

    def hash_batch(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(hashes, counts)``: all documents' shingle hashes (uint32, document after document)
        and how many belong to each document (0 for one with fewer than ``n_grams`` tokens)."""
        if self._only_case_and_space:
            # Tokens never contain whitespace, so collapsing it (simplify_text's other job) would
            # change nothing: lowercase the whole batch at once.
            normalized = [t.lower() for t in texts] if self.norm_config.lowercase else texts
        else:
            normalized = [simplify_text(t, self.norm_config) for t in texts]
        # Any whitespace separates documents: no token, hence no n-gram, spans two of them.
        joined = "\n".join(normalized)
        cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=_U32)
        doc_starts = np.zeros(len(texts), dtype=np.int64)
        if len(texts) > 1:
            np.cumsum([len(t) + 1 for t in normalized[:-1]], out=doc_starts[1:])
        starts, ends = _spans(_CLASSES.classify(cps))
        n = self.n_grams
        if len(starts) < n:
            return np.empty(0, dtype=_U32), np.zeros(len(texts), dtype=np.int64)
        powers, inverse = _base_powers(len(cps) + 1)
        prefix = np.zeros(len(cps) + 1, dtype=_U64)
        np.cumsum((cps.astype(_U64) + _U64(1)) * powers[: len(cps)], out=prefix[1:])
        tokens = _mix64((prefix[ends] - prefix[starts]) * inverse[starts])
        windows = len(tokens) - n + 1
        shingles = tokens[:windows] * _U64(_NGRAM_MULTIPLIERS[0])
        for j in range(1, n):
            shingles += tokens[j : j + windows] * _U64(_NGRAM_MULTIPLIERS[j])
        token_doc = np.searchsorted(doc_starts, starts, side="right") - 1
        keep = token_doc[:windows] == token_doc[n - 1 :]
        hashes = (_mix64(shingles[keep]) >> _U64(32)).astype(_U32)
        counts = np.bincount(token_doc[:windows][keep], minlength=len(texts))
        return hashes, counts


class MinhashPermutations:
    """``num_hashes`` permutations ``x -> a*x + b mod 2^32`` (``a`` odd) drawn from ``seed``."""

    def __init__(self, num_hashes: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.a = (rng.integers(0, 1 << 32, num_hashes, dtype=np.uint64) | 1).astype(_U32)
        self.b = rng.integers(0, 1 << 32, num_hashes, dtype=np.uint64).astype(_U32)
        self._buffer = np.empty((num_hashes, 0), dtype=_U32)

    def signatures(self, hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """``(documents with count > 0, num_hashes)`` minimum permuted hash of each document."""
        k = len(self.a)
        nonempty = counts > 0
        out = np.empty((int(nonempty.sum()), k), dtype=_U32)
        ends = np.cumsum(counts)
        starts = ends - counts
        rows = np.cumsum(nonempty) - 1  # output row of each document
        chunk = max(1, _CHUNK_VALUES // k)
        if self._buffer.shape[1] < chunk:
            # (permutations, shingles): each permutation's values are contiguous, so the
            # per-document minimum is a short contiguous reduction, and the buffer is reused
            # across chunks so it stays in cache.
            self._buffer = np.empty((k, chunk), dtype=_U32)
        d = 0
        while d < len(counts):
            # Documents d..e-1 whose shingles fit in one chunk (at least one document).
            e = max(d + 1, int(np.searchsorted(ends, starts[d] + chunk, side="right")))
            lo, hi = int(starts[d]), int(ends[e - 1])
            if hi - lo <= chunk:
                if hi > lo:
                    values = self._permute(hashes[lo:hi])
                    keep = nonempty[d:e]
                    firsts = starts[d:e][keep] - lo
                    out[rows[d:e][keep]] = np.minimum.reduceat(values, firsts, axis=1).T
            else:  # one document larger than a chunk: a running minimum over its pieces
                best = np.full(k, np.iinfo(_U32).max, dtype=_U32)
                for piece in range(lo, hi, chunk):
                    values = self._permute(hashes[piece : min(hi, piece + chunk)])
                    np.minimum(best, values.min(axis=1), out=best)
                out[rows[d]] = best
            d = e
        return out

    def _permute(self, hashes: np.ndarray) -> np.ndarray:
        values = self._buffer[:, : len(hashes)]
        np.multiply(self.a[:, None], hashes[None, :], out=values)  # wraps mod 2^32
        values += self.b[:, None]
        return values


def _check_config(config: MinhashConfig) -> None:
    if config.hash_config.precision != 32:
        raise ValueError(
            "the vectorized MinHash writes 32-bit signatures; build the MinhashConfig with "
            "HashConfig(precision=32) (lemur_data.corpus.dedup.minhash_config does)"
        )


def _write_atomic(path: Path, data: bytes | memoryview) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class VectorMinhashSignature(PipelineStep):
    """datatrove step: MinHash signatures of a task's documents, in datatrove's file format.

    Writes ``bucket_XXX/RANK.minhash.sig`` (sorted records of ``rows`` uint32 hashes and the
    document's index in the task's stream) for every band, readable by datatrove's
    ``MinhashDedupBuckets`` as well as :class:`VectorMinhashBuckets`. Documents with fewer than
    ``n_grams`` tokens get no signature, as in datatrove. Documents are hashed in batches of up
    to ``batch_size`` documents or ``batch_chars`` characters (about 40 bytes of scratch per
    character, so a single huge document costs memory in proportion); signatures are kept in
    memory up to ``spill_bytes`` and spilled to one scratch file beyond that.
    """

    type = "🫂 - DEDUP"
    name = "🎯 MinHash signatures (vectorized)"

    def __init__(
        self,
        output_folder: str,
        config: MinhashConfig,
        language: object = None,
        batch_size: int = 256,
        batch_chars: int = 1 << 20,
        spill_bytes: int = 64 << 20,
    ) -> None:
        super().__init__()
        _check_config(config)
        if language is not None and not isinstance(language, CodeWordTokenizer):
            raise ValueError(
                "the vectorized MinHash tokenizes as CodeWordTokenizer does; pass "
                "language=CodeWordTokenizer() (or nothing), or use datatrove's "
                "MinhashDedupSignature for another tokenizer"
            )
        self.output_folder = Path(output_folder)
        self.config = config
        self.batch_size = batch_size
        self.batch_chars = batch_chars
        self.spill_bytes = spill_bytes
        self.hasher = ShingleHasher(config.n_grams, config.norm_config)
        self.permutations = MinhashPermutations(
            config.num_buckets * config.hashes_per_bucket, config.seed
        )

    def run(  # type: ignore[override]
        self, data: Iterable[Document], rank: int = 0, world_size: int = 1
    ) -> None:
        """Signatures of every document; yields nothing (the last step of its pipeline)."""
        k = self.config.num_buckets * self.config.hashes_per_bucket
        spill_path = self.output_folder / "_unsorted" / f"{rank:05d}.u32"
        with self.track_time():
            held: list[np.ndarray] = []  # records: k hashes, then the document index
            spill: BinaryIO | None = None
            try:
                batch: list[str] = []
                first = chars = 0
                for doc in data:
                    self.stat_update(StatHints.total)
                    batch.append(doc.text)
                    chars += len(doc.text)
                    if len(batch) == self.batch_size or chars >= self.batch_chars:
                        held.append(self._sign(batch, first))
                        first += len(batch)
                        batch, chars = [], 0
                        if sum(r.nbytes for r in held) > self.spill_bytes:
                            if spill is None:
                                spill_path.parent.mkdir(parents=True, exist_ok=True)
                                spill = open(spill_path, "wb")  # noqa: SIM115 - closed below
                            for r in held:
                                spill.write(r.data)
                            held = []
                if batch:
                    held.append(self._sign(batch, first))
                if spill is not None:
                    for r in held:
                        spill.write(r.data)
            finally:
                if spill is not None:
                    spill.close()
                # The later stages of a build run in this process: give the cache back.
                _powers[:] = [np.ones(1, dtype=_U64), np.ones(1, dtype=_U64)]
            if spill is not None:
                records = np.memmap(spill_path, dtype=_U32, mode="r").reshape(-1, k + 1)
            elif held:
                records = np.concatenate(held)
            else:
                records = np.empty((0, k + 1), dtype=_U32)
            self._write_buckets(records, rank)
            if spill is not None:
                del records
                spill_path.unlink()

    def _sign(self, texts: list[str], first: int) -> np.ndarray:
        hashes, counts = self.hasher.hash_batch(texts)
        sigs = self.permutations.signatures(hashes, counts)
        records = np.empty((len(sigs), sigs.shape[1] + 1), dtype=_U32)
        records[:, :-1] = sigs
        records[:, -1] = first + np.flatnonzero(counts > 0)
        self.stat_update("signed", value=len(sigs))
        self.stat_update("shingles", value=len(hashes))
        return records

    def _write_buckets(self, records: np.ndarray, rank: int) -> None:
        rows = self.config.hashes_per_bucket
        band_records = np.empty((len(records), rows + 1), dtype=_U32)
        band_records[:, rows] = records[:, -1]
        for band in range(self.config.num_buckets):
            band_records[:, :rows] = records[:, band * rows : (band + 1) * rows]
            # Lexicographic order of (hashes..., doc index): lexsort's last key is primary.
            order = np.lexsort(band_records.T[::-1])
            _write_atomic(
                self.output_folder / f"bucket_{band:03d}" / f"{rank:05d}.minhash.sig",
                np.ascontiguousarray(band_records[order]).data,
            )


class VectorMinhashBuckets(PipelineStep):
    """datatrove step: pairs of documents whose signatures agree on a whole band.

    Reads every task's ``bucket_XXX/*.minhash.sig`` and writes ``BUCKET_WORKER.dups`` (records
    ``<4I``: rank and index of two documents) in datatrove's format. With ``world_size`` smaller
    than the number of bands, task ``rank`` handles bands ``rank, rank + world_size, ...``; with a
    multiple of it, each band is split by hash range over ``world_size / bands`` tasks.
    """

    type = "🫂 - DEDUP"
    name = "🎯 MinHash LSH buckets (vectorized)"

    def __init__(
        self,
        input_folder: str,
        output_folder: str,
        config: MinhashConfig,
        only_dedup_in_index: bool = False,
    ) -> None:
        super().__init__()
        _check_config(config)
        if only_dedup_in_index:
            raise ValueError(
                "VectorMinhashBuckets matches documents of the input against each other; it has "
                "no index (only_dedup_in_index=False), use datatrove's MinhashDedupBuckets for one"
            )
        self.input_folder = Path(input_folder)
        self.output_folder = Path(output_folder)
        self.config = config

    def run(  # type: ignore[override]
        self, data: object = None, rank: int = 0, world_size: int = 1
    ) -> None:
        """Write this task's duplicate pairs; yields nothing."""
        bands = self.config.num_buckets
        with self.track_time():
            if world_size <= bands:
                work = [(band, 0, 1) for band in range(rank, bands, world_size)]
            elif world_size % bands == 0:
                per_band = world_size // bands
                work = [(*divmod(rank, per_band), per_band)]
            else:
                raise ValueError(
                    f"{world_size} bucket tasks for {bands} bands: use at most {bands} tasks "
                    f"or a multiple of {bands}"
                )
            for band, worker, workers in work:
                pairs = self._band_pairs(band, worker, workers)
                self.stat_update("total_matches", value=len(pairs))
                _write_atomic(self.output_folder / f"{band:05d}_{worker:02d}.dups", pairs.data)

    def _band_pairs(self, band: int, worker: int, workers: int) -> np.ndarray:
        rows = self.config.hashes_per_bucket
        files = sorted((self.input_folder / f"bucket_{band:03d}").glob("*.minhash.sig"))
        tables = [np.memmap(f, dtype=_U32, mode="r").reshape(-1, rows + 1) for f in files]
        tables = [t for t in tables if len(t)]
        lo, hi = self._hash_range(tables, worker, workers)
        parts = []
        for path, table in zip(files, tables, strict=False):
            first = table[:, 0]
            a = int(np.searchsorted(first, lo)) if lo > 0 else 0
            b = int(np.searchsorted(first, hi)) if hi < 1 << 32 else len(table)
            part = np.empty((b - a, rows + 2), dtype=_U32)
            part[:, : rows + 1] = table[a:b]
            part[:, rows + 1] = int(path.name.split(".")[0])
            parts.append(part)
        if not parts:
            return np.empty((0, 4), dtype=_U32)
        records = np.concatenate(parts)
        # Sort by (hashes..., rank, doc index); equal neighbours are matches.
        # np.lexsort's last key is the primary one.
        keys = [records[:, rows], records[:, rows + 1], *[records[:, c] for c in range(rows)][::-1]]
        records = records[np.lexsort(keys)]
        same = np.all(records[1:, :rows] == records[:-1, :rows], axis=1)
        i = np.flatnonzero(same)
        pairs = np.empty((len(i), 4), dtype=_U32)
        pairs[:, 0] = records[i, rows + 1]
        pairs[:, 1] = records[i, rows]
        pairs[:, 2] = records[i + 1, rows + 1]
        pairs[:, 3] = records[i + 1, rows]
        return pairs.astype("<u4")

    @staticmethod
    def _hash_range(tables: list[np.ndarray], worker: int, workers: int) -> tuple[int, int]:
        """``[lo, hi)`` of first hashes for ``worker`` of ``workers``, cut at quantiles of the
        first hashes of all files (minimum hashes are far from uniform)."""
        top = 1 << 32
        if workers == 1 or not tables:
            return 0, top
        sample = np.sort(np.concatenate([t[:: max(1, len(t) // 1024), 0] for t in tables]))
        cuts = [0] + [int(sample[len(sample) * w // workers]) for w in range(1, workers)] + [top]
        return cuts[worker], cuts[worker + 1]
