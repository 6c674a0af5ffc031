"""The vectorized MinHash step gives its scratch back: the later stages of a build run in the
same process, so a cache kept past the step stays in the build's peak memory."""

from __future__ import annotations

from pathlib import Path

from datatrove.data import Document
from lemur_data.corpus import minhash as vm
from lemur_data.corpus.config import DedupConfig
from lemur_data.corpus.dedup import minhash_config


def test_the_power_cache_grows_in_64ki_steps_and_is_released_after_a_task(
    tmp_path: Path,
) -> None:
    powers, inverse = vm._base_powers((1 << 20) + 5)
    assert len(powers) == len(inverse) == (1 << 20) + 5
    # Next multiple of 64 Ki, not doubled to 2^21 (16 MiB per array kept for nothing).
    assert len(vm._powers[0]) == (1 << 20) + (1 << 16)
    step = vm.VectorMinhashSignature(
        str(tmp_path / "sigs"), config=minhash_config(DedupConfig(bands=4, rows_per_band=2))
    )
    docs = [
        Document(text=f"def f{i}(x):\n    return x * {i} + {i * i} - y{i}\n" * 40, id=str(i))
        for i in range(20)
    ]
    step.run(iter(docs), rank=0, world_size=1)
    assert list((tmp_path / "sigs").rglob("*.sig")), "the task wrote its signatures"
    assert [len(p) for p in vm._powers] == [1, 1]
    # The cache still serves correct powers afterwards (BASE^0 = 1, BASE^1 = BASE).
    again, _ = vm._base_powers(3)
    assert again[0] == 1 and again[1] == vm._BASE
