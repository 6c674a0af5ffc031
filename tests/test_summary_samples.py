"""The summary's format-compliance counts and its loss plot with held-out curve and reference lines."""

from __future__ import annotations

import json
from pathlib import Path

from lemur.samples import format_compliance, reply_in_format
from lemur.summary import corpus_references, plot_losses


def _episode(benchmark: str, *turn_infos: dict[str, object]) -> dict[str, object]:
    return {"benchmark": benchmark, "turns": [{"info": info} for info in turn_infos]}


def test_each_benchmark_is_judged_by_its_own_format_check(tmp_path: Path) -> None:
    episodes = [
        _episode("mmlu", {"score_details": {"extracted": "A"}}),
        _episode("mmlu", {"score_details": {"extracted": None}}),
        _episode("mint-gsm8k", {"valid": False}, {"valid": True}, {"valid": True}),
        # InterCode runs any text as a command: nothing to judge the format by.
        _episode("intercode-sql", {"action_executed": True}),
    ]
    (tmp_path / "episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in episodes))
    assert format_compliance(tmp_path) == {
        "intercode-sql": (0, 0),
        "mint-gsm8k": (2, 3),
        "mmlu": (1, 2),
    }
    assert reply_in_format({"info": {}, "parse_error": "no tag"}) is False
    assert reply_in_format({"info": {}}) is None


def test_the_loss_plot_draws_heldout_and_reference_lines(tmp_path: Path) -> None:
    import matplotlib.image

    refs = corpus_references({"reference": {"unigram_nats": 6.0, "bigram_nats": 4.0}})
    assert refs == {"unigram": 6.0, "bigram": 4.0}
    assert corpus_references({}) == {}
    curve = [(s, 7.0 - s / 10) for s in range(1, 21)]
    out = plot_losses(
        {"pretrain": curve, "sft": [(1, 3.0), (2, 2.5)]},
        tmp_path / "loss.png",
        heldout={"pretrain": curve[4::5]},
        references={"pretrain": refs},
    )
    assert out is not None
    image = matplotlib.image.imread(out)
    assert image.shape[1] > image.shape[0] > 100  # two panels side by side
