"""MintTagMapper in its two modes: `mint` parses replies as MINT's GeneralEnv.parse_action does
(every block stripped and joined, unclosed and empty blocks invalid, "<solution>" anywhere makes
a proposal); `corrected` fixes those quirks. Replies in the tests are real ones from MINT's
recorded outputs (shortened where the point survives)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lemur_agents.actions import MINT_FORMAT_HINT, MintAction, MintParseError, MintTagMapper
from lemur_core import ActionParseError

FAST = settings(max_examples=150, deadline=None)
_TAGS = ("<execute>", "</execute>", "<solution>", "</solution>")


def _mint_reference(text: str) -> tuple[str, str] | None:
    """MINT's own two-step rule, written out independently of the mapper."""
    kind = "solution" if "<solution>" in text else "execute"
    blocks = re.findall(rf"<{kind}>(.*?)</{kind}>", "\n" + text + "\n", re.DOTALL)
    joined = "\n".join(b.strip() for b in blocks)
    return None if joined == "" else (kind, joined)


@FAST
@given(
    st.lists(
        st.one_of(
            st.sampled_from(_TAGS),
            st.text(alphabet="ab \n", max_size=6),
        ),
        max_size=10,
    )
)
def test_mint_mode_equals_mints_rule_on_any_mix_of_tags(pieces: list[str]) -> None:
    text = "".join(pieces)
    expected = _mint_reference(text)
    mapper = MintTagMapper("mint")
    if expected is None:
        with pytest.raises(MintParseError):
            mapper.parse(text)
    else:
        assert mapper.parse(text) == MintAction(kind=expected[0], content=expected[1])  # type: ignore[arg-type]


def test_mint_mode_joins_every_block_stripped() -> None:
    reply = "<execute> a = 1 </execute> then <execute>\nprint(a)\n</execute>"
    assert MintTagMapper().parse(reply) == MintAction(kind="execute", content="a = 1\nprint(a)")


def test_mint_mode_rejects_unclosed_and_blank_blocks_with_mints_hint() -> None:
    for reply in ("<execute>\nx = 1\n", "<solution>   </solution>", "The answer is 42."):
        with pytest.raises(ActionParseError) as err:
            MintTagMapper("mint").parse(reply)
        assert str(err.value) == MINT_FORMAT_HINT


def test_a_mentioned_solution_tag_makes_an_invalid_proposal_in_mint_mode_only() -> None:
    # MINT's LMAgent decides "proposal" by the substring alone, so the code here never runs.
    reply = "I will print it, then give <solution>.\n<execute>print(6 * 7)</execute>"
    with pytest.raises(MintParseError) as err:
        MintTagMapper("mint").parse(reply)
    assert err.value.kind == "solution"
    assert MintTagMapper("corrected").parse(reply) == MintAction(
        kind="execute", content="print(6 * 7)"
    )


def test_corrected_mode_accepts_a_block_cut_off_at_the_end_of_the_reply() -> None:
    reply = "<thought> compute </thought>\n<execute>\nprint(2 ** 10)\n"
    assert MintTagMapper("corrected").parse(reply).content == "print(2 ** 10)"
    with pytest.raises(MintParseError) as err:
        MintTagMapper("corrected").parse("<solution> </solution>")
    assert err.value.kind is None  # an invalid reply never costs a proposal when corrected


def test_mint_format_hint_is_mints_text_byte_for_byte() -> None:
    assert MINT_FORMAT_HINT == (
        "I don't understand your input. \n"
        "If you want to execute code, please use <execute> YOUR_CODE_HERE </execute>.\n"
        "If you want to give me an answer, please use <solution> YOUR_SOLUTION_HERE </solution>.\n"
        "For example: The answer to the question is <solution> 42 </solution>. \n"
    )


@FAST
@given(
    st.sampled_from(["execute", "solution"]),
    st.text(max_size=60).filter(lambda s: s.strip() and not any(t[:-1] in s for t in _TAGS)),
    st.sampled_from(["mint", "corrected"]),
)
def test_render_then_parse_round_trips(kind: str, content: str, mode: str) -> None:
    mapper = MintTagMapper(mode)  # type: ignore[arg-type]
    action = MintAction(kind=kind, content=content.strip())  # type: ignore[arg-type]
    assert mapper.parse(mapper.render(action)) == action
    assert mapper.parse("Thought: do it.\n" + mapper.render(action) + "\ntrailing") == action


def test_unknown_mode_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="mint, corrected"):
        MintTagMapper("exact")  # type: ignore[arg-type]


# Replies of MINT's Eurus-7B-KTO run (hotpotqa 26) and Eurus-70B-KTO run (humaneval 11), which
# MINT's logs show executed although they hold no <execute> block.
_EURUS_ONE_LINE = (
    "<thought> Search first. </thought>\n```python print(wikipedia_search('Op. 5 sonatas')) ```"
)
_EURUS_BLOCKS = "<thought> plan </thought>\n\n```python\ndef f(x):\n    return x\n```\ntext\n```python\nprint(f(1))\n```"


def test_fenced_code_runs_markdown_python_blocks_only_when_asked() -> None:
    fenced = MintTagMapper("mint", fenced_code=True)
    assert fenced.parse(_EURUS_ONE_LINE) == MintAction(
        kind="execute", content="print(wikipedia_search('Op. 5 sonatas'))"
    )
    assert fenced.parse(_EURUS_BLOCKS) == MintAction(
        kind="execute", content="def f(x):\n    return x\nprint(f(1))"
    )
    for mode in ("mint", "corrected"):
        with pytest.raises(MintParseError):
            MintTagMapper(mode).parse(_EURUS_BLOCKS)  # type: ignore[arg-type]
        assert MintTagMapper(mode, fenced_code=True).parse(_EURUS_BLOCKS).kind == "execute"  # type: ignore[arg-type]


def test_fenced_code_keeps_tags_first_and_proposals_as_mint_counts_them() -> None:
    fenced = MintTagMapper("mint", fenced_code=True)
    both = "```python\nprint(1)\n```\n<execute>print(2)</execute>"
    assert fenced.parse(both) == MintAction(kind="execute", content="print(2)")
    # "<solution>" anywhere is still a proposal in mint mode; a blank one stays invalid and
    # costs a proposal, even with a fenced block beside it.
    with pytest.raises(MintParseError) as err:
        fenced.parse("```python\nprint(1)\n```\n<solution> </solution>")
    assert err.value.kind == "solution"
    with pytest.raises(MintParseError):
        fenced.parse("```\nplain fence, no language\n```")
