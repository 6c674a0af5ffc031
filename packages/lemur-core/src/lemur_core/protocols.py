"""The protocols that packages implement for each other: models, action mappers, scorers,
pipeline stages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from lemur_core.generation import GenerationParams
from lemur_core.messages import Message

if TYPE_CHECKING:
    from lemur_core.config import StageConfig
    from lemur_core.stage import StageResult

Conversation = Sequence[Message]
ActionT = TypeVar("ActionT")
ConfigT = TypeVar("ConfigT", bound="StageConfig")


@runtime_checkable
class ChatModel(Protocol):
    """A chat model: one batched call turns many conversations into one completion each."""

    @property
    def name(self) -> str:
        """A stable identifier (used in records and cache keys)."""
        ...

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[str]:
        """Return one completion per conversation, in order."""
        ...

    async def agenerate(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[str]:
        """Async twin of :meth:`generate`."""
        ...


@runtime_checkable
class TokenCounter(Protocol):
    """Counts the prompt tokens of a conversation as the model will see it."""

    def count_tokens(self, conversation: Conversation) -> int: ...


class ActionParseError(ValueError):
    """Model output that is not a valid action; the message tells the model what was wrong."""


@runtime_checkable
class ActionMapper(Protocol[ActionT]):
    """Text <-> typed action. ``parse`` raises :class:`ActionParseError` on bad text."""

    def parse(self, text: str) -> ActionT: ...

    def render(self, action: ActionT) -> str: ...


class ScoreResult(BaseModel):
    """A scorer's verdict on one prediction."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    score: float
    correct: bool
    details: dict[str, Any] = Field(default_factory=dict)


@runtime_checkable
class Scorer(Protocol):
    """Scores a prediction against a reference."""

    name: str

    def score(self, prediction: str, reference: Any) -> ScoreResult: ...


@runtime_checkable
class Stage(Protocol[ConfigT]):
    """One stage of the Lemur pipeline as its package exports it (``lemur_train.STAGE``...).

    The umbrella iterates these: it validates a recipe section with ``config_class``, hands
    the artifacts of the stages named in ``inputs`` to ``run``, and plans with ``estimate``.
    Nothing heavy is imported until ``run`` or ``estimate`` is called.
    """

    @property
    def name(self) -> str:
        """The stage's name: its recipe section and its directory in a workdir (``pretrain``)."""
        ...

    @property
    def config_class(self) -> type[ConfigT]:
        """The config model of the stage (a :class:`lemur_core.config.StageConfig`)."""
        ...

    @property
    def inputs(self) -> tuple[str, ...]:
        """The names of the stages whose artifacts ``run`` needs (``("corpus",)``)."""
        ...

    def artifact_dir(self, out: Path) -> Path:
        """Where, inside the stage's output directory ``out``, its published artifact (the
        directory holding ``manifest.json``) is; a later stage reads that."""
        ...

    def run(
        self,
        config: ConfigT,
        inputs: Mapping[str, Path],
        out: Path,
        *,
        force: bool = False,
        verify: bool = False,
    ) -> StageResult:
        """Build (or reuse, or resume) the artifact of ``config`` in ``out``. ``inputs`` maps
        each name in :attr:`inputs` (and possibly other finished stages) to that stage's
        artifact directory. ``force`` rebuilds even an artifact that matches; ``verify``
        re-hashes every file of one before reusing it (sizes are always checked)."""
        ...

    def estimate(self, config: ConfigT, resources: Mapping[str, Any]) -> dict[str, Any]:
        """Named estimates of a run of ``config`` (sizes, memory, hours) on the hardware that
        ``resources`` describes (keys per stage, see its docs), without running anything. A
        ``report`` entry, when present, is a ready-made multi-line text."""
        ...


__all__ = [
    "ActionMapper",
    "ActionParseError",
    "ChatModel",
    "Conversation",
    "GenerationParams",
    "ScoreResult",
    "Scorer",
    "Stage",
    "TokenCounter",
]
