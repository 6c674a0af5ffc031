"""WebArena action strings mean what they mean to WebArena's own parser.

The expected column is WebArena's reading, derived from ``create_id_based_action`` in
``browser_env/actions.py`` of github:web-arena-x/webarena (the action name is the text before
the first ``[`` or the first word; each action's arguments are found by ``re.search`` with the
regular expressions quoted in the comments; a ``type`` not ending in ``[0]``/``[1]`` gets
`` [1]`` appended; ``stop`` without a bracketed answer is ``""``), and from ``_extract_action``
in ``agent/prompts/prompt_constructor.py`` (the first fenced block of the reply). ``None`` means
WebArena raises ``ActionParsingError``.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from typing import Any

import pytest
from lemur_agents.actions import WEBARENA_SCHEMA, SymbolicMapper
from lemur_agents.actions.webarena import parse_webarena_action, read_webarena_reply
from lemur_core import ActionParseError

Reading = tuple[str, dict[str, Any]] | None

# action string -> WebArena's reading
WEBARENA_READINGS: list[tuple[str, Reading]] = [
    # click: r"click ?\[(\d+)\]" (searched: text after the match is ignored)
    ("click [12]", ("click", {"id": 12})),
    ("click[12]", ("click", {"id": 12})),
    ("click [12] now", ("click", {"id": 12})),
    ("  click [12]  ", ("click", {"id": 12})),  # the string is stripped first
    ("click [12] [13]", ("click", {"id": 12})),
    ("click  [12]", None),  # " ?": at most one space
    ("click [ 12 ]", None),
    ("click [-3]", None),
    ("click [abc]", None),
    ("click 12", None),
    ("Click [12]", None),  # names are case-sensitive
    ("I click [12]", None),  # the name is everything before the first "["
    # hover, tab_focus: the same shape as click
    ("hover [7] please", ("hover", {"id": 7})),
    ("tab_focus [2]", ("tab_focus", {"tab_index": 2})),
    ("tab_focus [second]", None),
    # type: r"type ?\[(\d+)\] ?\[(.+)\] ?\[(\d+)\]" after appending " [1]" unless it ends in [0]/[1];
    # the flag "1" appends "\n" (Enter)
    ("type [3] [hello] [1]", ("type", {"id": 3, "content": "hello", "press_enter_after": True})),
    ("type [3] [hello] [0]", ("type", {"id": 3, "content": "hello", "press_enter_after": False})),
    ("type [3] [hello]", ("type", {"id": 3, "content": "hello", "press_enter_after": True})),
    ("type[3][hello][0]", ("type", {"id": 3, "content": "hello", "press_enter_after": False})),
    # (.+) is greedy: brackets inside the text stay in it
    ("type [3] [a] [b] [0]", ("type", {"id": 3, "content": "a] [b", "press_enter_after": False})),
    # trailing text: " [1]" is appended, but no "]" precedes it, so the last "] [digits]" is
    # the "[0]": the text is "hello" and Enter is not pressed
    (
        "type [3] [hello] [0] now",
        ("type", {"id": 3, "content": "hello", "press_enter_after": False}),
    ),
    ("type [3] [hi] now", None),  # "type [3] [hi] now [1]": no "] [digits]" after any text
    ("type [3] [x] [2]", ("type", {"id": 3, "content": "x] [2", "press_enter_after": True})),
    ("type [3]", None),
    ("type [abc] [hello] [1]", None),
    # press, goto: r"press ?\[(.+)\]", r"goto ?\[(.+)\]" (greedy)
    ("press [Control+v]", ("press", {"key_comb": "Control+v"})),
    ("press [Enter] now", ("press", {"key_comb": "Enter"})),
    ("goto [http://a.example/x?q=[1]]", ("goto", {"url": "http://a.example/x?q=[1]"})),
    ("goto []", None),
    # scroll: r"scroll ?\[?(up|down)\]?"
    ("scroll [down]", ("scroll", {"direction": "down"})),
    ("scroll [up]", ("scroll", {"direction": "up"})),
    ("scroll down", ("scroll", {"direction": "down"})),
    ("scroll [upward]", ("scroll", {"direction": "up"})),
    ("scroll [left]", None),
    # bare actions: any trailing text
    ("new_tab", ("new_tab", {})),
    ("go_back now", ("go_back", {})),
    ("go_forward [1]", ("go_forward", {})),
    ("close_tab", ("close_tab", {})),
    # stop: r"stop ?\[(.+)\]"; no match -> empty answer ("some tasks don't require an answer")
    ("stop [42]", ("stop", {"answer": "42"})),
    ("stop", ("stop", {"answer": ""})),
    ("stop []", ("stop", {"answer": ""})),
    ("stop now", ("stop", {"answer": ""})),
    ("stop [N/A]", ("stop", {"answer": "N/A"})),
    ("stop [$25.99] done", ("stop", {"answer": "$25.99"})),
    ("stop [a] [b]", ("stop", {"answer": "a] [b"})),
    # unknown names and empty strings (WebArena: IndexError on "")
    ("noop", None),
    ("fill [3] [x]", None),
    ("", None),
]


def _reading(action: Any) -> Reading:
    return None if action is None else (action.name, dict(action.args))


@pytest.mark.parametrize(("text", "expected"), WEBARENA_READINGS)
def test_action_strings_read_as_webarenas_parser_reads_them(text: str, expected: Reading) -> None:
    assert _reading(parse_webarena_action(text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for t, e in WEBARENA_READINGS if e is not None]
)
def test_the_symbolic_mapper_gives_webarenas_reading(text: str, expected: Reading) -> None:
    assert _reading(SymbolicMapper(WEBARENA_SCHEMA).parse(text)) == expected


def test_the_first_fenced_block_of_a_reply_is_the_action() -> None:
    reply = (
        "Let's think step by step. The search box is [5].\n```type [5] [lemur] [1]```\n```stop```"
    )
    assert _reading(read_webarena_reply(reply)) == (
        "type",
        {"id": 5, "content": "lemur", "press_enter_after": True},
    )


# Deliberate differences, documented in docs/agents.md ("WebArena's parser and ours").
# string -> (WebArena's reading, ours)
DIFFERENCES: list[tuple[str, Reading, Reading]] = [
    # WebArena looks up element "0012" in its id -> node map (keys are str(int)) and finds none.
    ("click [0012]", ("click", {"id": "0012"}), ("click", {"id": 12})),
    # WebArena's "." stops at a newline: typed text and answers spanning lines.
    (
        "type [3] [line one\nline two] [0]",
        None,
        ("type", {"id": 3, "content": "line one\nline two", "press_enter_after": False}),
    ),
    ("stop [first\nsecond]", ("stop", {"answer": ""}), ("stop", {"answer": "first\nsecond"})),
    # Rejected by WebArena, accepted by our templates.
    ("type [3] [] [1]", None, ("type", {"id": 3, "content": "", "press_enter_after": True})),
    (
        "scroll [direction=down]",
        None,
        ("scroll", {"direction": "down"}),
    ),  # WebArena's prompt's form
    ("click  [12]", None, ("click", {"id": 12})),
    # WebArena requires a fenced block in the reply; we also take a bare action.
]


@pytest.mark.parametrize(("text", "webarena", "ours"), DIFFERENCES)
def test_documented_differences_from_webarena_are_pinned(
    text: str, webarena: Reading, ours: Reading
) -> None:
    assert webarena != ours
    assert _reading(SymbolicMapper(WEBARENA_SCHEMA).parse(text)) == ours


def test_a_reply_without_a_fenced_block_is_read_whole() -> None:
    assert _reading(SymbolicMapper(WEBARENA_SCHEMA).parse("click [4]")) == ("click", {"id": 4})


def test_what_neither_parser_reads_is_an_error_listing_the_forms() -> None:
    with pytest.raises(ActionParseError, match="Valid forms: click"):
        SymbolicMapper(WEBARENA_SCHEMA).parse("I click [12]")


def _webarenas_own_parser() -> Any:
    """WebArena's ``create_id_based_action``, taken from a checkout's ``browser_env/actions.py``
    (named by ``LEMUR_WEBARENA_ACTIONS_PY``) and run with its ``create_*`` helpers replaced by
    functions that return the reading in this file's notation."""
    path = Path(os.environ.get("LEMUR_WEBARENA_ACTIONS_PY", ""))
    if not path.is_file():
        pytest.skip("set LEMUR_WEBARENA_ACTIONS_PY to WebArena's browser_env/actions.py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    func = next(
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef) and n.name == "create_id_based_action"
    )
    func.returns = None
    func.decorator_list = []  # @beartype

    class ActionParsingError(Exception):
        pass

    def elem(x: str) -> int | str:
        return int(x) if x == str(int(x)) else x  # "0012" stays the string WebArena looks up

    def typed(text: str, element_id: str) -> Reading:
        enter = text.endswith("\n")
        content = text[:-1] if enter else text
        return ("type", {"id": elem(element_id), "content": content, "press_enter_after": enter})

    namespace: dict[str, Any] = {
        "re": re,
        "Action": object,
        "ActionParsingError": ActionParsingError,
        "create_click_action": lambda element_id: ("click", {"id": elem(element_id)}),
        "create_hover_action": lambda element_id: ("hover", {"id": elem(element_id)}),
        "create_type_action": typed,
        "create_key_press_action": lambda key_comb: ("press", {"key_comb": key_comb}),
        "create_scroll_action": lambda direction: ("scroll", {"direction": direction}),
        "create_goto_url_action": lambda url: ("goto", {"url": url}),
        "create_new_tab_action": lambda: ("new_tab", {}),
        "create_go_back_action": lambda: ("go_back", {}),
        "create_go_forward_action": lambda: ("go_forward", {}),
        "create_page_focus_action": lambda n: ("tab_focus", {"tab_index": n}),
        "create_page_close_action": lambda: ("close_tab", {}),
        "create_stop_action": lambda answer: ("stop", {"answer": answer}),
    }
    exec(compile(ast.Module(body=[func], type_ignores=[]), str(path), "exec"), namespace)
    parser = namespace["create_id_based_action"]

    def read(text: str) -> Reading:
        try:
            return parser(text)  # type: ignore[no-any-return]
        except (ActionParsingError, IndexError):
            return None

    return read


def test_the_webarena_column_is_what_webarenas_own_code_returns() -> None:
    read = _webarenas_own_parser()
    table = [*WEBARENA_READINGS, *((text, webarena) for text, webarena, _ in DIFFERENCES)]
    wrong = [(text, expected, read(text)) for text, expected in table if read(text) != expected]
    assert not wrong
