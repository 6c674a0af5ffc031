"""Pre-flight: one tiny request finds a dead server or a wrong #MODEL before the first episode."""

from __future__ import annotations

from pathlib import Path

import pytest
from lemur_agents.models.loopback_server import LoopbackServer
from lemur_agents.models.spec import ScriptedSpec
from lemur_bench.cli import app
from lemur_bench.preflight import preflight
from lemur_core.cli_errors import ExitCode, ServerError
from typer.testing import CliRunner


def _server() -> LoopbackServer:
    return LoopbackServer(lambda messages, body: "ok", served_model="lemur").start()


def _dead_url() -> str:
    server = LoopbackServer(lambda m, b: "")
    port = server.port
    server.stop()
    return f"http://127.0.0.1:{port}/v1"


def test_a_healthy_endpoint_answers_with_its_served_model() -> None:
    server = _server()
    try:
        found = preflight(server.spec())
        assert found is not None and found.model == "lemur" and found.reply == "ok"
        assert server.requests == 1
        result = CliRunner().invoke(app, ["check", "--model", server.spec().to_string()])
        assert result.exit_code == 0 and "serves 'lemur'" in result.output, result.output
    finally:
        server.stop()


def test_a_wrong_model_name_is_one_line_naming_the_served_ones() -> None:
    server = _server()
    try:
        with pytest.raises(ServerError, match="lemur") as info:
            preflight(server.spec(model="lemur-typo"))
        assert "lemur-typo" in str(info.value) and "\n" not in str(info.value)
    finally:
        server.stop()


def test_a_dead_server_stops_the_run_before_it_touches_out(tmp_path: Path) -> None:
    spec = f"openai:{_dead_url()}?timeout=0.5#lemur"
    out = tmp_path / "run"
    args = ["run", "--suite", "gsm8k", "--model", spec, "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == ExitCode.MODEL, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "model server check failed" in errors[0], result.output
    assert "--no-preflight" in errors[0]
    assert not out.exists()
    checked = CliRunner().invoke(app, ["check", "--model", spec])
    assert checked.exit_code == ExitCode.MODEL and "check failed" in checked.stderr


def test_specs_without_a_server_need_no_check() -> None:
    assert preflight(ScriptedSpec(path="x.json")) is None
