"""Scripted replay keyed on the system prompt, with element ids read from the latest page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lemur_agents.actions import WEBARENA_SCHEMA, PythonCallMapper, SymbolicMapper
from lemur_agents.envs.web.accessibility import render_ax_tree
from lemur_agents.envs.web.browser import find_chromium
from lemur_agents.loop import EpisodeSpec, SchemaFormat, run_episodes
from lemur_agents.models import ModelError, load_model
from lemur_agents.models.scripted import Script, ScriptedChatModel, fill_element_ids
from lemur_core import ActionParseError, GenerationParams, Message, Role, TerminationReason

PARAMS = GenerationParams()


def _node(node_id: str, role: str, name: str, children: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "nodeId": node_id,
        "role": {"value": role},
        "name": {"value": name},
        "childIds": list(children),
        "backendDOMNodeId": int(node_id),
    }


def _profile_page(*, with_banner: bool) -> str:
    """A rendered tree where the label 'Biography' precedes its textbox; a banner link
    before them shifts every id by one."""
    top = ("2",) if with_banner else ()
    nodes = [
        _node("1", "RootWebArea", "My Profile", (*top, "3", "4", "5", "6")),
        _node("2", "link", "Sale: 20% off"),
        _node("3", "heading", "My Profile"),
        _node("4", "StaticText", "Biography"),
        _node("5", "textbox", "Biography"),
        _node("6", "button", "Save"),
    ]
    return render_ax_tree(nodes).text


def _chat(system: str | None, *users: str) -> list[Message]:
    messages = [Message(role=Role.SYSTEM, content=system)] if system else []
    for i, text in enumerate(users):
        if i:
            messages.append(Message(role=Role.ASSISTANT, content=f"reply {i}"))
        messages.append(Message(role=Role.USER, content=text))
    return messages


def test_system_match_picks_the_script_written_for_the_prompt() -> None:
    model = ScriptedChatModel(
        [
            Script(match="task A", system_match="bracket notation", completions=("click [1]",)),
            Script(match="task A", system_match="Python call", completions=("click(id=1)",)),
            Script(match="task A", completions=("no system prompt",)),
        ]
    )
    replies = model.generate(
        [
            _chat("Use bracket notation.", "task A"),
            _chat("Write a Python call.", "task A"),
            _chat(None, "task A"),
            _chat("Something else entirely.", "task A"),
        ],
        PARAMS,
    )
    assert replies == ["click [1]", "click(id=1)", "no system prompt", "no system prompt"]


def test_a_script_whose_system_match_fails_does_not_answer() -> None:
    model = ScriptedChatModel([Script(match="task A", system_match="python", completions=("x",))])
    with pytest.raises(ModelError, match="no script matches"):
        model.generate([_chat("symbolic only", "task A")], PARAMS)


def test_element_ids_come_from_the_last_user_message_not_the_first() -> None:
    first, last = _profile_page(with_banner=False), _profile_page(with_banner=True)
    model = ScriptedChatModel(
        [
            Script(
                match="My Profile",
                fill_element_ids=True,
                completions=("click [{id:Save}]", "type [{id@textbox:Biography}] [hi] [0]"),
            )
        ]
    )
    assert "[5] button 'Save'" in first and "[6] button 'Save'" in last
    assert model.generate([_chat(None, first)], PARAMS) == ["click [5]"]
    # Second turn: the page now has the banner; the textbox (not the label) is [5].
    assert "[4] StaticText 'Biography'" in last and "[5] textbox 'Biography'" in last
    assert model.generate([_chat(None, first, last)], PARAMS) == ["type [5] [hi] [0]"]


def test_without_a_role_the_first_line_with_the_name_wins_and_names_may_hold_colons() -> None:
    page = _profile_page(with_banner=True)
    assert fill_element_ids("click [{id:Biography}]", page) == "click [4]"
    assert fill_element_ids("click(id={id@link:Sale: 20% off})", page) == "click(id=2)"


def test_placeholders_stay_verbatim_unless_the_script_asks_to_fill_them() -> None:
    model = ScriptedChatModel([Script(completions=("click [{id:Save}]",))])
    assert model.generate([_chat(None, _profile_page(with_banner=False))], PARAMS) == [
        "click [{id:Save}]"
    ]


@pytest.mark.parametrize(
    ("template", "mapper"),
    [
        ("click [{id:Checkout}]", SymbolicMapper(WEBARENA_SCHEMA)),
        ("click(id={id:Checkout})", PythonCallMapper(WEBARENA_SCHEMA)),
        ("type [{id@button:Biography}] [x] [1]", SymbolicMapper(WEBARENA_SCHEMA)),
        ("type(id={id@button:Biography}, content='x')", PythonCallMapper(WEBARENA_SCHEMA)),
    ],
)
def test_a_name_not_on_the_page_leaves_a_marker_no_action_parser_accepts(
    template: str, mapper: SymbolicMapper | PythonCallMapper
) -> None:
    filled = fill_element_ids(template, _profile_page(with_banner=False))
    assert "<no element" in filled and "{id" not in filled
    with pytest.raises(ActionParseError):
        mapper.parse(filled)


def test_script_files_carry_the_replay_fields(tmp_path: Path) -> None:
    script = tmp_path / "agent.yaml"
    script.write_text(
        "scripts:\n"
        "  - match: My Profile\n"
        "    system_match: bracket\n"
        "    fill_element_ids: true\n"
        "    completions: ['click [{id:Save}]']\n",
        encoding="utf-8",
    )
    model = load_model(f"scripted:{script}")
    page = _profile_page(with_banner=False)
    assert model.generate([_chat("bracket notation", page)], PARAMS) == ["click [5]"]


@pytest.mark.skipif(find_chromium("/usr/bin/chromium") is None, reason="no Chromium installed")
@pytest.mark.parametrize("representation", ["python", "symbolic"])
def test_a_replayed_agent_edits_the_bio_in_chromium_in_either_representation(
    representation: str,
) -> None:
    completions = {
        "python": (
            "click(id={id:My Profile})",
            "type(id={id@textbox:Biography}, content='Pro Python Developer', "
            "press_enter_after=False)",
            "click(id={id:Save})",
            "stop(answer='done')",
        ),
        "symbolic": (
            "click [{id:My Profile}]",
            "type [{id@textbox:Biography}] [Pro Python Developer] [0]",
            "click [{id:Save}]",
            "stop [done]",
        ),
    }
    model = ScriptedChatModel(
        [
            Script(
                match="profile bio",
                system_match=rep,
                fill_element_ids=True,
                completions=completions[rep],
            )
            for rep in ("python", "symbolic")
        ]
    )
    spec = EpisodeSpec(
        episode_id=f"bio-{representation}",
        env="lemur/Web-v0",
        task_id="shop/bio",
        max_turns=6,
        system_prompt=f"write actions in {representation} notation",
        action_format=SchemaFormat(
            WEBARENA_SCHEMA,
            model_representation="python" if representation == "python" else "symbolic",
        ),
    )
    (record,) = run_episodes(model, [spec], PARAMS)
    assert record.termination == TerminationReason.SOLVED, record.turns[-1].observation
    assert [t.parse_error for t in record.turns] == [None] * 4
    typed = record.turns[1].action_representations
    assert typed["symbolic"] == "type [9] [Pro Python Developer] [0]"
    assert typed["python"].startswith("type(id=9, ")


@pytest.mark.skipif(find_chromium("/usr/bin/chromium") is None, reason="no Chromium installed")
def test_the_async_loop_steps_web_envs_in_the_thread_that_made_them() -> None:
    import asyncio

    from lemur_agents.loop import arun_episodes

    model = ScriptedChatModel(
        [
            Script(
                match="OBJECTIVE: What is the price",
                fill_element_ids=True,
                completions=("click(id={id:Harmonizing Code Mug})", "stop(answer='$12.50')"),
            ),
            Script(
                match="OBJECTIVE: Search the shop",
                fill_element_ids=True,
                completions=(
                    "type(id={id@textbox:Search products}, content='lemur')",
                    "stop(answer='N/A')",
                ),
            ),
        ]
    )
    specs = [
        EpisodeSpec(
            episode_id=task,
            env="lemur/Web-v0",
            task_id=task,
            max_turns=3,
            action_format=SchemaFormat(WEBARENA_SCHEMA),
        )
        for task in ("shop/price", "shop/search")
    ]
    records = asyncio.run(arun_episodes(model, specs, PARAMS))
    # Worker threads would fail on the first step ("cannot switch to a different thread").
    assert [r.termination for r in records] == [TerminationReason.SOLVED] * 2, [
        (r.termination, r.info, r.turns[-1].observation[:300] if r.turns else None) for r in records
    ]
