"""A micro recipe end to end: artifacts cross every package boundary, with lineage and resume.

corpus (lemur-data) -> pretrain (lemur-train, JAX) -> HF model -> sft (lemur-sft, torch) with the
instruction set (lemur-data) -> eval (lemur-bench over lemur-agents) reading the SFT chat template.

The micro corpus is mostly a source with structure a bigram cannot see and a small transformer
learns in seconds: runs of word 4-tuples ``a b G(a) H(b)`` with ``a``, ``b`` drawn at random from
16 words and ``G``, ``H`` fixed permutations, so the third and fourth words follow from the words
two back, never from the previous one. The held-out loss on that source must end below the
corpus's own interpolated-bigram line for it (stdlib code, the other source, would need far more
steps than an integration test has: docs/train.md, the sweep).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from lemur_core import EpisodeRecord, Message, file_sha256, read_manifest, tree_sha256

from lemur.layout import Layout
from lemur.pipeline import run_recipe
from lemur.recipe import load_recipe
from lemur.stages import EVAL, PRETRAIN, SFT

pytestmark = pytest.mark.slow


PAIRS_WORDS = [
    "because",
    "between",
    "through",
    "should",
    "would",
    "which",
    "their",
    "there",
    "about",
    "after",
    "other",
    "where",
    "these",
    "those",
    "that",
    "with",
]


def write_pairs_documents(directory: Path, documents: int = 60, tuples: int = 75) -> Path:
    """``documents`` text files of ``tuples`` word 4-tuples ``a b G(a) H(b)`` (see the module
    docstring), 12 words a line, from a fixed seed; returns ``directory``."""
    import random

    rng = random.Random(0)
    g, h = list(PAIRS_WORDS), list(PAIRS_WORDS)
    rng.shuffle(g)
    rng.shuffle(h)
    second, fourth = dict(zip(PAIRS_WORDS, g, strict=True)), dict(zip(PAIRS_WORDS, h, strict=True))
    directory.mkdir(parents=True, exist_ok=True)
    for number in range(documents):
        words: list[str] = []
        for _ in range(tuples):
            a, b = rng.choice(PAIRS_WORDS), rng.choice(PAIRS_WORDS)
            words += [a, b, second[a], fourth[b]]
        lines = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
        (directory / f"doc{number:03d}.txt").write_text("\n".join(lines) + "\n")
    return directory


def _micro_sections(pairs_dir: Path) -> dict[str, Any]:
    from lemur_data.corpus import CorpusConfig
    from lemur_data.instruct import InstructConfig
    from lemur_sft import SFTConfig
    from lemur_train import TrainConfig

    corpus = CorpusConfig.tiny().model_dump(mode="json")
    code = next(s for s in corpus["sources"] if s["name"] == "stdlib-python")
    code.update(max_documents=40, weight=0.1)
    pairs = {"name": "pairs", "type": "text", "kind": "files", "weight": 0.9}
    corpus["sources"] = [{**pairs, "paths": [str(pairs_dir / "*.txt")]}, code]
    corpus["tokenizer"]["vocab_size"] = 512
    corpus["pack"]["seq_len"] = 64
    corpus["mix"]["share_tolerance"] = 0.5
    corpus["executor"]["tasks"] = 1

    instruct = InstructConfig.tiny().model_dump(mode="json")
    for source in instruct["sources"]:
        source["stdlib"]["max_examples"] = 12

    pretrain = TrainConfig.tiny().model_dump(mode="json")
    pretrain["model"].update(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    pretrain.update(max_steps=200, global_batch_size=8, log_every_steps=10, eval_every_steps=100)
    pretrain["checkpoint"]["every_steps"] = 100
    pretrain["optimizer"]["warmup_steps"] = 5

    sft = SFTConfig.tiny().model_dump(mode="json")
    sft.update(
        max_steps=3,
        global_batch_size=4,
        micro_batch_size=2,
        grad_accum_steps=2,
        seq_len=256,
        eval_examples=3,
    )
    sft["checkpoint"]["every_steps"] = 2
    return {"corpus": corpus, "instruct": instruct, "pretrain": pretrain, "sft": sft}


def _run_dirs(layout: Layout) -> list[Path]:
    """The eval stage's per-model run directories (not the lock files beside them)."""
    runs = layout.stage_dir(EVAL) / "runs"
    return sorted(d for d in runs.iterdir() if d.is_dir() and not d.name.startswith("."))


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Layout, list[Any]]:
    root = tmp_path_factory.mktemp("micro")
    recipe = {
        "name": "micro",
        "workdir": str(root / "run"),
        **_micro_sections(write_pairs_documents(root / "pairs")),
        "eval": {
            "suite": "self-debug",
            "limit_per_task": 1,
            "concurrency": 4,
            "max_new_tokens": 24,
            "models": [{"name": "Lemur-Chat (micro)", "spec": "stage:sft"}],
        },
    }
    path = root / "micro.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    outcomes = run_recipe(load_recipe(path))
    return path, Layout(root / "run"), outcomes


