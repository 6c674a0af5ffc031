"""OpenAI-compatible chat completions over HTTP: vLLM, TGI, ``transformers serve``, OpenAI.

One ``POST {base_url}/chat/completions`` per conversation, at most ``concurrency`` in flight.
Given several base URLs (data-parallel replicas of one model), each request goes to the live
replica with the fewest requests outstanding, ``concurrency`` in flight on each; a replica that
fails cools down and is probed again later, and the request is retried on another replica at
once (:mod:`lemur_agents.models.replicas`).
What a flaky server does is retried, with exponential backoff and jitter (``Retry-After``
honoured, up to ``max_backoff_seconds``), at most ``max_retries`` times: timeouts, connection
errors and resets, 408/409/425/429 and 5xx, and 200 answers that are not a completion
(truncated or malformed JSON, an HTML page, a body without ``choices``). What retrying cannot
fix fails at once: 401/403 (credentials) and 404 (wrong URL or model name) as
:class:`ModelEndpointError` naming the fix, other 4xx with the server's message. When only
some requests of a batch fail, :class:`BatchModelError` carries the answers that came.

Requests run on connections kept for the model's lifetime (one per request in flight, so at
most ``concurrency`` per replica, each kept alive): connections stay open from one batch to the
next. Plain ``http://`` replicas (a local vLLM, TGI, the loopback server) are served by
:mod:`lemur_agents.models.http11`, a small HTTP/1.1 client that costs a fraction of httpx's CPU
per request (~1 ms there, most of an evaluation episode's harness time); ``https://`` ones (and
URLs with credentials or a query) by httpx. A client per call, as before, opened ``concurrency`` new TCP
connections every round of the episode loop (and closed all but httpx's default 20 keep-alive
ones), started a new event loop for each synchronous call, and spent ~4 ms of CPU per request
in httpcore's pool bookkeeping. ``agenerate`` runs on the caller's event loop (clients per
loop; :meth:`OpenAIChatModel.aclose` closes that loop's); ``generate`` hands its batch to one
private event loop in a daemon thread (:meth:`OpenAIChatModel.close` ends it; a later call
starts it again).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import email.utils
import os
import random
import ssl
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any, NamedTuple

import httpx
from lemur_core import Conversation, GenerationParams

from lemur_agents.models import http11
from lemur_agents.models.base import (
    BatchModelError,
    ModelEndpointError,
    ModelError,
    approx_token_count,
    cut_at_stop,
    to_openai_messages,
)
from lemur_agents.models.replicas import Replica, ReplicaPool

_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
# OpenAI accepts at most 4 stop sequences; all of them are applied client-side as well.
_MAX_SERVER_STOPS = 4


# A connection to one replica: the lean HTTP/1.1 client on plain http, httpx's transport otherwise.
_Client = http11.HTTPConnection | httpx.AsyncHTTPTransport
_Answer = http11.Response | httpx.Response
_TIMEOUTS = (http11.TimeoutException, httpx.TimeoutException)
_TRANSPORT_ERRORS = (http11.TransportError, httpx.TransportError)


class _MalformedAnswer(Exception):
    """A 200 response that is not a chat completion (retried: truncation is transient)."""


class _Route(NamedTuple):
    """The model's idle connections (per replica) and the condition waiting requests sleep on.

    One connection per request in flight, kept alive. For https, one httpx transport each:
    httpcore's pool scans every connection it holds (a ``poll`` syscall each) for every request
    it places, which at 32 connections cost ~4 ms of CPU per request, more than the rest of the
    harness. Requests go to the transport directly: ``httpx.AsyncClient``'s own layers (URL
    joining, auth, cookies, redirects, hooks) nearly doubled the CPU time of a request
    (~830 vs ~445 us measured here) and do nothing for one JSON POST.
    """

    idle: dict[str, list[_Client]]
    room: asyncio.Condition


class OpenAIChatModel:
    """A ``ChatModel`` backed by an OpenAI-compatible server.

    ``base_url`` is the API root (``http://localhost:8000/v1``), or a list of them: replicas
    serving the same model, ``concurrency`` requests in flight on each; ``model`` the served
    model name. ``api_key`` defaults to ``$OPENAI_API_KEY`` (sent only when set). ``context_window``
    is used by the episode loop's context check with :func:`approx_token_count`.
    ``last_usage`` holds the ``usage`` objects of the last call's responses and
    ``last_completion_tokens`` their ``completion_tokens`` (recorded in turn records).
    """

    #: Requests are independent and the server batches them itself: the episode loop's
    #: continuous schedule (each episode asks as soon as it can) keeps it full.
    serves_concurrently = True

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 4,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
        concurrency: int = 8,
        replica_cooldown_seconds: float = 2.0,
        context_window: int | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"base_url must start with http:// or https://, got {url!r}")
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise ValueError("need concurrency >= 1, max_retries >= 0 and timeout > 0")
        self.base_urls = tuple(u.rstrip("/") for u in urls)
        self.base_url = self.base_urls[0] if self.base_urls else ""
        self.pool = ReplicaPool(
            self.base_urls,
            per_replica=concurrency,
            cooldown=replica_cooldown_seconds,
            max_cooldown=max(max_backoff_seconds, replica_cooldown_seconds),
        )
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.concurrency = concurrency
        self.context_window = context_window
        self.extra_body = dict(extra_body or {})
        self.last_usage: list[dict[str, Any]] = []
        self.last_completion_tokens: list[int | None] = []
        self.requests_sent = 0
        self.retries = 0  # attempts after a retryable failure, over the model's lifetime
        self.timeouts = 0  # attempts that got no answer within ``timeout``
        self._served: list[str] | None = None  # GET /models, read once when a 404 needs it
        # Building an SSL context loads the CA bundle (~40 ms); do it once, not per batch.
        self._ssl_context: ssl.SSLContext | None = None
        self._io_lock = threading.Lock()
        self._urls: dict[str, httpx.URL] = {}
        # Each replica's (host, port, Host header, API path) when the lean client serves it.
        self._lean = {url: http11.lean_target(url) for url in self.base_urls}
        self._io_loop: asyncio.AbstractEventLoop | None = None
        self._io_thread: threading.Thread | None = None
        # One set of clients per event loop (a client's connections belong to its loop).
        self._routes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Route] = (
            weakref.WeakKeyDictionary()
        )

    def _ssl(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            import certifi

            self._ssl_context = ssl.create_default_context(cafile=certifi.where())
        return self._ssl_context

    @property
    def name(self) -> str:
        """``openai:<model>`` — the served model's name, recorded in episodes."""
        return f"openai:{self.model}"

    def count_tokens(self, conversation: Conversation) -> int:
        """Approximate prompt tokens; the server's tokenizer is not available here."""
        return approx_token_count(conversation)

    def _payload(self, conversation: Conversation, params: GenerationParams) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(conversation),
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.stop:
            payload["stop"] = list(params.stop[:_MAX_SERVER_STOPS])
        if params.seed is not None:
            payload["seed"] = params.seed
        payload.update(self.extra_body)
        return payload

    def _delay(self, attempt: int, response: _Answer | None) -> float:
        if response is not None:
            wait = _retry_after(response.headers.get("retry-after"))
            if wait is not None:
                return min(wait, self.max_backoff_seconds)
        base = min(self.backoff_seconds * (2**attempt), self.max_backoff_seconds)
        return base * (0.5 + random.random() / 2)  # jitter: retries of a batch do not align

    def _where(self) -> str:
        if len(self.base_urls) == 1:
            return self.base_url
        return f"{len(self.base_urls)} replicas [{self.pool.describe()}]"

    async def _claim(self, route: _Route) -> Replica:
        """A slot on the replica this attempt goes to (waits while every one is full)."""
        async with route.room:
            while (replica := self.pool.pick()) is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(route.room.wait(), self.pool.wait_hint())
            return replica

    async def _release(self, route: _Route, replica: Replica, ok: bool | None) -> None:
        async with route.room:
            self.pool.release(replica, ok=ok)
            route.room.notify_all()

    async def _one(
        self, route: _Route, conversation: Conversation, params: GenerationParams
    ) -> tuple[str, dict[str, Any]]:
        payload = self._payload(conversation, params)
        last_problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.retries += 1
            response: _Answer | None = None
            replica = await self._claim(route)
            # The replica's slot is ours, so at most ``concurrency`` clients ever exist.
            idle = route.idle[replica.url]
            client = idle.pop() if idle else self._new_client(replica.url)
            answer: tuple[str, dict[str, Any]] | None = None
            healthy: bool | None = False
            try:
                self.requests_sent += 1
                try:
                    response = await self._send(client, "POST", replica.url, payload)
                except _TIMEOUTS as exc:
                    self.timeouts += 1
                    last_problem = f"{type(exc).__name__}: no answer within {self.timeout:g} s"
                except _TRANSPORT_ERRORS as exc:  # refused, reset, torn bodies, DNS
                    last_problem = f"{type(exc).__name__}: {str(exc) or 'connection closed'}"
                if response is not None:
                    status = response.status_code
                    if status == 200:
                        try:
                            answer = _parse(response)
                            healthy = True
                        except _MalformedAnswer as exc:
                            last_problem = str(exc)
                    else:
                        last_problem = f"HTTP {status}: {_snippet(response)}"
                        if status not in _RETRY_STATUS and status < 500:
                            healthy = None  # the request is refused, not the replica broken
            finally:
                idle.append(client)
                await self._release(route, replica, healthy)
            if answer is not None:
                return answer
            if healthy is None and response is not None:
                raise await self._refused(client, replica.url, response.status_code, last_problem)
            if len(self.base_urls) > 1:
                last_problem = f"{replica.url}: {last_problem}"
            # Another healthy replica takes the retry at once; a lone or all-failing set waits.
            if attempt < self.max_retries and not self.pool.another_is_healthy(replica):
                await asyncio.sleep(self._delay(attempt, response))
        raise ModelError(
            f"{self._where()} failed after {self.max_retries + 1} attempts; last: {last_problem}"
        )

    async def _refused(self, client: _Client, url: str, status: int, problem: str) -> ModelError:
        """The error for a status that retrying cannot fix, naming what to change."""
        if status in (401, 403):
            return ModelEndpointError(
                f"{url} refused the credentials ({problem}); set OPENAI_API_KEY "
                "to a key this server accepts"
            )
        if status == 404:
            served = await self._served_models(client, url)
            if served is None:
                hint = f"check the URL (the API root, usually ending in /v1) and the model name {self.model!r}"
            elif self.model in served:
                hint = "the model is served, so the URL's path is wrong (the API root usually ends in /v1)"
            else:
                hint = f"it serves {', '.join(served[:8]) or 'no models'}: fix #MODEL in the spec"
            return ModelEndpointError(
                f"{url} has no model {self.model!r} or no /chat/completions ({problem}); {hint}"
            )
        return ModelError(f"{url} refused the request ({problem})")

    async def _served_models(self, client: _Client, url: str) -> list[str] | None:
        if self._served is None:
            try:
                response = await self._send(client, "GET", url, None, min(10.0, self.timeout))
                data = response.json()["data"]
                self._served = [str(m["id"]) for m in data]
            except (httpx.HTTPError, http11.TransportError, ValueError, KeyError, TypeError):
                return None
        return self._served

    def _io(self) -> asyncio.AbstractEventLoop:
        """The private event loop every request runs on (started on first use)."""
        with self._io_lock:
            if self._io_loop is None or self._io_loop.is_closed():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name="lemur-openai-http", daemon=True)
                thread.start()
                ready.wait()
                self._io_loop, self._io_thread = loop, thread
            return self._io_loop

    def _new_client(self, base_url: str) -> _Client:
        lean = self._lean[base_url]
        if lean is not None:
            host, port, host_header, _ = lean
            return http11.HTTPConnection(host, port, host_header)
        return httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            verify=self._ssl(),
        )

    async def _send(
        self,
        client: _Client,
        method: str,
        base_url: str,
        payload: dict[str, Any] | None,
        timeout: float | None = None,
    ) -> _Answer:
        """One request on ``client``, its body read (the client's transport errors raised)."""
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        content = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            content = http11.encode_json(payload)
        path = "/chat/completions" if method == "POST" else "/models"
        if isinstance(client, http11.HTTPConnection):
            lean = self._lean[base_url]
            assert lean is not None  # a lean client is only made for a lean replica
            return await client.request(
                method,
                lean[3] + path,
                headers=headers,
                body=content or b"",
                timeout=timeout or self.timeout,
            )
        transport = client
        url = self._urls.get(base_url + path)
        if url is None:  # parsed once: URL parsing was a tenth of a request's CPU time
            url = self._urls[base_url + path] = httpx.URL(base_url + path)
        request = httpx.Request(
            method,
            url,
            headers=headers,
            content=content,
            extensions={"timeout": httpx.Timeout(timeout or self.timeout).as_dict()},
        )
        response = await transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    def _clients(self) -> _Route:
        """This model's clients on the running loop, made as needed and kept alive."""
        loop = asyncio.get_running_loop()
        route = self._routes.get(loop)
        if route is None:
            route = _Route({url: [] for url in self.base_urls}, asyncio.Condition())
            self._routes[loop] = route
        return route

    async def _gather(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[Any]:
        route = self._clients()
        if len(conversations) == 1:
            # The continuous schedule's one-prompt calls: awaited here, without the task
            # gather would wrap it in (and its scheduling round trips on the loop).
            try:
                return [await self._one(route, conversations[0], params)]
            except Exception as exc:  # as gather(return_exceptions=True) would return it
                return [exc]
        return await asyncio.gather(
            *(self._one(route, c, params) for c in conversations),
            return_exceptions=True,
        )

    def _submit(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> concurrent.futures.Future[list[Any]]:
        return asyncio.run_coroutine_threadsafe(self._gather(conversations, params), self._io())

    def close(self) -> None:
        """Close the connections and stop the private loop (a later call starts it again)."""
        with self._io_lock:
            loop, thread, self._io_loop, self._io_thread = (
                self._io_loop,
                self._io_thread,
                None,
                None,
            )
        if loop is None or loop.is_closed():
            return

        if thread is not threading.current_thread():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(timeout=10)
            loop.close()

    async def aclose(self) -> None:
        """Close the connections this model holds on the running event loop."""
        route = self._routes.pop(asyncio.get_running_loop(), None)
        if route is not None:
            for idle in route.idle.values():
                while idle:
                    await idle.pop().aclose()

    async def agenerate_each(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[str | ModelError]:
        """One completion or one :class:`ModelError` per conversation: a failed request
        never costs the others their answers."""
        # On the caller's own loop: a hop to the private loop's thread per call would cost
        # two GIL hand-offs per request (up to the 5 ms switch interval each on busy cores).
        results = await self._gather(conversations, params)
        return self._outputs(results, params)

    def _outputs(self, results: list[Any], params: GenerationParams) -> list[str | ModelError]:
        outputs: list[str | ModelError] = []
        self.last_usage, self.last_completion_tokens = [], []
        for result in results:
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result  # KeyboardInterrupt, cancellation: not a model failure
                error = (
                    result
                    if isinstance(result, ModelError)
                    else ModelError(f"{self._where()}: {type(result).__name__}: {result}")
                )
                outputs.append(error)
                self.last_usage.append({})
                self.last_completion_tokens.append(None)
                continue
            text, usage = result
            # Cut client-side too: some servers (TGI) return the stop sequence, and only the
            # first four stops are sent.
            outputs.append(cut_at_stop(text, params.stop))
            self.last_usage.append(usage)
            tokens = usage.get("completion_tokens")
            self.last_completion_tokens.append(tokens if isinstance(tokens, int) else None)
        return outputs

    async def agenerate(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[str]:
        """One completion per conversation, requests running concurrently (bounded); when any
        fails, a :class:`BatchModelError` holding every answer and failure, in order."""
        return _all_or_batch_error(await self.agenerate_each(conversations, params))

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[str]:
        """Synchronous twin of :meth:`agenerate` (also callable inside a running loop)."""
        future = self._submit(conversations, params)
        try:
            results = future.result()
        except BaseException:
            future.cancel()  # Ctrl-C: the requests in flight are cancelled, not left running
            raise
        return _all_or_batch_error(self._outputs(results, params))


def _all_or_batch_error(outputs: list[str | ModelError]) -> list[str]:
    if any(isinstance(o, ModelError) for o in outputs):
        failed = [o for o in outputs if isinstance(o, ModelError)]
        if len(outputs) == 1:
            raise failed[0]
        raise BatchModelError(outputs)
    return [o for o in outputs if isinstance(o, str)]


def _snippet(response: _Answer) -> str:
    return " ".join(response.text[:300].split())


def _parse(response: _Answer) -> tuple[str, dict[str, Any]]:
    try:
        body = response.json()
        content = body["choices"][0]["message"]["content"]
        if content is not None and not isinstance(content, str):
            raise TypeError(f"content is {type(content).__name__}")
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise _MalformedAnswer(
            f"HTTP 200 without choices[0].message.content ({type(exc).__name__}): "
            f"{_snippet(response) or '(empty body)'}"
        ) from None
    usage = body.get("usage") if isinstance(body, dict) else None
    return (content or ""), dict(usage) if isinstance(usage, dict) else {}


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
