"""Typed model specs: the CLI strings parse into them and back, and identity leaves transport out."""

from __future__ import annotations

from pathlib import Path

import pytest
from lemur_agents.models import (
    HFSpec,
    HFSpeed,
    HTTPTransport,
    OpenAIChatModel,
    OpenAISpec,
    ScriptedChatModel,
    ScriptedSpec,
    as_model_spec,
    load_model,
    model_identity,
    parse_model_spec,
)


@pytest.mark.parametrize(
    "text",
    [
        "openai:http://localhost:8000/v1#lemur",
        "openai:https://api.example.com/v1?timeout=60&concurrency=4#gpt-4",
        "openai:http://h:1/v1?max_retries=0&context_window=4096#m",
        "hf:smollm2",
        "hf:/models/lemur#threads=1&batch_size=4",
        "scripted:replay.yaml",
    ],
)
def test_every_cli_spec_string_round_trips_through_the_typed_spec(text: str) -> None:
    spec = parse_model_spec(text)
    assert parse_model_spec(spec.to_string()) == spec
    assert as_model_spec(spec.model_dump()) == spec  # also as YAML/JSON data


def test_the_typed_spec_holds_what_the_string_says() -> None:
    spec = parse_model_spec("openai:http://h:8000/v1?timeout=5&concurrency=2#lemur")
    assert spec == OpenAISpec(
        base_url="http://h:8000/v1",
        model="lemur",
        transport=HTTPTransport(timeout=5.0, concurrency=2),
    )
    assert parse_model_spec("hf:/m#threads=2") == HFSpec(path="/m", speed=HFSpeed(threads=2))
    assert parse_model_spec("scripted:a.json") == ScriptedSpec(path="a.json")


def test_address_timeout_retries_and_concurrency_are_not_identity() -> None:
    base = parse_model_spec("openai:http://127.0.0.1:8000/v1#lemur").identity()
    for moved in (
        "openai:http://127.0.0.1:9001/v1#lemur",
        "openai:http://gpu-box:8000/v1?timeout=600&concurrency=64&max_retries=9#lemur",
    ):
        assert parse_model_spec(moved).identity() == base
    assert parse_model_spec("openai:http://127.0.0.1:8000/v1#other").identity() != base
    window = parse_model_spec("openai:http://127.0.0.1:8000/v1?context_window=2048#lemur")
    assert window.identity() != base  # the window decides how histories are trimmed
    assert model_identity("hf:/m#threads=1&batch_size=2") == model_identity("hf:/m") == "hf:/m"


def test_load_model_builds_the_same_backend_from_a_typed_spec_and_its_string() -> None:
    spec = OpenAISpec(
        base_url="http://127.0.0.1:8000/v1",
        model="lemur",
        context_window=2048,
        transport=HTTPTransport(timeout=7.0, concurrency=3, max_retries=1),
    )
    for model in (load_model(spec), load_model(spec.to_string())):
        assert isinstance(model, OpenAIChatModel)
        assert (model.base_url, model.model, model.timeout, model.concurrency) == (
            "http://127.0.0.1:8000/v1",
            "lemur",
            7.0,
            3,
        )
        assert (model.max_retries, model.context_window) == (1, 2048)


def test_scripted_spec_loads_its_file(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("name: s\nscripts:\n  - completions: ['hi']\n")
    assert isinstance(load_model(ScriptedSpec(path=str(script))), ScriptedChatModel)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("openai:http://h/v1?timeout=soon#m", "timeout='soon'.*not a float"),
        ("openai:http://h/v1?concurrency=0#m", "concurrency"),
        ("openai:ftp://h/v1#m", "http:// or https://"),
        ("hf:/m#batch_size=0", "batch_size"),
    ],
)
def test_bad_option_values_name_the_option(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_model_spec(text)


def test_a_label_that_is_no_spec_is_its_own_identity() -> None:
    assert model_identity("my-fake-model") == "my-fake-model"
