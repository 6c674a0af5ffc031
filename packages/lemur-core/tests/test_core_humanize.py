"""Planner numbers as people read them."""

from __future__ import annotations

from lemur_core.humanize import human_bytes, human_count, human_value


def test_counts_and_bytes_read_like_the_issue_asks() -> None:
    assert human_count(69_000_000_000) == "69.0B"
    assert human_count(753_289_216.0) == "753.3M"
    assert human_count(1_500) == "1.5K"
    assert human_count(80) == "80" and human_count(2.5) == "2.50"
    assert human_bytes(3_423_600_000_000) == "3.42 TB"
    assert human_bytes(900_000_000_000) == "900.00 GB"
    assert human_bytes(512) == "512 B"


def test_the_quantity_name_picks_the_unit() -> None:
    assert human_value("params", 69e9) == "69.0B"
    assert human_value("input_bytes", 3.4236e12) == "3.42 TB"
    assert human_value("train_tokens", 753_289_216.0) == "753.3M"
    assert human_value("gpu_hours", 694.1389) == "694.14"
    assert human_value("optimizer_steps", 5746) == "5,746"
    assert human_value("fits_80gb", True) == "True"
    assert human_value("executor", "slurm x 2000 tasks") == "slurm x 2000 tasks"
