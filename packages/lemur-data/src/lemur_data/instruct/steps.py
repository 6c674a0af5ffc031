"""The steps of the instruction-set build, in the order they run.

Each source goes through its own chain of :class:`ExampleStep` s, lazily, one row at a time::

    ReadRows -> Convert -> CountRows -> EnglishFilter -> SplitByTokenBudget
             -> Decontaminate -> ExactDedup -> (kept rows of the source)

A step takes and yields :data:`Item` s: an example goes on (changed, split or as it is) or
becomes a :class:`Rejected` with its reason; a rejected item passes every later step untouched,
so the build counts and lists each removal where the chain ends. Steps that a source's spec
does not ask for are left out of its chain (:func:`source_chain`).

Decontamination runs before exact dedup, and ExactDedup remembers only what it let through
(the last step of the chain: the kept rows), so "duplicate" means a copy of an earlier *kept*
example and a copy of a contaminated one is reported as contaminated too. (Two examples with
one exact key have the same words, so the same decontamination verdict: the order of the two
steps changes no verdict.)

Once every source is done, the set-level steps run over all of them: :class:`SemanticDedup`
(across the sources marked ``semantic_dedup``) and :class:`Mixture` (each source's ``take``);
:mod:`lemur_data.instruct.build` writes what they keep.
"""

from __future__ import annotations

import hashlib
import logging
import random
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from lemur_core import InstructExample, Message, Role

from lemur_data.decontam import Decontaminator
from lemur_data.instruct.config import InstructConfig, SemanticDedupSpec, SourceFormat, SourceSpec
from lemur_data.instruct.converters import convert
from lemur_data.instruct.converters.rows import Fixes, Rejected
from lemur_data.instruct.english import EnglishFilter
from lemur_data.instruct.readers import iter_rows

log = logging.getLogger("lemur_data.instruct")

Item = InstructExample | Rejected
"""What flows between steps: an example, or a row that was dropped and why."""

Tick = Callable[[int], None]


def exact_key(example: InstructExample) -> bytes:
    """The exact-dedup key: sha256 over roles and whitespace-normalized contents (the source
    and id are not part of it, so copies across sources collide)."""
    digest = hashlib.sha256()
    for msg in example.messages:
        digest.update(
            msg.role.value.encode() + b"\0" + " ".join(msg.content.split()).encode() + b"\1"
        )
    return digest.digest()


def dedup_text(example: InstructExample, field: str) -> str:
    """The text semantic dedup embeds: the user turns (``user``) or every turn (``all``)."""
    return "\n".join(
        m.content for m in example.messages if field == "all" or m.role.value == "user"
    )


# -- reading and converting ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReadRows:
    """The raw rows of a source (files or a streamed Hugging Face dataset; none for stdlib)."""

    spec: SourceSpec

    def __call__(self) -> Iterator[Any]:
        """Every row in a deterministic order (:func:`lemur_data.instruct.readers.iter_rows`)."""
        if self.spec.format is SourceFormat.STDLIB:
            return iter(())
        return iter_rows(self.spec)


@dataclass(frozen=True)
class Convert:
    """Rows in the source's published schema -> examples or rejected rows (its converter)."""

    spec: SourceSpec
    fixes: Fixes

    def __call__(self, rows: Iterable[Any]) -> Iterator[Item]:
        """:func:`lemur_data.instruct.converters.convert` over ``rows``."""
        return convert(self.spec, rows, self.fixes)


class Step(Protocol):
    """One step of a source's chain: items in, items out, in order."""

    name: ClassVar[str]

    def __call__(self, items: Iterable[Item]) -> Iterator[Item]:
        """The items after this step."""
        ...


class ExampleStep(ABC):
    """A :class:`Step` that looks at one example at a time; rejected items pass untouched."""

    name: ClassVar[str]

    def __call__(self, items: Iterable[Item]) -> Iterator[Item]:
        """Apply the step to every example; pass rejected items on untouched."""
        for item in items:
            if isinstance(item, Rejected):
                yield item
            else:
                yield from self.apply(item)

    @abstractmethod
    def apply(self, example: InstructExample) -> Iterable[Item]:
        """What becomes of one example: itself, a changed one, parts, or a :class:`Rejected`."""


