"""Shared fixtures of lemur-data's tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from lemur_data.corpus import CorpusConfig

_WORDS = ["alpha", "beta", "gamma", "delta", "value", "index", "count", "total"]


def write_small_corpus(root: Path, *, tasks: int = 2) -> CorpusConfig:
    """The smallest corpus that goes through every stage (sources of both types, an exact and a
    near duplicate for the MinHash stages, a trained tokenizer, packing): 12 code files and 12
    text documents under ``root``, and the config that builds them with ``tasks`` tasks."""
    rng = random.Random(7)
    code = root / "code"
    code.mkdir(parents=True)
    for k in range(12):
        body = []
        for f in range(4):
            a, b = rng.sample(_WORDS, 2)
            body += [
                f"def {a}_{b}_{k}_{f}({a}, {b}):",
                f'    """Combine {a} with {b} and return the {rng.choice(_WORDS)}."""',
                f"    return {a} * {rng.randint(2, 99)} + {b}",
                "",
            ]
        (code / f"mod_{k:02d}.py").write_text("\n".join(body))
    (code / "copy.py").write_text((code / "mod_03.py").read_text())  # exact duplicate
    (code / "fork.py").write_text((code / "mod_05.py").read_text() + "\n# tweak\n")  # near
    text = root / "text"
    text.mkdir()
    rows = []
    for i in range(12):
        words = " ".join(rng.choice(_WORDS) for _ in range(40))
        rows.append(json.dumps({"id": f"t{i}", "text": f"The {words} works with the rest."}))
    (text / "docs.jsonl").write_text("\n".join(rows) + "\n")
    return CorpusConfig.from_mapping(
        {
            "name": "small",
            "sources": [
                {"name": "code", "type": "code", "kind": "files", "weight": 0.8,
                 "paths": [str(code / "*.py")]},
                {"name": "web", "type": "text", "kind": "jsonl", "weight": 0.2,
                 "paths": [str(text / "*.jsonl")], "id_field": "id"},
            ],
            "code_filter": {"min_chars": 50},
            "text_filter": {"min_words": 20},
            "dedup": {"bands": 2, "rows_per_band": 4, "ngram_size": 5},
            "mix": {"share_tolerance": 0.2},
            "tokenizer": {"vocab_size": 300},
            "pack": {"seq_len": 64, "rows_per_shard": 64},
            "executor": {"tasks": tasks},
        }
    )  # fmt: skip


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[CorpusConfig, Path]:
    """The small corpus's config and its local build (one worker): the reference output."""
    from lemur_data.corpus import build_corpus

    root = tmp_path_factory.mktemp("small-corpus")
    config = write_small_corpus(root)
    out = root / "local"
    build_corpus(config, out, workers=1)
    return config, out
