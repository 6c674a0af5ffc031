"""Shared typed interfaces of Lemur: artifact manifests, messages, shard specs, episode records, protocols.

Depends on pydantic only, so every package (and every user) can read every artifact.
"""

from lemur_core.atomic import atomic_write_bytes, atomic_write_text, file_sha256, tree_sha256
from lemur_core.corpus import CORPUS_SCHEMA_VERSION, FileRef, TokenShard, TokenShardSpec
from lemur_core.episodes import (
    EVAL_RUN_SCHEMA_VERSION,
    EpisodeRecord,
    TerminationReason,
    TurnRecord,
)
from lemur_core.generation import GenerationParams
from lemur_core.hashing import canonical_json, canonical_json_of_plain, canonical_sha256
from lemur_core.manifest import (
    MANIFEST_NAME,
    ArtifactKind,
    ArtifactManifest,
    InputRef,
    ManifestError,
    Producer,
    StaleArtifactError,
    find_reusable,
    read_manifest,
    write_manifest,
)
from lemur_core.messages import InstructExample, Message, Role
from lemur_core.protocols import (
    ActionMapper,
    ActionParseError,
    ChatModel,
    Conversation,
    Scorer,
    ScoreResult,
    TokenCounter,
)

__version__ = "0.1.0"

__all__ = [
    "CORPUS_SCHEMA_VERSION",
    "EVAL_RUN_SCHEMA_VERSION",
    "MANIFEST_NAME",
    "ActionMapper",
    "ActionParseError",
    "ArtifactKind",
    "ArtifactManifest",
    "ChatModel",
    "Conversation",
    "EpisodeRecord",
    "FileRef",
    "GenerationParams",
    "InputRef",
    "InstructExample",
    "ManifestError",
    "Message",
    "Producer",
    "Role",
    "ScoreResult",
    "Scorer",
    "StaleArtifactError",
    "TerminationReason",
    "TokenCounter",
    "TokenShard",
    "TokenShardSpec",
    "TurnRecord",
    "__version__",
    "atomic_write_bytes",
    "atomic_write_text",
    "canonical_json",
    "canonical_json_of_plain",
    "canonical_sha256",
    "file_sha256",
    "find_reusable",
    "read_manifest",
    "tree_sha256",
    "write_manifest",
]
