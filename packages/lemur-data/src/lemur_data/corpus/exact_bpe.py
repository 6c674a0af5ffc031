"""A faster encoder for byte-level BPE tokenizers that gives exactly the Hugging Face ids.

The Hugging Face ``tokenizers`` BPE (with its Oniguruma pre-tokenizer and offset tracking)
encodes about 1.5 MB/s per core here; ``tiktoken`` (optional: ``pip install tiktoken``) runs
the same algorithm about 4-5x faster. It is used only where it is exact:

* the tokenizer is a plain GPT-2-style byte-level BPE: no normalizer, the ``ByteLevel``
  pre-tokenizer with its GPT-2 regex and no prefix space, a BPE model without dropout,
  byte fallback or subword affixes, no truncation or padding;
* merge ``i`` produces token id ``i``-th smallest (ids grow with merge priority and no token is
  produced twice), so tiktoken's rank = token id is HF's merge order;
* every multi-byte token encodes to itself under HF's BPE (tiktoken looks a whole piece up in
  the vocabulary before merging; HF merges it, which must end at the same token);
* a document is sent to HF instead when it contains an added token's text (HF splits those
  out even without special tokens), a character with a byte the vocabulary lacks (HF drops
  it), or a lone surrogate (HF refuses it): a few regex checks per document, at C speed.

On top of those static checks :class:`~lemur_data.corpus.tokenize.TokenizeStep` compares the
first batch a process encodes with HF and drops back to HF for good on any difference;
``LEMUR_TOKENIZE_ENGINE=hf`` turns the fast path off.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from tokenizers import Tokenizer

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
"""The regex of HF's ``ByteLevel`` pre-tokenizer (``use_regex``), GPT-2's split."""
ENGINE_ENV = "LEMUR_TOKENIZE_ENGINE"
"""Environment variable: ``hf`` forces the Hugging Face encoder everywhere."""


def byte_level_alphabet() -> dict[str, int]:
    """HF/GPT-2 ``ByteLevel``'s printable character for each byte, inverted: char -> byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def _char_ranges_with_bytes(missing: set[int]) -> str:
    """A regex character class body matching every character whose UTF-8 has a byte in
    ``missing`` (lead bytes cover whole ranges; a missing continuation byte means any
    non-ASCII character)."""
    parts = [re.escape(chr(b)) for b in sorted(missing) if b < 0x80]
    if any(0x80 <= b < 0xC0 for b in missing):
        parts.append("\x80-\U0010ffff")
        return "".join(parts)
    for lead in sorted(b for b in missing if b >= 0xC2):
        if lead < 0xE0:
            lo, size = (lead - 0xC0) << 6, 1 << 6
        elif lead < 0xF0:
            lo, size = (lead - 0xE0) << 12, 1 << 12
        elif lead < 0xF5:
            lo, size = (lead - 0xF0) << 18, 1 << 18
        else:
            continue  # never in UTF-8
        hi = min(lo + size - 1, 0x10FFFF)
        parts.append(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}")
    return "".join(parts)


def _merge_pairs(merges: list[Any]) -> list[tuple[str, str]]:
    pairs = []
    for merge in merges:
        a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
        pairs.append((a, b))
    return pairs


def _why_not(spec: dict[str, Any]) -> str | None:
    """Why the tokenizer described by ``tokenizer.json`` is not a plain byte-level BPE."""
    pre = spec.get("pre_tokenizer") or {}
    model = spec.get("model") or {}
    checks = {
        "has a normalizer": spec.get("normalizer") is not None,
        "truncates or pads": bool(spec.get("truncation") or spec.get("padding")),
        "pre-tokenizer is not ByteLevel(use_regex, no prefix space)": not (
            pre.get("type") == "ByteLevel"
            and pre.get("use_regex", True)
            and not pre.get("add_prefix_space", False)
        ),
        "model is not a plain BPE": not (
            model.get("type") == "BPE"
            and model.get("dropout") is None
            and not model.get("byte_fallback", False)
            and not model.get("continuing_subword_prefix")
            and not model.get("end_of_word_suffix")
        ),
    }
    return next((why for why, failed in checks.items() if failed), None)


@dataclass(frozen=True)
class ExactBPE:
    """tiktoken's encoder for one HF tokenizer, and the documents it must leave to HF."""

    encoding: Any  # tiktoken.Encoding (tiktoken is optional, so not a typed import)
    added: tuple[str, ...]  # added tokens' texts: HF splits them out of any text
    needs_hf: re.Pattern[str]  # characters HF drops (no byte token) or refuses (surrogates)

    def encode(self, text: str) -> np.ndarray | None:
        """The token ids of ``text`` (uint32), or ``None`` when only HF gives them exactly."""
        # ``in`` per added token is several times faster than one regex alternation of them.
        if any(token in text for token in self.added) or self.needs_hf.search(text):
            return None
        ids: np.ndarray = self.encoding.encode_to_numpy(text, disallowed_special=())
        return ids


def exact_bpe(tokenizer: Tokenizer) -> tuple[ExactBPE | None, str]:
    """The fast exact encoder for ``tokenizer`` and ``""``, or ``None`` and the reason why not."""
    if os.environ.get(ENGINE_ENV, "").lower() == "hf":
        return None, f"{ENGINE_ENV}=hf"
    try:
        import tiktoken
    except ImportError:
        return None, "tiktoken is not installed"
    spec = json.loads(tokenizer.to_str())
    why = _why_not(spec)
    if why is not None:
        return None, f"the tokenizer {why}"
    vocab: dict[str, int] = spec["model"]["vocab"]
    added = {t["content"]: int(t["id"]) for t in spec.get("added_tokens", [])}
    alphabet = byte_level_alphabet()
    ranks: dict[bytes, int] = {}
    for token, token_id in vocab.items():
        if token in added:
            continue
        if any(c not in alphabet for c in token):
            return None, f"vocabulary entry {token!r} is not byte-level"
        ranks[bytes(alphabet[c] for c in token)] = token_id
    if len(set(ranks.values())) != len(ranks) or set(ranks.values()) & set(added.values()):
        return None, "token ids are not unique"
    produced = []
    for a, b in _merge_pairs(spec["model"]["merges"]):
        if a + b not in vocab:
            return None, f"merge {a!r} + {b!r} makes no vocabulary entry"
        produced.append(vocab[a + b])
    if any(x >= y for x, y in itertools.pairwise(produced)):
        return None, "token ids do not grow with merge priority"
    multi = [token for token in vocab if token not in added and len(token) > 1]
    if set(multi) - {tokenizer.id_to_token(i) for i in produced}:
        return None, "a vocabulary entry is made by no merge"
    model = tokenizer.model
    if any(
        [t.value for t in model.tokenize(token)] != [token]  # type: ignore[attr-defined]
        for token in multi
    ):
        return None, "a vocabulary entry does not BPE-encode to itself"
    singles = {piece[0] for piece in ranks if len(piece) == 1}
    missing = set(range(256)) - singles
    encoding = tiktoken.Encoding(
        name="lemur-exact-bpe", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={}
    )
    needs_hf = re.compile(f"[{_char_ranges_with_bytes(missing)}\ud800-\udfff]")
    return ExactBPE(encoding, tuple(added), needs_hf), ""