class CountRows:
    """Counts the converted rows (rejected ones too: ``rows_read``) and reports progress."""

    name: ClassVar[str] = "count rows"

    def __init__(self, tick: Tick, every: int = 256) -> None:
        self.tick = tick
        self.every = every
        self.rows = 0

    def __call__(self, items: Iterable[Item]) -> Iterator[Item]:
        """Yield every item, counting it; report the count every ``every`` rows and at the end."""
        for item in items:
            self.rows += 1
            if self.rows % self.every == 0:
                self.tick(self.rows)
            yield item
        self.tick(self.rows)


class EnglishFilterStep(ExampleStep):
    """Drops non-English examples and non-English sentences (:class:`EnglishFilter`)."""

    name = "english filter"

    def __init__(self, english: EnglishFilter, fixes: Fixes, languages: Counter[str]) -> None:
        self.english = english
        self.fixes = fixes
        self.languages = languages

    def apply(self, example: InstructExample) -> Iterable[Item]:
        """The example with offending sentences removed, or ``non_english`` (the language)."""
        verdict = self.english.apply(example)
        self.languages[verdict.language or "unjudged"] += 1
        self.fixes["english_sentences_removed"] += verdict.sentences_removed
        if verdict.example is None:
            return (Rejected(example.id, verdict.reason or "non_english", verdict.language or ""),)
        return (verdict.example,)


def split_by_token_budget(
    example: InstructExample,
    max_tokens: int,
    count_tokens: Callable[[str], int],
    fixes: Fixes,
) -> list[InstructExample]:
    """Split ``example`` into parts of whole rounds (user turn + assistant reply) whose token
    count, system prompt included, stays within ``max_tokens``.

    A round longer than the budget on its own is dropped (``round_over_budget_dropped``)
    rather than truncated mid-message; parts are ids ``<id>#part<k>`` when there is more than
    one. Returns ``[]`` when every round was over budget.
    """
    msgs = list(example.messages)
    system = [msgs[0]] if msgs[0].role is Role.SYSTEM else []
    body = msgs[len(system) :]
    rounds: list[list[Message]] = []
    for msg in body:
        if msg.role is Role.USER or not rounds:
            rounds.append([msg])
        else:
            rounds[-1].append(msg)
    base = sum(count_tokens(m.content) for m in system)
    total = base + sum(count_tokens(m.content) for m in body)
    if total <= max_tokens:
        return [example]
    parts: list[list[Message]] = []
    current: list[Message] = []
    used = base
    for rnd in rounds:
        cost = sum(count_tokens(m.content) for m in rnd)
        if base + cost > max_tokens:
            fixes["round_over_budget_dropped"] += 1
            if current:
                parts.append(current)
            current, used = [], base
            continue
        if used + cost > max_tokens and current:
            parts.append(current)
            current, used = [], base
        current.extend(rnd)
        used += cost
    if current:
        parts.append(current)
    parts = [p for p in parts if any(m.role is Role.ASSISTANT for m in p)]
    fixes["split_into_parts"] += len(parts) if len(parts) > 1 else 0
    if len(parts) == 1:
        return [
            InstructExample(id=example.id, source=example.source, messages=tuple(system + parts[0]))
        ]
    return [
        InstructExample(
            id=f"{example.id}#part{k}", source=example.source, messages=tuple(system + part)
        )
        for k, part in enumerate(parts)
    ]


class SplitByTokenBudget(ExampleStep):
    """Splits a long conversation into parts under a token budget
    (:func:`split_by_token_budget`); ``over_token_budget`` when no round fits."""

    name = "split by token budget"

    def __init__(self, max_tokens: int, count_tokens: Callable[[str], int], fixes: Fixes) -> None:
        self.max_tokens = max_tokens
        self.count_tokens = count_tokens
        self.fixes = fixes

    def apply(self, example: InstructExample) -> Iterable[Item]:
        """The parts of ``example`` (itself when it fits)."""
        parts = split_by_token_budget(example, self.max_tokens, self.count_tokens, self.fixes)
        return parts or (Rejected(example.id, "over_token_budget"),)


