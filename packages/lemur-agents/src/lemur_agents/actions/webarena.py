"""WebArena's action space (Zhou et al., 2023) as a typed schema, and WebArena's action parser.

Symbolic forms are WebArena's own (``click [id]``, ``type [id] [content] [press_enter_after]``,
``scroll [down]``, ``stop [answer]`` ...); the Python forms follow the paper's Fig. 5
(``type(id=12, content="foo", press_enter_after=True)``).

:func:`parse_webarena_action` reads a symbolic action as WebArena's own parser does
(``create_id_based_action`` in ``browser_env/actions.py`` of web-arena-x/webarena): the action
name is the text before the first ``[`` (or the first word), each action's arguments are found
by an unanchored search, so trailing text is ignored (``click [12] now``) or, for the greedy text
arguments, absorbed as WebArena absorbs it; a bare ``stop`` is an empty answer; a ``type``
without an Enter flag presses Enter. Where WebArena accepts a string we give it WebArena's
meaning, with two documented exceptions: an element id is a number (``[0012]`` is element 12;
WebArena looks up the string ``"0012"`` and finds no element), and text arguments (typed text,
``stop`` answers, keys, URLs) span lines: WebArena's regular expressions stop at a newline, so
``type [3] [a\nb] [1]`` is rejected there and ``stop [a\nb]`` records an empty answer.
Strings WebArena rejects may still parse through the schema's templates (an empty ``type``
text, ``click  [12]`` with two spaces, WebArena's own prompt's ``scroll [direction=down]``);
see docs/agents.md.
"""

from __future__ import annotations

import re

from lemur_agents.actions.schema import Action, ActionSchema, ActionSpec, Param

_ID = Param(name="id", kind="int", description="the element id shown in the accessibility tree")

WEBARENA_SCHEMA = ActionSchema(
    name="webarena",
    actions=(
        ActionSpec(
            name="click", params=(_ID,), symbolic="click [{id}]", description="click the element"
        ),
        ActionSpec(
            name="type",
            params=(
                _ID,
                Param(name="content", kind="text"),
                Param(name="press_enter_after", kind="bool", default=True),
            ),
            symbolic="type [{id}] [{content}] [{press_enter_after}]",
            symbolic_aliases=("type [{id}] [{content}]",),
            description="type content into the field (Enter is pressed after unless False)",
        ),
        ActionSpec(
            name="hover",
            params=(_ID,),
            symbolic="hover [{id}]",
            description="hover over the element",
        ),
        ActionSpec(
            name="press",
            params=(Param(name="key_comb", kind="text"),),
            symbolic="press [{key_comb}]",
            description="press a key combination (Ctrl+v)",
        ),
        ActionSpec(
            name="scroll",
            params=(Param(name="direction", kind="choice", choices=("up", "down")),),
            symbolic="scroll [{direction}]",
            symbolic_aliases=("scroll [direction={direction}]",),
            description="scroll the page",
        ),
        ActionSpec(name="new_tab", symbolic="new_tab", description="open a new tab"),
        ActionSpec(
            name="tab_focus",
            params=(Param(name="tab_index", kind="int"),),
            symbolic="tab_focus [{tab_index}]",
            description="switch to a tab",
        ),
        ActionSpec(name="close_tab", symbolic="close_tab", description="close the current tab"),
        ActionSpec(
            name="goto",
            params=(Param(name="url", kind="text"),),
            symbolic="goto [{url}]",
            description="navigate to a URL",
        ),
        ActionSpec(name="go_back", symbolic="go_back", description="go to the previous page"),
        ActionSpec(name="go_forward", symbolic="go_forward", description="go to the next page"),
        ActionSpec(
            name="stop",
            params=(Param(name="answer", kind="text"),),
            symbolic="stop [{answer}]",
            description="finish with an answer (N/A if none)",
        ),
    ),
)


# WebArena's per-action regular expressions (browser_env/actions.py, create_id_based_action),
# searched, not matched. Ours differ in one flag: WebArena's text arguments stop at a newline
# (no DOTALL), ours span lines, so typed text and answers keep their newlines. On one line
# the two read every string alike.
_WEBARENA_ID_ACTIONS = {
    "click": re.compile(r"click ?\[(\d+)\]"),
    "hover": re.compile(r"hover ?\[(\d+)\]"),
    "tab_focus": re.compile(r"tab_focus ?\[(\d+)\]"),
}
_WEBARENA_TYPE = re.compile(r"type ?\[(\d+)\] ?\[(.+)\] ?\[(\d+)\]", re.DOTALL)
_WEBARENA_TEXT_ACTIONS = {
    "press": ("key_comb", re.compile(r"press ?\[(.+)\]", re.DOTALL)),
    "goto": ("url", re.compile(r"goto ?\[(.+)\]", re.DOTALL)),
}
_WEBARENA_SCROLL = re.compile(r"scroll ?\[?(up|down)\]?")
_WEBARENA_STOP = re.compile(r"stop ?\[(.+)\]", re.DOTALL)
_WEBARENA_BARE = ("new_tab", "go_back", "go_forward", "close_tab")


def parse_webarena_action(action_str: str) -> Action | None:
    """``action_str`` read as WebArena's ``create_id_based_action`` reads it, or ``None`` where
    WebArena raises (its ``ActionParsingError``, or an ``IndexError`` on an empty string).

    Returns actions of :data:`WEBARENA_SCHEMA`; the two deliberate differences (numeric ids,
    text arguments spanning lines) are described in the module docstring.
    """
    text = action_str.strip()
    if not text:
        return None
    name = text.split("[")[0].strip() if "[" in text else text.split()[0].strip()
    schema = WEBARENA_SCHEMA
    if name in _WEBARENA_ID_ACTIONS:
        match = _WEBARENA_ID_ACTIONS[name].search(text)
        if match is None:
            return None
        key = "tab_index" if name == "tab_focus" else "id"
        return schema.bind(name, {key: int(match.group(1))})
    if name == "type":
        if not text.endswith(("[0]", "[1]")):
            text += " [1]"  # WebArena: Enter is pressed unless the action says [0]
        match = _WEBARENA_TYPE.search(text)
        if match is None:
            return None
        return schema.bind(
            "type",
            {
                "id": int(match.group(1)),
                "content": match.group(2),
                "press_enter_after": match.group(3) == "1",
            },
        )
    if name in _WEBARENA_TEXT_ACTIONS:
        param, pattern = _WEBARENA_TEXT_ACTIONS[name]
        match = pattern.search(text)
        return None if match is None else schema.bind(name, {param: match.group(1)})
    if name == "scroll":
        match = _WEBARENA_SCROLL.search(text)
        return None if match is None else schema.bind("scroll", {"direction": match.group(1)})
    if name in _WEBARENA_BARE:
        return schema.bind(name, {})
    if name == "stop":
        match = _WEBARENA_STOP.search(text)
        return schema.bind("stop", {"answer": match.group(1) if match else ""})
    return None


def read_webarena_reply(reply: str) -> Action | None:
    """The action a model reply holds, read as WebArena reads it, or ``None`` where WebArena's
    parser rejects it.

    WebArena's prompt constructors take the first ```` ``` ```` fenced block of the reply
    (``_extract_action`` in ``agent/prompts/prompt_constructor.py``) and reject a reply without
    one; we also read the whole reply when there is no block, or when the block does not parse.
    """
    fenced = re.search(r"```((.|\n)*?)```", reply)
    candidates = [fenced.group(1)] if fenced else []
    for candidate in [*candidates, reply]:
        action = parse_webarena_action(candidate)
        if action is not None:
            return action
    return None
