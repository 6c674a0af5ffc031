"""The symbolic representation of a schema's actions: ``click [12]``, ``take apple 1 from desk 1``.

Parsing is deterministic: a template becomes an anchored regular expression in which a
bracketed text argument may be empty and the *last* text argument of an action is greedy
(the others lazy), so text containing brackets, quotes or newlines survives a round trip —
``type [3] [a] [b] [1]`` is ``content='a] [b'`` because only the final ``[1]`` can close it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from functools import cached_property

from lemur_core import ActionParseError

from lemur_agents.actions.schema import Action, ActionSchema, ActionSpec, ArgValue
from lemur_agents.actions.webarena import WEBARENA_SCHEMA, read_webarena_reply

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FENCE = re.compile(r"```(?:[A-Za-z]*[ \t]*\n)?(.*?)```", re.DOTALL)


def _whitespace_regex(before: str, after: str) -> str:
    # Beside a bracket the space is optional (``click[3]``); between words it is required, so
    # that ``take {obj} from {target}`` cannot split inside a word.
    word = (before.isalnum() or before == "_") and (after.isalnum() or after == "_")
    return r"\s+" if word else r"\s*"


def _template_regex(spec: ActionSpec, template: str) -> re.Pattern[str]:
    names = _PLACEHOLDER.findall(template)
    text_names = [n for n in names if spec.param(n).kind == "text"]
    last_text = text_names[-1] if text_names else None
    # A placeholder counts as a word character for the whitespace rule.
    flat = _PLACEHOLDER.sub("w", template)
    parts: list[str] = []
    pos = 0
    flat_pos = 0
    for match in [*_PLACEHOLDER.finditer(template), None]:
        literal = template[pos : match.start() if match else len(template)]
        for piece in re.split(r"(\s+)", literal):
            if not piece:
                continue
            if piece.isspace():
                before = flat[flat_pos - 1] if flat_pos > 0 else ""
                after = flat[flat_pos + len(piece)] if flat_pos + len(piece) < len(flat) else ""
                parts.append(_whitespace_regex(before, after))
            else:
                parts.append(re.escape(piece))
            flat_pos += len(piece)
        if match is None:
            break
        param = spec.param(match.group(1))
        bracketed = literal.rstrip().endswith("[")
        if param.kind == "int":
            body = r"-?\d+"
        elif param.kind == "bool":
            body = r"[01]"
        elif param.kind == "choice":
            body = "|".join(re.escape(c) for c in param.choices)
        else:
            body = ".*" if bracketed else ".+"
            if param.name != last_text:
                body += "?"  # only the last free text is greedy: parsing stays deterministic
        parts.append(f"(?P<{param.name}>{body})")
        pos = match.end()
        flat_pos += 1
    return re.compile("".join(parts), re.DOTALL)


def _render_value(value: ArgValue) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


class SymbolicMapper:
    """``ActionMapper[Action]`` for a schema's symbolic templates.

    ``parse`` accepts the action alone or inside a ``` fenced block (WebArena's answer format:
    the first fenced block wins); ``render`` writes the primary template. For
    :data:`~lemur_agents.actions.webarena.WEBARENA_SCHEMA`, a reply is first read as WebArena's
    own parser reads it (:func:`~lemur_agents.actions.webarena.read_webarena_reply`: trailing
    text, bare ``stop``, Enter by default), and only what WebArena rejects falls through to the
    templates.
    """

    representation = "symbolic"

    def __init__(self, schema: ActionSchema) -> None:
        self.schema = schema
        # Wherever a mapper over WebArena's schema is built (the web env, the loop's formats,
        # prompts, fixtures), answers must mean what they mean to WebArena's harness.
        self._official: Callable[[str], Action | None] | None = (
            read_webarena_reply if schema == WEBARENA_SCHEMA else None
        )

    @cached_property
    def _patterns(self) -> list[tuple[ActionSpec, re.Pattern[str]]]:
        out = []
        for spec in self.schema.actions:
            for template in (spec.symbolic, *spec.symbolic_aliases):
                out.append((spec, _template_regex(spec, template)))
        return out

    def parse(self, text: str) -> Action:
        """The action ``text`` denotes; :class:`ActionParseError` listing the valid forms."""
        if self._official is not None:
            official = self._official(text)
            if official is not None:
                return official
        # The whole reply first (so argument text may itself hold ```), then a fenced block.
        fenced = _FENCE.search(text)
        candidates = [text.strip()] + ([fenced.group(1).strip()] if fenced else [])
        for candidate, (spec, pattern) in itertools.product(candidates, self._patterns):
            match = pattern.fullmatch(candidate)
            if match is None:
                continue
            raw = {k: v for k, v in match.groupdict().items() if v is not None}
            args: dict[str, ArgValue] = {}
            for name, value in raw.items():
                kind = spec.param(name).kind
                args[name] = (
                    int(value) if kind == "int" else value == "1" if kind == "bool" else value
                )
            return self.schema.bind(spec.name, args)
        candidate = candidates[-1]
        shown = candidate if len(candidate) <= 200 else candidate[:200] + "..."
        forms = "; ".join(spec.symbolic for spec in self.schema.actions)
        raise ActionParseError(
            f"could not parse {shown!r} as a {self.schema.name} action. Valid forms: {forms}"
        )

    def render(self, action: Action) -> str:
        """The primary symbolic form of ``action`` (validated against the schema first)."""
        action = self.schema.validate_action(action)
        spec = self.schema.spec(action.name)
        return _PLACEHOLDER.sub(lambda m: _render_value(action.args[m.group(1)]), spec.symbolic)
