"""A request cache for any ``ChatModel``: same model, prompt and decoding parameters -> the
stored completion, without calling the model.

Keys are the sha256 of the canonical JSON of ``(model name, conversation, params)``; values live
in a SQLite file (safe across threads and processes). Each batch's answers are stored in one
transaction, written to SQLite's write-ahead log before the call returns, so a killed run keeps
every answer it paid for; the log's fsync (which an OS crash or power loss needs) runs behind,
in :class:`~lemur_bench.durable.SyncBehind`'s thread, instead of one fsync per answer on the
episode loop's thread (32 answers a round cost ~130 ms of fsyncs there). When some requests of a batch fail
(lemur-agents' ``BatchModelError``), the answers that did come are stored before the error goes
on, now carrying the cached answers too, so nothing paid for is asked again. Greedy decoding makes a cached answer the answer the model
would give again; with sampling the cache replays the first sample, which is what a resumed
run needs to reproduce its records.
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lemur_agents.models.base import BatchModelError, ModelError
from lemur_core import (
    ChatModel,
    Conversation,
    GenerationParams,
    canonical_json,
    canonical_json_of_plain,
)

from lemur_bench.durable import SyncBehind


def request_key(model_name: str, conversation: Conversation, params: GenerationParams) -> str:
    """The cache key of one request: ``lemur_core.canonical_sha256`` of
    ``{"model": NAME, "messages": [...], "params": {...}}``, byte for byte.

    Composed from its parts (keys in sorted order, each part canonical JSON) so that the
    messages skip canonical_json's checking walk (20 of the ~700 us an episode cost the runner;
    this is 6 us): ``model_dump(mode="json")`` holds only plain JSON values.
    """
    messages = canonical_json_of_plain([m.model_dump(mode="json") for m in conversation])
    text = (
        f'{{"messages":{messages},"model":{canonical_json_of_plain(model_name)},'
        f'"params":{_params_json(params)}}}'
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=64)
def _params_json(params: GenerationParams) -> str:
    return canonical_json(params)  # one params object serves a whole run


class CachedChatModel:
    """Wraps ``inner``; only cache misses reach it, batched as they came."""

    def __init__(self, inner: ChatModel, path: Path, syncer: SyncBehind | None = None) -> None:
        self.inner = inner
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._own_syncer = syncer is None
        self._syncer = syncer or SyncBehind("lemur-cache-fsync")
        self._wal = Path(f"{path}-wal")
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a commit writes the WAL without fsyncing it (a killed process loses nothing,
        # the kernel has the pages); the fsync an OS crash needs is done behind (_store).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, text TEXT)")
        self.hits = 0
        self.misses = 0
        self._closer: threading.Thread | None = None
        self._close_error: BaseException | None = None
        # Per prompt of the last call: the backend's count for a miss, None for a hit (the
        # backend's own attribute would describe another call's prompts).
        self.last_completion_tokens: list[int | None] = []

    @property
    def name(self) -> str:
        """The wrapped model's name."""
        return self.inner.name

    def __getattr__(self, attr: str) -> Any:
        # count_tokens, context_window, ... of the wrapped backend stay visible to the loop.
        return getattr(self.inner, attr)

    def _lookup(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            # SQLite binds at most 999 parameters per statement in older builds.
            for start in range(0, len(unique), 900):
                chunk = unique[start : start + 900]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, text FROM completions WHERE key IN ({marks})", chunk
                )
                found.update(rows.fetchall())
        return found

    def _store(self, pairs: list[tuple[str, str]]) -> None:
        if not pairs:
            return
        with self._lock:
            if len(pairs) == 1:
                # One row (the continuous schedule's one-prompt calls): autocommit makes the
                # statement its own transaction, the same commit in one call instead of three.
                self._db.execute("INSERT OR REPLACE INTO completions VALUES (?, ?)", pairs[0])
            else:
                # One transaction per batch: in autocommit mode every row was its own commit.
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany("INSERT OR REPLACE INTO completions VALUES (?, ?)", pairs)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        self._syncer.mark(self._wal)

    def sync(self) -> None:
        """Block until every stored answer is on disk."""
        self._syncer.wait()

    def _plan(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> tuple[list[str], dict[str, str], list[int]]:
        keys = [request_key(self.name, c, params) for c in conversations]
        found = self._lookup(keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        self.last_completion_tokens = [None] * len(keys)
        return keys, found, missing

    def _note_tokens(self, missing: list[int]) -> None:
        counts = getattr(self.inner, "last_completion_tokens", None)
        if isinstance(counts, list) and len(counts) == len(missing):
            for i, count in zip(missing, counts, strict=True):
                self.last_completion_tokens[i] = count if isinstance(count, int) else None

    def _merge(
        self,
        keys: list[str],
        found: dict[str, str],
        missing: list[int],
        outs: list[str | ModelError],
    ) -> list[str]:
        """Store the answers among ``outs`` (the misses, in order); the full batch in order,
        or a :class:`BatchModelError` over the full batch when any miss failed."""
        self._store(
            [(keys[i], o) for i, o in zip(missing, outs, strict=True) if isinstance(o, str)]
        )
        failed: dict[int, ModelError] = {}
        for i, o in zip(missing, outs, strict=True):
            if isinstance(o, str):
                found[keys[i]] = o
            else:
                failed[i] = o
        if failed:
            raise BatchModelError(
                [failed[i] if i in failed else found[k] for i, k in enumerate(keys)]
            )
        return [found[k] for k in keys]

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[str]:
        """Cached completions, the misses generated in one batch and stored."""
        keys, found, missing = self._plan(conversations, params)
        if not missing:
            return [found[k] for k in keys]
        outs: list[str | ModelError]
        try:
            outs = list(self.inner.generate([conversations[i] for i in missing], params))
            self._note_tokens(missing)
        except BatchModelError as exc:
            outs = exc.outputs
        except ModelError as exc:
            if len(missing) != 1 or len(keys) == 1:
                raise
            outs = [exc]  # the one miss failed; the hits still count
        return self._merge(keys, found, missing, outs)

    async def agenerate(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[str]:
        """Async twin of :meth:`generate`."""
        keys, found, missing = self._plan(conversations, params)
        if not missing:
            return [found[k] for k in keys]
        outs: list[str | ModelError]
        try:
            outs = list(await self.inner.agenerate([conversations[i] for i in missing], params))
            self._note_tokens(missing)  # before anything else awaits
        except BatchModelError as exc:
            outs = exc.outputs
        except ModelError as exc:
            if len(missing) != 1 or len(keys) == 1:
                raise
            outs = [exc]
        return self._merge(keys, found, missing, outs)

    def close(self, *, behind: bool = False) -> None:
        """Sync what is stored, then close the SQLite file.

        Every stored answer is on disk when this returns. With ``behind``, closing the file
        itself runs in a thread (:meth:`wait_closed` waits for it): SQLite's close copies the
        write-ahead log into the database and fsyncs both (15-40 ms here, at the end of every
        run), which durability does not need once the log is fsynced, so the run's summary
        need not wait for it.
        """
        if self._closer is not None:
            self.wait_closed()
            return
        try:
            if self._own_syncer:
                self._syncer.close()
            else:
                self._syncer.wait()
        except BaseException:
            self._close_db()
            raise
        if not behind:
            self._close_db()
            return
        self._closer = threading.Thread(target=self._close_db, name="lemur-cache-close")
        self._closer.start()

    def wait_closed(self) -> None:
        """Wait for a :meth:`close` ``(behind=True)`` to finish (re-raising its error)."""
        if self._closer is not None:
            self._closer.join()
        if self._close_error is not None:
            error, self._close_error = self._close_error, None
            raise error

    def _close_db(self) -> None:
        try:
            with self._lock:
                self._db.close()
        except BaseException as exc:  # kept for wait_closed (a thread's error is lost)
            if self._closer is None:
                raise
            self._close_error = exc
