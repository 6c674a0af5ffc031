"""`lemur-bench run` options that reach the environments: WebArena site URLs and login states."""

from __future__ import annotations

import json
from pathlib import Path

from lemur_bench.cli import app
from lemur_bench.fixtures import SCRIPT_NAME, write_fixtures
from lemur_bench.registry import get_task
from lemur_bench.runner import RunConfig, _agent_env_kwargs
from typer.testing import CliRunner


def test_site_urls_and_auth_dir_are_part_of_the_run_config_and_reach_the_web_env(
    tmp_path: Path,
) -> None:
    fixtures = write_fixtures(tmp_path / "fx")
    out = tmp_path / "run"
    (tmp_path / ".auth").mkdir()  # --auth-dir must exist
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--suite",
            "gsm8k",
            "--model",
            f"scripted:{fixtures / SCRIPT_NAME}",
            "--tasks-dir",
            str(fixtures),
            "--out",
            str(out),
            "--site-url",
            "__SHOPPING__=http://shop.example:7770",
            "--site-url",
            "__GITLAB__=http://git.example:8023",
            "--auth-dir",
            str(tmp_path / ".auth"),
        ],
    )
    assert result.exit_code == 0, result.output
    pinned = RunConfig.model_validate(json.loads((out / "run_config.json").read_text()))
    assert pinned.site_urls == {
        "__SHOPPING__": "http://shop.example:7770",
        "__GITLAB__": "http://git.example:8023",
    }
    kwargs = _agent_env_kwargs(get_task("webarena"), tmp_path / "test.raw.json", 15, pinned)
    assert kwargs["config"]["site_urls"] == pinned.site_urls
    assert kwargs["config"]["auth_dir"] == str((tmp_path / ".auth").resolve())


def test_a_malformed_site_url_is_refused_with_the_expected_form(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            *("run", "--suite", "gsm8k", "--model", "scripted:x.json"),
            *("--out", str(tmp_path / "r"), "--site-url", "shopping=localhost:7770"),
        ],
    )
    assert result.exit_code != 0
    message = " ".join(result.output.replace("│", " ").split())  # rich boxes and wraps it
    assert "expected PLACEHOLDER=URL" in message
