"""Action-format objects of task specs: each builds, for a run, the lemur-agents
``ActionFormat`` that turns a model reply into the env's action.

* :class:`RawReplies` — the env gets the reply verbatim (single-turn scorers, ALFWorld ...).
* :class:`CodeBlocks` — a fenced block in given languages (InterCode), with its options.
* :class:`WebActions` — WebArena's actions in the run's representation (paper Fig. 5).
* :class:`MintReplies` — MINT's tags: the env gets the raw reply (it does MINT's accounting,
  invalid replies included), and the record gets the reply parsed in the run's scoring mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lemur_agents.actions import MintParseError, MintTagMapper
from lemur_agents.loop import ActionFormat, CodeBlockFormat, ParsedAction, RawTextFormat

from lemur_bench.scorers import ScoringMode

Representation = Literal["python", "symbolic"]


@dataclass(frozen=True)
class FormatContext:
    """What a run tells an action format: scoring mode and web action representation."""

    scoring_mode: ScoringMode = "mint"
    action_representation: Representation = "python"


@dataclass(frozen=True)
class RawReplies:
    """The reply verbatim (empty replies are a parse failure)."""

    def build(self, ctx: FormatContext) -> ActionFormat:
        """lemur-agents' ``RawTextFormat``."""
        return RawTextFormat()


@dataclass(frozen=True)
class CodeBlocks:
    """The first fenced block in ``languages``; ``keep_fence_for`` languages reach the env
    still fenced (InterCode-CTF runs Python blocks as Python, the rest as bash)."""

    languages: tuple[str, ...]
    keep_fence_for: tuple[str, ...] = ()

    def build(self, ctx: FormatContext) -> ActionFormat:
        """lemur-agents' ``CodeBlockFormat`` with these options."""
        return CodeBlockFormat(self.languages, keep_fence_for=self.keep_fence_for)


@dataclass(frozen=True)
class WebActions:
    """WebArena's action schema; the model writes the run's representation."""

    def build(self, ctx: FormatContext) -> ActionFormat:
        """lemur-agents' ``SchemaFormat`` over ``WEBARENA_SCHEMA``."""
        from lemur_agents.actions.webarena import WEBARENA_SCHEMA
        from lemur_agents.loop import SchemaFormat

        return SchemaFormat(WEBARENA_SCHEMA, model_representation=ctx.action_representation)


class MintReplyFormat:
    """Hands the raw reply to :class:`~lemur_bench.envs.MintEnv` and records its parse."""

    def __init__(self, mode: ScoringMode) -> None:
        self.mapper = MintTagMapper(mode)
        self.name = f"mint-{mode}"

    def parse(self, text: str) -> ParsedAction:
        """Never fails: MINT answers an invalid reply itself (and counts it as a step)."""
        try:
            action = self.mapper.parse(text)
        except MintParseError as exc:
            return ParsedAction(env_action=text, representations={"mint_invalid": str(exc.kind)})
        return ParsedAction(
            env_action=text, representations={f"mint_{action.kind}": action.content}
        )


@dataclass(frozen=True)
class MintReplies:
    """MINT's ``<execute>``/``<solution>`` replies, parsed in the run's scoring mode."""

    def build(self, ctx: FormatContext) -> ActionFormat:
        """A :class:`MintReplyFormat` in the run's scoring mode."""
        return MintReplyFormat(ctx.scoring_mode)


ActionFormatSpec = RawReplies | CodeBlocks | WebActions | MintReplies