class Decontaminate(ExampleStep):
    """Drops examples sharing an n-gram with a benchmark item (``decontaminated``, the first
    item's id); logs up to five hits of each to ``hits_log``."""

    name = "decontaminate"

    def __init__(
        self, decontaminator: Decontaminator, source: str, hits_log: list[dict[str, Any]]
    ) -> None:
        self.decontaminator = decontaminator
        self.source = source
        self.hits_log = hits_log

    def apply(self, example: InstructExample) -> Iterable[Item]:
        """``example`` when clean, else its :class:`Rejected`."""
        hits = self.decontaminator.hits("\n".join(m.content for m in example.messages))
        if not hits:
            return (example,)
        self.hits_log.extend(
            {"id": example.id, "source": self.source, "item_id": h.item_id, "ngram": h.ngram}
            for h in hits[:5]
        )
        return (Rejected(example.id, "decontaminated", hits[0].item_id),)


class ExactDedup(ExampleStep):
    """Drops copies of an earlier kept example, across sources (``exact_duplicate``).

    ``seen`` holds the keys (:func:`exact_key`) of every example kept so far; it is shared by
    the chains of all sources, and filled with a resumed source's rows before the next runs.
    """

    name = "exact dedup"

    def __init__(self, seen: set[bytes]) -> None:
        self.seen = seen

    def apply(self, example: InstructExample) -> Iterable[Item]:
        """``example`` the first time its key is seen, else ``exact_duplicate``."""
        key = exact_key(example)
        if key in self.seen:
            return (Rejected(example.id, "exact_duplicate"),)
        self.seen.add(key)
        return (example,)


# -- one source -----------------------------------------------------------------------------------


@dataclass
class SourceRun:
    """What a source's chain produced: kept rows, per-reason removals, logs and its stats."""

    kept: list[InstructExample] = field(default_factory=list)
    removed_log: list[dict[str, Any]] = field(default_factory=list)
    hits_log: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SharedSteps:
    """What the chains of all sources share: the exact-dedup keys and the loaded models."""

    config: InstructConfig
    seen: set[bytes]
    english: EnglishFilter | None
    count_tokens: Callable[[str], int]
    decontaminator: Decontaminator | None


def source_chain(
    spec: SourceSpec,
    shared: SharedSteps,
    fixes: Fixes,
    languages: Counter[str],
    hits_log: list[dict[str, Any]],
    tick: Tick,
) -> tuple[ReadRows, Convert, CountRows, list[Step]]:
    """The steps of ``spec``'s chain, in order (see the module docstring)."""
    counter = CountRows(tick)
    steps: list[Step] = [counter]
    if shared.english is not None and spec.english_filter:
        steps.append(EnglishFilterStep(shared.english, fixes, languages))
    if spec.max_tokens_per_example is not None:
        steps.append(SplitByTokenBudget(spec.max_tokens_per_example, shared.count_tokens, fixes))
    if shared.decontaminator is not None:
        steps.append(Decontaminate(shared.decontaminator, spec.name, hits_log))
    if shared.config.exact_dedup:
        steps.append(ExactDedup(shared.seen))
    return ReadRows(spec), Convert(spec, fixes), counter, steps


def run_source(spec: SourceSpec, shared: SharedSteps, tick: Tick) -> SourceRun:
    """Run ``spec``'s chain to the end; every removal is counted and listed with its reason."""
    run = SourceRun()
    fixes: Fixes = Counter()
    languages: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    read, conv, counter, steps = source_chain(spec, shared, fixes, languages, run.hits_log, tick)
    items: Iterable[Item] = conv(read())
    for step in steps:
        items = step(items)
    for item in items:
        if isinstance(item, Rejected):
            removed[item.reason] += 1
            if removed[item.reason] <= 3:
                log.info(
                    "source %s: removed %s (%s) %s",
                    spec.name,
                    item.row_id,
                    item.reason,
                    item.detail,
                )
            run.removed_log.append(
                {
                    "id": item.row_id,
                    "source": spec.name,
                    "reason": item.reason,
                    "detail": item.detail,
                }
            )
        else:
            run.kept.append(item)
    run.stats = {
        "rows_read": counter.rows,
        "after_filters": len(run.kept),
        "removed": dict(sorted(removed.items())),
        "fixes": dict(sorted((k, v) for k, v in fixes.items() if v)),
    }
    if languages:
        run.stats["langdetect"] = dict(languages.most_common())
    return run


