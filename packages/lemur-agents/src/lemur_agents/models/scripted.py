"""Scripted replay: completions given in advance, for tests, demos and replaying a run.

A script is chosen per conversation by a substring of its first user message (the task), and
its completion by the number of assistant turns so far, so the reply does not depend on how
episodes are batched. The model counts calls and batch sizes, which tests assert on.

Two features let one script file replay agents whose replies depend on what they are shown:

* ``system_match``: the script applies only when the system prompt contains this text, so one
  file can answer differently per prompt (e.g. per action representation, paper Fig. 5).
* ``fill_element_ids``: web observations number their elements afresh on every page, so a
  script cannot know the ids in advance. With ``fill_element_ids: true`` every ``{id:NAME}``
  in a completion becomes the id of the first accessibility-tree line of the LAST user message
  whose accessible name is exactly ``NAME``; ``{id@ROLE:NAME}`` also requires the role (for
  ``type``, use ``{id@textbox:Biography}``: a label often shares the field's name). ``NAME``
  runs to the closing brace and may hold colons. A name not on the page becomes the marker
  ``<no element 'NAME'>``, which no action parser accepts as an id, so the turn fails visibly
  instead of acting on a wrong element.

Example (YAML)::

    scripts:
      - match: "What is the price of the Harmonizing Code Mug?"
        system_match: "Python function call"
        fill_element_ids: true
        completions: ["click(id={id:Harmonizing Code Mug})", "stop(answer='$12.50')"]
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import yaml
from lemur_core import Conversation, GenerationParams, Role
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lemur_agents.models.base import (
    ModelError,
    approx_token_count,
    assistant_turns,
    cut_at_stop,
    first_user_message,
)

_ELEMENT_ID = re.compile(r"\{id(?:@([A-Za-z]+))?:([^}]+)\}")


class Script(BaseModel):
    """Completions for the conversations whose first user message contains ``match``
    (``None`` matches every conversation) and whose system prompt contains ``system_match``
    (``None``: any system prompt, or none); see the module docstring for ``fill_element_ids``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    match: str | None = None
    system_match: str | None = None
    fill_element_ids: bool = False
    completions: tuple[str, ...] = Field(min_length=1)

    def applies_to(self, conversation: Conversation) -> bool:
        """Whether this script answers ``conversation``."""
        if self.match is not None and self.match not in first_user_message(conversation):
            return False
        if self.system_match is None:
            return True
        system = next((m.content for m in conversation if m.role is Role.SYSTEM), "")
        return self.system_match in system


def fill_element_ids(completion: str, observation: str) -> str:
    """Replace each ``{id:NAME}`` / ``{id@ROLE:NAME}`` in ``completion`` by the id of that
    element in the rendered accessibility tree ``observation``; a name that is not there
    becomes ``<no element 'NAME'>`` (which no action parser accepts)."""
    from lemur_agents.envs.web.accessibility import find_element_id

    def one(match: re.Match[str]) -> str:
        role, name = match.group(1), match.group(2)
        element = find_element_id(observation, name, role=role)
        if element is None:
            return f"<no element {name!r}" + (f" with role {role}>" if role else ">")
        return str(element)

    return _ELEMENT_ID.sub(one, completion)


class ScriptFile(BaseModel):
    """The ``scripted:FILE`` format (JSON or YAML): a name and a list of scripts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "scripted"
    scripts: tuple[Script, ...] = Field(min_length=1)
    when_exhausted: Literal["error", "repeat_last"] = "error"
    context_window: int | None = Field(default=None, ge=16)


class ScriptedChatModel:
    """A ``ChatModel`` that replays scripts (see the module docstring).

    ``calls`` counts ``generate``/``agenerate`` calls and ``batch_sizes`` records each call's
    size. Stop sequences are applied like a real backend's. ``count_tokens`` is
    :func:`approx_token_count`; ``context_window`` (``None`` = unlimited) lets tests exercise
    the episode loop's context check.
    """

    def __init__(
        self,
        scripts: Sequence[Script] | Sequence[str] | Callable[[Conversation], str],
        *,
        name: str = "scripted",
        when_exhausted: Literal["error", "repeat_last"] = "error",
        context_window: int | None = None,
    ) -> None:
        self._fn: Callable[[Conversation], str] | None = None
        self._scripts: tuple[Script, ...] = ()
        if callable(scripts):
            self._fn = scripts
        elif scripts and all(isinstance(s, str) for s in scripts):
            self._scripts = (Script(completions=tuple(str(s) for s in scripts)),)
        else:
            self._scripts = tuple(s for s in scripts if isinstance(s, Script))
            if len(self._scripts) != len(scripts) or not self._scripts:
                raise TypeError("scripts must be Script objects, strings, or one callable")
        self._name = name
        self.when_exhausted = when_exhausted
        self.context_window = context_window
        self.calls = 0
        self.batch_sizes: list[int] = []

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedChatModel:
        """Load a :class:`ScriptFile` (``.json``, ``.yaml`` or ``.yml``)."""
        file = Path(path)
        if not file.exists():
            raise FileNotFoundError(f"script file {file} does not exist")
        text = file.read_text(encoding="utf-8")
        raw = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
        if isinstance(raw, list):
            raw = {"scripts": [{"completions": raw}]}
        try:
            spec = ScriptFile.model_validate(raw)
        except ValidationError as exc:
            raise ValueError(f"{file} is not a valid script file:\n{exc}") from exc
        return cls(
            spec.scripts,
            name=spec.name,
            when_exhausted=spec.when_exhausted,
            context_window=spec.context_window,
        )

    @property
    def name(self) -> str:
        """The model name recorded in episode records."""
        return self._name

    def count_tokens(self, conversation: Conversation) -> int:
        """Approximate prompt tokens (:func:`approx_token_count`)."""
        return approx_token_count(conversation)

    def _complete(self, conversation: Conversation) -> str:
        if self._fn is not None:
            return self._fn(conversation)
        for script in self._scripts:
            if script.applies_to(conversation):
                completion = self._pick(script, assistant_turns(conversation))
                if script.fill_element_ids:
                    last_user = next(
                        (m.content for m in reversed(conversation) if m.role is Role.USER), ""
                    )
                    completion = fill_element_ids(completion, last_user)
                return completion
        task = first_user_message(conversation)
        raise ModelError(f"no script matches the task {task[:80]!r}")

    def _pick(self, script: Script, turn: int) -> str:
        if turn < len(script.completions):
            return script.completions[turn]
        if self.when_exhausted == "repeat_last":
            return script.completions[-1]
        raise ModelError(
            f"script {script.match!r} has {len(script.completions)} completions but "
            f"turn {turn + 1} was requested; add completions or set "
            "when_exhausted='repeat_last'"
        )

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[str]:
        """One scripted completion per conversation, cut at ``params.stop``."""
        self.calls += 1
        self.batch_sizes.append(len(conversations))
        return [cut_at_stop(self._complete(c), params.stop) for c in conversations]

    async def agenerate(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[str]:
        """Async twin of :meth:`generate`."""
        return self.generate(conversations, params)
