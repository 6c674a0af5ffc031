"""The fast paths of the bigcode code rules give the verdicts of a full count.

alnum_count is str.isalnum's count; the data-file rule's early stop gives the verdict of
counting every line."""

from __future__ import annotations

import random

import pytest
from lemur_data.corpus.config import CodeFilterConfig
from lemur_data.corpus.filters import alnum_count, code_rejection, is_data_line


def test_every_code_point_counts_as_str_isalnum_says() -> None:
    # All of Unicode, lone surrogates included (JSON input can carry them), one at a time
    # and all together.
    points = [chr(c) for c in range(0x110000)]
    assert [alnum_count(ch) for ch in points] == [int(ch.isalnum()) for ch in points]
    everything = "".join(points)
    assert alnum_count(everything) == sum(ch.isalnum() for ch in everything)


@pytest.mark.parametrize("seed", range(5))
def test_mixed_ascii_and_unicode_text(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = [chr(c) for c in range(128)] + list("éßΩжあ١٢٣①\u0301\u200b\U0001f600𝔘\ud800")
    text = "".join(rng.choice(alphabet) for _ in range(5000))
    assert alnum_count(text) == sum(ch.isalnum() for ch in text)
    assert alnum_count(text.encode("ascii", "ignore").decode()) == sum(
        ch.isalnum() for ch in text if ch.isascii()
    )
    assert alnum_count("") == 0


@pytest.mark.parametrize("limit", [0.05, 0.2, 0.5, 0.8, 0.8000001, 1.0])
def test_data_file_verdict_equals_the_fraction_of_all_lines(limit: float) -> None:
    rng = random.Random(int(limit * 1e7))
    config = CodeFilterConfig(
        max_data_line_fraction=limit, min_alphanumeric_fraction=0, min_chars=0
    )
    rejected = 0
    for _ in range(300):
        total = rng.randint(1, 40)
        data = rng.randint(0, total)
        lines = ["1, 2, 3,"] * data + ["x = f(y)"] * (total - data) + [""] * rng.randint(0, 3)
        rng.shuffle(lines)
        text = "\n".join(lines) + "\n"
        non_blank = [line for line in lines if line.strip()]
        fraction = sum(is_data_line(line) for line in non_blank) / len(non_blank)
        expected = "data_file" if fraction > limit else None
        assert code_rejection(text, config) == expected
        rejected += expected is not None
    assert 0 < rejected < 300 or limit == 1.0