# -- across sources -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SemanticDedup:
    """Greedy semantic dedup over the rows of the sources marked ``semantic_dedup``, in config
    order: a row is removed (``semantic_duplicate``) when its embedding is closer than the
    threshold to an earlier kept row's (:func:`lemur_data.instruct.semantic_dedup.semantic_dedup`)."""

    spec: SemanticDedupSpec
    names: Sequence[str]

    def __call__(
        self,
        per_source: dict[str, list[InstructExample]],
        source_stats: dict[str, dict[str, Any]],
        removed_log: list[dict[str, Any]],
        tick: Callable[[str, int | None], Tick],
    ) -> dict[str, Any]:
        """Remove the duplicates from ``per_source`` (in place), count and list them; returns
        the manifest's ``semantic_dedup`` stats."""
        if not self.names:
            return {"enabled": False}
        from lemur_data.instruct.embedders import make_embedder
        from lemur_data.instruct.semantic_dedup import semantic_dedup

        spec, names = self.spec, list(self.names)
        owners = [(name, i) for name in names for i in range(len(per_source[name]))]
        texts = [dedup_text(per_source[name][i], spec.field) for name, i in owners]
        embedder = make_embedder(spec.embedder)
        result = semantic_dedup(
            texts,
            embedder,
            spec.threshold,
            spec.block_size,
            tick("semantic dedup search", len(texts)),
        )
        drop: dict[str, set[int]] = {name: set() for name in names}
        for row, (kept_row, cosine) in sorted(result.duplicate_of.items()):
            name, i = owners[row]
            drop[name].add(i)
            kept_name, kept_i = owners[kept_row]
            removed_log.append(
                {
                    "id": per_source[name][i].id,
                    "source": name,
                    "reason": "semantic_duplicate",
                    "detail": f"cos={cosine:.4f} with {per_source[kept_name][kept_i].id}",
                }
            )
        for name in names:
            before = len(per_source[name])
            per_source[name] = [e for i, e in enumerate(per_source[name]) if i not in drop[name]]
            removed = source_stats[name]["removed"]
            if before - len(per_source[name]):
                removed["semantic_duplicate"] = before - len(per_source[name])
            source_stats[name]["after_semantic_dedup"] = len(per_source[name])
        return {
            "enabled": True,
            "sources": names,
            "threshold": spec.threshold,
            "field": spec.field,
            "embedder": embedder.describe(),
            "rows": len(texts),
            "removed": result.removed,
            "block_size": spec.block_size,
            "embed_seconds": round(result.embed_seconds, 3),
            "search_seconds": round(result.search_seconds, 3),
            **{k: round(v, 1) for k, v in result.throughput().items() if k != "rows"},
        }


def select(n: int, take: int | float | None, seed: int, name: str) -> list[int]:
    """Indices kept by the mixture rule, ascending (seeded sample without replacement)."""
    if take is None:
        return list(range(n))
    k = min(n, take) if isinstance(take, int) else round(n * take)
    if isinstance(take, int) and take > n:
        log.warning(
            "source %s: take=%d but only %d rows survive filtering; taking all", name, take, n
        )
    return sorted(random.Random(f"{seed}:{name}").sample(range(n), k))


@dataclass(frozen=True)
class Mixture:
    """Each source's ``take`` of its surviving rows (:func:`select`), sources in config order."""

    sources: Sequence[SourceSpec]
    seed: int

    def __call__(
        self,
        per_source: dict[str, list[InstructExample]],
        source_stats: dict[str, dict[str, Any]],
    ) -> list[tuple[SourceSpec, InstructExample]]:
        """The selected rows with their source, in output order; records ``selected``."""
        selected: list[tuple[SourceSpec, InstructExample]] = []
        for spec in self.sources:
            rows = per_source[spec.name]
            chosen = select(len(rows), spec.take, self.seed, spec.name)
            source_stats[spec.name]["selected"] = len(chosen)
            selected.extend((spec, rows[i]) for i in chosen)
        return selected
