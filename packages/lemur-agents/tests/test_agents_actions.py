"""Action mappers: round trips both ways (hypothesis), deterministic parsing, clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lemur_agents.actions import (
    ALFWORLD_SCHEMA,
    WEBARENA_SCHEMA,
    Action,
    ActionSchema,
    CodeAction,
    FencedCodeMapper,
    PythonCallMapper,
    SymbolicMapper,
)
from lemur_agents.actions.schema import ActionSpec
from lemur_core import ActionParseError

FAST = settings(max_examples=150, deadline=None)

# ALFWorld names are words and numbers ("countertop 1"); free text is anything at all.
_NAME = st.from_regex(r"[a-z]{1,10}( [a-z]{1,8})?( [0-9]{1,2})?", fullmatch=True).filter(
    lambda s: not re.search(r"\b(from|with|in|on|in/on)\b", s)
)


def _args(spec: ActionSpec, free_text: st.SearchStrategy[str]) -> st.SearchStrategy[Action]:
    fields: dict[str, st.SearchStrategy[object]] = {}
    for p in spec.params:
        if p.kind == "int":
            fields[p.name] = st.integers(-(10**6), 10**9)
        elif p.kind == "bool":
            fields[p.name] = st.booleans()
        elif p.kind == "choice":
            fields[p.name] = st.sampled_from(p.choices)
        else:
            fields[p.name] = free_text
    return st.fixed_dictionaries(fields).map(lambda a: Action(name=spec.name, args=a))


def actions(schema: ActionSchema, free_text: st.SearchStrategy[str]) -> st.SearchStrategy[Action]:
    return st.one_of(*[_args(spec, free_text) for spec in schema.actions])


webarena_actions = actions(WEBARENA_SCHEMA, st.text(max_size=40))
alfworld_actions = actions(ALFWORLD_SCHEMA, _NAME)


@FAST
@given(webarena_actions)
def test_webarena_symbolic_render_then_parse_is_identity(action: Action) -> None:
    mapper = SymbolicMapper(WEBARENA_SCHEMA)
    assert mapper.parse(mapper.render(action)) == action


@FAST
@given(webarena_actions)
def test_webarena_python_render_then_parse_is_identity(action: Action) -> None:
    mapper = PythonCallMapper(WEBARENA_SCHEMA)
    assert mapper.parse(mapper.render(action)) == action


@FAST
@given(webarena_actions)
def test_python_and_symbolic_forms_map_to_each_other(action: Action) -> None:
    py, sym = PythonCallMapper(WEBARENA_SCHEMA), SymbolicMapper(WEBARENA_SCHEMA)
    assert sym.parse(sym.render(py.parse(py.render(action)))) == action
    assert py.parse(py.render(sym.parse(sym.render(action)))) == action


@FAST
@given(alfworld_actions)
def test_alfworld_commands_and_python_calls_round_trip(action: Action) -> None:
    py, sym = PythonCallMapper(ALFWORLD_SCHEMA), SymbolicMapper(ALFWORLD_SCHEMA)
    assert sym.parse(sym.render(action)) == action
    assert py.parse(py.render(action)) == action


@st.composite
def _respaced_symbolic(draw: st.DrawFn) -> tuple[str, Action]:
    """A valid symbolic text written sloppily: extra spaces between tokens, maybe fenced."""
    action = draw(actions(WEBARENA_SCHEMA, st.text(max_size=20)))
    text = SymbolicMapper(WEBARENA_SCHEMA).render(action)
    text = text.replace("] [", "]" + draw(st.sampled_from(["", " ", "  ", "\n"])) + "[")
    if draw(st.booleans()):
        text = f"Let's think step-by-step. The next action is ```{text}```"
    return text, action


@FAST
@given(_respaced_symbolic())
def test_text_parse_render_parse_reaches_the_same_action(case: tuple[str, Action]) -> None:
    text, action = case
    mapper = SymbolicMapper(WEBARENA_SCHEMA)
    if "```" in str(action.args):
        return  # a fence inside the argument and around it is ambiguous by nature
    parsed = mapper.parse(text)
    assert parsed == action
    assert mapper.parse(mapper.render(parsed)) == parsed


@st.composite
def _python_spellings(draw: st.DrawFn) -> tuple[str, Action]:
    """The same call written positionally, with double quotes, spaces, or in a fenced block."""
    action = draw(actions(WEBARENA_SCHEMA, st.text(max_size=20)))
    spec = WEBARENA_SCHEMA.spec(action.name)
    n_positional = draw(st.integers(0, len(spec.params)))
    parts = []
    for i, p in enumerate(spec.params):
        value = action.args[p.name]
        literal = repr(value)
        plain = isinstance(value, str) and value.isprintable()
        if plain and not any(c in str(value) for c in "'\"\\"):
            literal = '"' + str(value) + '"'
        parts.append(literal if i < n_positional else f"{p.name} = {literal}")
    text = f"{action.name}( {', '.join(parts)} )"
    if draw(st.booleans()):
        text = f"I will act now.\n```python\n{text}\n```"
    return text, action


@FAST
@given(_python_spellings())
def test_any_spelling_of_a_python_call_parses_to_the_action(case: tuple[str, Action]) -> None:
    text, action = case
    mapper = PythonCallMapper(WEBARENA_SCHEMA)
    assert mapper.parse(text) == action
    assert mapper.parse(mapper.render(action)) == action


def test_paper_figure5_example_maps_deterministically() -> None:
    py, sym = PythonCallMapper(WEBARENA_SCHEMA), SymbolicMapper(WEBARENA_SCHEMA)
    action = py.parse('type(id=12, content="foo", press_enter_after=True)')
    assert sym.render(action) == "type [12] [foo] [1]"
    assert sym.parse("type [12] [foo]") == action  # WebArena's default presses Enter


def test_text_with_brackets_quotes_and_newlines_survives() -> None:
    sym = SymbolicMapper(WEBARENA_SCHEMA)
    content = 'say "hi" ] [0] it\'s\nfine ['
    action = Action(name="type", args={"id": 3, "content": content, "press_enter_after": False})
    assert sym.render(action) == f"type [3] [{content}] [0]"
    assert sym.parse(sym.render(action)).args["content"] == content


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clik(id=3)", "did you mean 'click'"),
        ("click(id='x')", "must be an integer"),
        ("click(id=__import__('os').getpid())", "must be a literal"),
        ("os.system('rm -rf /')", "bare name"),
        ("type(id=3)", "missing argument 'content'"),
        ("click(3, 4)", "takes 1 argument"),
        ("click(id=3, foo=1)", "unexpected argument"),
        ("click(id=3); stop(answer='x')", "not a Python call"),
        ("scroll(direction='left')", "must be one of"),
    ],
)
def test_bad_python_calls_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ActionParseError, match=re.escape(message)):
        PythonCallMapper(WEBARENA_SCHEMA).parse(text)


def test_bad_symbolic_text_lists_the_valid_forms() -> None:
    with pytest.raises(ActionParseError, match=r"Valid forms: click \[\{id\}\]"):
        SymbolicMapper(WEBARENA_SCHEMA).parse("click on the button")


def test_python_call_parser_never_evaluates() -> None:
    source = Path(__file__).parents[1] / "src" / "lemur_agents" / "actions"
    forbidden = "ev" + "al("  # split so that this test file passes the same check
    for module in source.glob("*.py"):
        assert forbidden not in module.read_text(), module


def test_alfworld_matches_the_games_own_command_strings() -> None:
    sym = SymbolicMapper(ALFWORLD_SCHEMA)
    assert sym.parse("put mug 2 in/on coffeemachine 1").args == {
        "obj": "mug 2",
        "target": "coffeemachine 1",
    }
    assert sym.parse("think: first I need to find a mug.").name == "think"
    assert sym.render(sym.parse("go to cabinet 10")) == "go to cabinet 10"


# -- MINT tags and fenced code ---------------------------------------------------------


@FAST
@given(
    st.sampled_from(["sql", "bash", "python"]),
    st.text(max_size=60).filter(lambda s: "```" not in s),
)
def test_fenced_code_round_trips(language: str, code: str) -> None:
    mapper = FencedCodeMapper(("sql", "bash", "python"))
    action = CodeAction(language=language, code=code)
    assert mapper.parse(mapper.render(action)) == action


def test_fenced_code_normalizes_tags_and_picks_the_accepted_language() -> None:
    mapper = FencedCodeMapper(("bash",))
    text = "First:\n```python\nprint(1)\n```\nthen\n```sh\nls -la\n```"
    assert mapper.parse(text) == CodeAction(language="bash", code="ls -la")
    assert FencedCodeMapper(("sql",)).parse("```\nSELECT 1;```").code == "SELECT 1;"
    with pytest.raises(ActionParseError, match="found blocks tagged"):
        FencedCodeMapper(("sql",)).parse("```python\nx\n```")
    assert FencedCodeMapper(("sql",), bare_fallback=True).parse(" SELECT 2 ").code == "SELECT 2"