def test_every_stage_builds_an_artifact_with_lineage(
    micro_run: tuple[Path, Layout, list[Any]],
) -> None:
    _, layout, outcomes = micro_run
    assert [o.stage for o in outcomes] == ["corpus", "instruct", "pretrain", "sft", "eval"]
    assert all(o.status == "built" and not o.result.reused for o in outcomes)
    corpus = read_manifest(layout.root / "corpus", kind="corpus")
    instruct = read_manifest(layout.root / "instruct", kind="instruct")
    base = read_manifest(layout.artifact(PRETRAIN), kind="model")
    chat = read_manifest(layout.artifact(SFT), kind="model")
    assert corpus.producer.package == "lemur-data" and base.producer.package == "lemur-train"
    assert chat.producer.package == "lemur-sft"
    # Lineage: each stage names the artifacts it read, by kind.
    assert "corpus" in {i.kind for i in base.inputs}
    assert {"instruct", "model"} <= {i.kind for i in chat.inputs}
    assert instruct.stats


def test_exported_models_load_in_transformers(micro_run: tuple[Path, Layout, list[Any]]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, layout, _ = micro_run
    for model_dir in (layout.artifact(PRETRAIN), layout.artifact(SFT)):
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        assert model.config.vocab_size >= len(tokenizer)
    chat_tokenizer = AutoTokenizer.from_pretrained(layout.artifact(SFT))
    rendered = chat_tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert "<|im_start|>user" in rendered and rendered.rstrip().endswith("<|im_start|>assistant")


def test_evaluation_prompts_are_rendered_by_the_sft_chat_template(
    micro_run: tuple[Path, Layout, list[Any]],
) -> None:
    from transformers import AutoTokenizer

    _, layout, _ = micro_run
    tokenizer = AutoTokenizer.from_pretrained(layout.artifact(SFT))
    records = [
        EpisodeRecord.model_validate_json(line)
        for run in _run_dirs(layout)
        for line in (run / "episodes.jsonl").read_text().splitlines()
    ]
    assert records, "the eval stage wrote no episode"
    assert all(str(layout.artifact(SFT)) in r.model for r in records)
    counted = 0
    for record in records:
        for turn in record.turns:
            if turn.prompt_tokens is None:
                continue
            ids = tokenizer.apply_chat_template(
                [{"role": m.role.value, "content": m.content} for m in turn.prompt],
                add_generation_prompt=True,
            )
            if hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding
                ids = ids["input_ids"]
            assert turn.prompt_tokens == len(ids)
            counted += 1
    assert counted > 0
    assert isinstance(records[0].turns[0].prompt[0], Message)


def test_second_run_reuses_finished_stages_and_force_reruns_downstream(
    micro_run: tuple[Path, Layout, list[Any]],
) -> None:
    path, layout, _ = micro_run
    corpus_hash = tree_sha256(layout.root / "corpus")
    again = run_recipe(load_recipe(path))
    # "reused" is each stage's own verdict (StageResult.reused), not a guess from file times.
    assert {o.stage: o.status for o in again} == {
        "corpus": "reused",
        "instruct": "reused",
        "pretrain": "reused",
        "sft": "reused",
        "eval": "reused",
    }
    sft_manifest = layout.artifact(SFT) / "manifest.json"
    sft_before = file_sha256(sft_manifest)
    forced = run_recipe(load_recipe(path), force_from="sft")
    status = {o.stage: o.status for o in forced}
    assert status["pretrain"] == "reused" and status["sft"] == "built"
    assert status["eval"] == "built"  # downstream of a rebuilt model
    assert file_sha256(sft_manifest) != sft_before
    assert tree_sha256(layout.root / "corpus") == corpus_hash
    run = _run_dirs(layout)[0]
    summary = json.loads(run.joinpath("summary.json").read_text())
    # Report rows carry the recipe's model name; the spec stays recorded beside it.
    assert summary["model"] == "Lemur-Chat (micro)"
    # The spec as recorded: the model's path, then the speed knobs after '#' (threads=1...).
    assert summary["model_spec"].split("#")[0] == f"hf:{layout.artifact(SFT)}"
    report = (layout.artifact(EVAL) / "report.md").read_text()
    assert "Lemur-Chat (micro)" in report


def test_heldout_losses_reference_lines_samples_and_format_reach_the_summary(
    micro_run: tuple[Path, Layout, list[Any]],
) -> None:
    import math

    _, layout, _ = micro_run
    corpus = read_manifest(layout.root / "corpus", kind="corpus").stats
    ref = corpus["reference"]
    assert corpus["heldout"]["rows"]
    # Stdlib code: the previous token tells a lot, so the bigram line sits below the unigram.
    assert 0 < ref["bigram_nats"] < ref["unigram_nats"]
    records = [
        json.loads(line)
        for line in (layout.stage_dir(PRETRAIN) / "metrics.jsonl").read_text().splitlines()
    ]
    evaluated = [r for r in records if "heldout_loss" in r]
    assert [r["step"] for r in evaluated] == [100, 200]
    assert math.isfinite(evaluated[-1]["heldout_loss"])
    assert set(evaluated[-1]["heldout_loss_per_source"]) <= {s["name"] for s in corpus["sources"]}
    sft_stats = read_manifest(layout.artifact(SFT), kind="model").stats
    # A tenth of the micro set at most (its ~20 examples keep all but one or two for training).
    assert sft_stats["examples_heldout"] >= 1 and math.isfinite(sft_stats["final_heldout_loss"])
    summary = (layout.root / "summary.md").read_text()
    assert f"bigram {ref['bigram_nats']:.3f}" in summary and "pretrain held-out loss" in summary
    assert "SFT samples" in summary and summary.count("\n| ") >= 3
    assert "Replies in the expected format" in summary and "Lemur-Chat (micro)" in summary
    assert (layout.root / "loss.png").stat().st_size > 0


def test_pretraining_ends_below_the_bigram_line_where_the_corpus_has_structure_beyond_it(
    micro_run: tuple[Path, Layout, list[Any]],
) -> None:
    _, layout, _ = micro_run
    ref = read_manifest(layout.root / "corpus", kind="corpus").stats["reference"]
    records = [
        json.loads(line)
        for line in (layout.stage_dir(PRETRAIN) / "metrics.jsonl").read_text().splitlines()
    ]
    first, last = [r["heldout_loss_per_source"]["pairs"] for r in records if "heldout_loss" in r]
    # The corpus's own lines for the source: a bigram sees the words' spelling, not the tuples.
    bigram, unigram = ref["bigram_per_source"]["pairs"], ref["unigram_per_source"]["pairs"]
    assert bigram < unigram
    assert last < bigram, (first, last, bigram)
    assert last <= first
