"""Action formats: how a model's reply becomes the text action an environment steps on.

Each format parses with an :mod:`lemur_agents.actions` mapper and returns a
:class:`ParsedAction`: the env's native action string plus the action in every representation
(recorded in ``TurnRecord.action_representations``). A parse failure raises lemur-core's
``ActionParseError``, whose message the loop shows to the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from lemur_core import ActionParseError

from lemur_agents.actions import (
    ActionSchema,
    FencedCodeMapper,
    MintTagMapper,
    PythonCallMapper,
    SymbolicMapper,
    normalize_language,
)


@dataclass(frozen=True)
class ParsedAction:
    """The env's action string and the same action in each representation."""

    env_action: str
    representations: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class ActionFormat(Protocol):
    """Model text -> :class:`ParsedAction` (raises ``ActionParseError``)."""

    name: str

    def parse(self, text: str) -> ParsedAction: ...


class RawTextFormat:
    """The env gets the reply verbatim (it parses actions itself); empty replies fail."""

    name = "raw"

    def parse(self, text: str) -> ParsedAction:
        """``text`` itself as the action."""
        if not text.strip():
            raise ActionParseError("your reply was empty: answer with an action")
        return ParsedAction(env_action=text, representations={"raw": text})


class MintFormat:
    """MINT's ``<execute>``/``<solution>`` tags; the env gets the canonical tagged text."""

    name = "mint"

    def __init__(self) -> None:
        self.mapper = MintTagMapper()

    def parse(self, text: str) -> ParsedAction:
        """The first solution, else the first code block, re-rendered canonically."""
        action = self.mapper.parse(text)
        rendered = self.mapper.render(action)
        return ParsedAction(env_action=rendered, representations={"mint": rendered})


class CodeBlockFormat:
    """A fenced block in one of ``languages``; the env gets the code (InterCode style).

    ``keep_fence_for`` names languages whose block the env gets still fenced, for envs that run
    several languages and tell them apart by the fence (InterCode-CTF runs ```` ```python ````
    blocks as Python and everything else as bash).
    """

    name = "code"

    def __init__(
        self,
        languages: tuple[str, ...],
        *,
        bare_fallback: bool = True,
        keep_fence_for: tuple[str, ...] = (),
    ) -> None:
        self.mapper = FencedCodeMapper(languages, bare_fallback=bare_fallback)
        self.keep_fence_for = tuple(normalize_language(lang) for lang in keep_fence_for)

    def parse(self, text: str) -> ParsedAction:
        """The first accepted block's code (or the bare reply, with ``bare_fallback``)."""
        action = self.mapper.parse(text)
        fenced = self.mapper.render(action)
        keep = action.language in self.keep_fence_for
        return ParsedAction(
            env_action=fenced if keep else action.code.strip(),
            representations={"code": action.code, "fenced": fenced},
        )


class SchemaFormat:
    """Typed actions of a schema: the model writes ``model_representation`` (``python`` or
    ``symbolic``), the env receives ``env_representation``; both are recorded (paper Fig. 5)."""

    def __init__(
        self,
        schema: ActionSchema,
        *,
        model_representation: Literal["python", "symbolic"] = "python",
        env_representation: Literal["python", "symbolic"] = "symbolic",
    ) -> None:
        self.schema = schema
        self.mappers: dict[str, PythonCallMapper | SymbolicMapper] = {
            "python": PythonCallMapper(schema),
            "symbolic": SymbolicMapper(schema),
        }
        self.model_representation = model_representation
        self.env_representation = env_representation
        self.name = f"{schema.name}-{model_representation}"

    def parse(self, text: str) -> ParsedAction:
        """Parse with the model's representation, render every representation."""
        action = self.mappers[self.model_representation].parse(text)
        reps = {name: mapper.render(action) for name, mapper in self.mappers.items()}
        return ParsedAction(env_action=reps[self.env_representation], representations=reps)
