"""MINT's action format (Wang et al., 2023): ``<execute> code </execute>`` or
``<solution> answer </solution>``, parsed in one of two named modes.

``mint`` (the default) is MINT's own parser (``GeneralEnv.parse_action`` with
``LMAgent.lm_output_to_action``), quirks included, because the paper's MINT numbers were
computed with it:

* a reply *is a proposal* as soon as the text ``<solution>`` occurs in it, whatever else it
  holds; otherwise it is code to run;
* the content is every closed block of that kind, each stripped, joined with newlines;
* a reply whose blocks join to the empty string (no closed block, or one empty block) is
  invalid, and MINT answers it with :data:`MINT_FORMAT_HINT`; an invalid proposal still costs
  one of the proposals (the env reads :attr:`MintParseError.kind`).

``corrected`` fixes what a reader would call bugs: a reply proposes a solution only when it
holds a non-blank ``<solution>`` block (merely mentioning the tag no longer swallows the code
next to it), blank blocks are skipped rather than joined, and a block left open at the very
end of the reply (generation stopped inside it, no other tag after it) counts. Blocks are joined with newlines in
both modes, each stripped.

``fenced_code=True`` (either mode) reproduces the harness behind six of the runs published in
MINT's repository (Eurus-7B/70B and OpenCodeInterpreter-DS-6.7B, added in April 2024), whose
logs show Markdown code blocks being run although MINT's public parser only runs ``<execute>``:
a reply that would be code to run but holds no usable ``<execute>`` block runs its
```` ```python ```` blocks instead (each closed by the next ```` ``` ````, the language tag
followed by any whitespace, as in ```` ```python print(x) ``` ````). That harness is not
public; the rule is read off those logs and gives MINT's logged treatment on 9,975 of the 9,983
replies it executed there (``benchmarks/mint_agreement.py``).
"""

from __future__ import annotations

import re
from typing import Literal

from lemur_core import ActionParseError
from pydantic import BaseModel, ConfigDict

MintKind = Literal["execute", "solution"]
MintParseMode = Literal["mint", "corrected"]

_CLOSED = {
    kind: re.compile(rf"<{kind}>(.*?)</{kind}>", re.DOTALL) for kind in ("execute", "solution")
}
_FENCED_PYTHON = re.compile(r"```python\s(.*?)```", re.DOTALL)
_TAGS = ("<execute>", "</execute>", "<solution>", "</solution>")
# corrected: a block is the text between an opening tag and the next closing tag that holds no
# other opening tag, so "I will use <execute> ... <execute>code</execute>" yields just "code".
_INNERMOST = {
    kind: re.compile(rf"<{kind}>((?:(?!<{kind}>).)*?)</{kind}>", re.DOTALL)
    for kind in ("execute", "solution")
}

# MINT's INVALID_INPUT_MESSAGE, byte for byte (its line breaks and trailing spaces included):
# the model sees it, so a different wording would be a different benchmark.
MINT_FORMAT_HINT = (
    "I don't understand your input. \n"
    "If you want to execute code, please use <execute> YOUR_CODE_HERE </execute>.\n"
    "If you want to give me an answer, please use <solution> YOUR_SOLUTION_HERE </solution>.\n"
    "For example: The answer to the question is <solution> 42 </solution>. \n"
)


class MintAction(BaseModel):
    """Run ``content`` as code (``execute``) or propose it as the answer (``solution``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: MintKind
    content: str


class MintParseError(ActionParseError):
    """A reply MINT cannot act on. ``kind`` is what MINT took the reply for (``solution``
    when the text ``<solution>`` occurs in it), which decides whether it costs a proposal;
    ``None`` in ``corrected`` mode, where an invalid reply never does."""

    def __init__(self, message: str, kind: MintKind | None) -> None:
        super().__init__(message)
        self.kind: MintKind | None = kind


class MintTagMapper:
    """``ActionMapper[MintAction]`` for MINT's tags, in ``mint`` or ``corrected`` mode (see the
    module docstring)."""

    representation = "mint"

    def __init__(self, mode: MintParseMode = "mint", *, fenced_code: bool = False) -> None:
        if mode not in ("mint", "corrected"):
            raise ValueError(f"unknown MINT parse mode '{mode}'; known: mint, corrected")
        self.mode: MintParseMode = mode
        self.fenced_code = fenced_code

    def parse(self, text: str) -> MintAction:
        """The reply's action; :class:`MintParseError` (an ``ActionParseError`` whose message
        is MINT's format hint) when there is none."""
        try:
            return _parse_mint(text) if self.mode == "mint" else _parse_corrected(text)
        except MintParseError as exc:
            if not self.fenced_code or exc.kind == "solution":
                raise
            content = "\n".join(b.strip() for b in _FENCED_PYTHON.findall(text) if b.strip())
            if not content:
                raise
            return MintAction(kind="execute", content=content)

    def render(self, action: MintAction) -> str:
        """``<kind>content</kind>``; content holding the closing tag cannot be represented."""
        closing = f"</{action.kind}>"
        if closing in action.content or f"<{action.kind}>" in action.content:
            raise ValueError(f"content contains the tag {closing!r} and cannot be rendered")
        return f"<{action.kind}>{action.content}{closing}"


def _parse_mint(text: str) -> MintAction:
    kind: MintKind = "solution" if "<solution>" in text else "execute"
    # MINT pads the reply with newlines before searching; it cannot change what matches.
    content = "\n".join(block.strip() for block in _CLOSED[kind].findall(f"\n{text}\n"))
    if content == "":
        raise MintParseError(MINT_FORMAT_HINT, kind)
    return MintAction(kind=kind, content=content)


def _blocks(text: str, kind: str) -> list[str]:
    """Closed blocks, plus a block left open at the end of the reply that holds no other tag."""
    blocks = _INNERMOST[kind].findall(text)
    last_open = text.rfind(f"<{kind}>")
    tail = text[last_open + len(kind) + 2 :] if last_open != -1 else ""
    if last_open != -1 and not any(tag in tail for tag in _TAGS):
        blocks.append(tail)
    return blocks


def _parse_corrected(text: str) -> MintAction:
    for kind in ("solution", "execute"):
        blocks = [b for b in _blocks(text, kind) if b.strip()]
        if blocks:
            content = "\n".join(b.strip() for b in blocks)
            return MintAction(kind=kind, content=content)  # type: ignore[arg-type]
    raise MintParseError(MINT_FORMAT_HINT, None)
