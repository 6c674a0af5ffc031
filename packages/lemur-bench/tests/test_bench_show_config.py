"""`lemur-bench show-config` prints the run config `run` pins; `run --set` overrides it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from lemur_bench.cli import app
from lemur_bench.fixtures import SCRIPT_NAME, write_fixtures
from lemur_bench.runner import RunConfig
from typer.testing import CliRunner


def test_show_config_prints_exactly_the_config_that_run_pins(tmp_path: Path) -> None:
    fixtures = write_fixtures(tmp_path / "fx")
    common = [
        *("--suite", "gsm8k", "--model", f"scripted:{fixtures / SCRIPT_NAME}"),
        *("--tasks-dir", str(fixtures)),
        *("--set", "limit_per_task=1", "--set", "scoring_mode=corrected"),
    ]
    shown = CliRunner().invoke(app, ["show-config", *common])
    assert shown.exit_code == 0, shown.output
    printed = RunConfig.model_validate(yaml.safe_load(shown.stdout))
    assert printed.limit_per_task == 1 and printed.scoring_mode == "corrected"

    out = tmp_path / "run"
    ran = CliRunner().invoke(app, ["run", *common, "--out", str(out), "--no-preflight"])
    assert ran.exit_code == 0, ran.output
    pinned = RunConfig.model_validate(json.loads((out / "run_config.json").read_text()))
    # run resolves tasks_dir to an absolute path; everything else is what show-config said.
    assert pinned.model_dump(exclude={"tasks_dir"}) == printed.model_dump(exclude={"tasks_dir"})
    assert Path(str(pinned.tasks_dir)) == Path(str(printed.tasks_dir)).resolve()
    assert RunConfig.from_yaml(_write(tmp_path / "c.yaml", printed.to_yaml())) == printed


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_misspelt_set_key_is_one_line_with_did_you_mean_and_pins_nothing(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            *("run", "--suite", "gsm8k", "--model", "scripted:x.json", "--out", str(out)),
            *("--set", "limit_per_tsk=2"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "did you mean 'limit_per_task'" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()  # a failed start never pins the output directory


def test_a_model_is_named_by_its_option_not_by_set() -> None:
    result = CliRunner().invoke(
        app,
        ["show-config", "--suite", "gsm8k", "--model", "hf:smollm2", "--set", "model=hf:other"],
    )
    assert result.exit_code == 2 and "--model SPEC" in result.output


def test_a_set_value_of_the_wrong_kind_names_the_field() -> None:
    result = CliRunner().invoke(
        app,
        ["show-config", "--suite", "gsm8k", "--model", "hf:smollm2", "--set", "max_new_tokens=0"],
    )
    assert result.exit_code == 2 and "max_new_tokens" in result.output
