"""Which replica of a data-parallel model server a request goes to.

Several OpenAI-compatible servers (vLLM replicas) that serve the same model are one model to a
run: each request goes to the live replica with the fewest requests outstanding (ties to the
one sent the fewest so far, then to the one listed first: requests that come one at a time, as
the episode loop's continuous schedule sends them, still spread over every replica), at most
``per_replica`` in flight on each. A replica whose request failed in
a way a retry might fix (refused, reset, timed out, 5xx, 429, a 200 that is not a completion)
cools down — it gets no requests for ``cooldown`` seconds, doubling with each failure in a row up
to ``max_cooldown`` — and then takes one probing request at a time until one succeeds. When no
replica is healthy, requests go to whichever has room (so a lone replica behaves as it did
before there were replicas: the client's own backoff paces the retries).

The pool is plain bookkeeping with an injectable clock, so its choices are tested without a
server; :class:`~lemur_agents.models.openai_http.OpenAIChatModel` drives it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass
class Replica:
    """One server's state: requests in flight, failures in a row, when its cool-down ends."""

    url: str
    outstanding: int = 0
    failures: int = 0
    cool_until: float = 0.0
    sent: int = 0
    failed: int = 0


class ReplicaPool:
    """Least-outstanding-requests choice over ``urls`` with cool-downs (see the module doc)."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        per_replica: int,
        cooldown: float = 2.0,
        max_cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("a replica pool needs at least one base URL")
        if len(set(urls)) != len(urls):
            raise ValueError(f"a base URL is listed twice in {list(urls)}")
        if per_replica < 1:
            raise ValueError("need per_replica >= 1")
        self.replicas = [Replica(u) for u in urls]
        self.per_replica = per_replica
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.clock = clock
        # Calls of one model may run in several event loops (threads): updates are locked.
        self._lock = threading.Lock()

    def _healthy(self, r: Replica) -> bool:
        return r.failures == 0

    def _probing(self, r: Replica, now: float) -> bool:
        return r.failures > 0 and r.cool_until <= now

    def pick(self) -> Replica | None:
        """Claim a slot on the replica the next request should go to; ``None`` when every
        replica that may take requests is full (wait for :meth:`release` or :meth:`wait_hint`)."""
        with self._lock:
            now = self.clock()
            room = [r for r in self.replicas if r.outstanding < self.per_replica]
            choice = min(
                (r for r in room if self._healthy(r)),
                key=lambda r: (r.outstanding, r.sent),
                default=None,
            )
            if choice is None:
                # A cooled-down replica is probed by one request at a time.
                choice = next(
                    (r for r in room if self._probing(r, now) and r.outstanding == 0), None
                )
            if choice is None and not any(self._healthy(r) for r in self.replicas):
                # Nothing is healthy: try whichever has room, the soonest out of cool-down first.
                choice = min(room, key=lambda r: (r.cool_until, r.outstanding), default=None)
            if choice is not None:
                choice.outstanding += 1
                choice.sent += 1
            return choice

    def release(self, replica: Replica, *, ok: bool | None) -> None:
        """Give back ``replica``'s slot: ``ok=True`` a completion (healthy again), ``False`` a
        retryable failure (cool down), ``None`` an answer that says nothing of its health."""
        with self._lock:
            replica.outstanding -= 1
            if ok:
                replica.failures = 0
                replica.cool_until = 0.0
            elif ok is False:
                replica.failed += 1
                replica.failures += 1
                wait = min(self.cooldown * 2 ** (replica.failures - 1), self.max_cooldown)
                replica.cool_until = self.clock() + wait

    def another_is_healthy(self, replica: Replica) -> bool:
        """Whether a retry can go at once to a healthy replica other than ``replica``."""
        with self._lock:
            return any(self._healthy(r) for r in self.replicas if r is not replica)

    def wait_hint(self, default: float = 0.5) -> float:
        """Seconds until the next cool-down ends, at most ``default``: a waiting request looks
        again then (a freed slot wakes it sooner)."""
        with self._lock:
            now = self.clock()
            ends = [r.cool_until - now for r in self.replicas if r.cool_until > now]
            return max(0.001, min([default, *ends]))

    def describe(self) -> str:
        """``url (sent n, failed m)`` per replica, for error messages and logs."""
        with self._lock:
            return ", ".join(f"{r.url} (sent {r.sent}, failed {r.failed})" for r in self.replicas)
