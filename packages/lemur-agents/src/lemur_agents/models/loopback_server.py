"""A real OpenAI-compatible HTTP server on loopback that can misbehave, for tests and benchmarks.

It answers ``POST /v1/chat/completions`` (and ``GET /v1/models``) with the stdlib's
``http.server`` in a background thread, keep-alive like vLLM, and replies with whatever an
``answer(messages, body)`` function returns (:meth:`LoopbackServer.scripted` replays a
lemur-agents script file, so a run through the server must score what the scripted run scores).

A :class:`FaultPlan` makes it fail the way real servers do:

* ``http500`` — ``500 Internal Server Error``;      * ``rate_limit`` — ``429`` with ``Retry-After``;
* ``hang`` — answers after ``hang_seconds``;         * ``reset`` — the connection is reset (RST);
* ``truncated`` — ``200`` whose JSON body is cut in half (a consistent ``Content-Length``);
* ``torn`` — ``200`` whose body stops before its ``Content-Length``, then the connection closes;
* ``html`` — ``200`` with a proxy's HTML error page; ``no_choices`` — ``200`` JSON without
  ``choices``.

Which requests fail is decided per distinct request body (a hash), not by arrival order, so a
concurrent run meets faults on the same requests every time: a faulted request fails
``repeats`` times and then succeeds; the kinds of ``faults`` take turns. ``always`` makes every request fail (a broken endpoint), ``die_after`` stops the
server for good after that many completions (a server killed mid-run), a request for another
model than ``served_model`` gets vLLM's ``404``, and with ``api_key`` set a request without
that bearer token gets ``401``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from lemur_core import GenerationParams, Message, Role

from lemur_agents.models.base import ModelError
from lemur_agents.models.spec import HTTPTransport, OpenAISpec

Fault = Literal["http500", "rate_limit", "hang", "reset", "truncated", "torn", "html", "no_choices"]
FAULTS: tuple[Fault, ...] = (
    "http500",
    "rate_limit",
    "hang",
    "reset",
    "truncated",
    "torn",
    "html",
    "no_choices",
)
Answer = Callable[[list[dict[str, str]], dict[str, Any]], str]


@dataclass(frozen=True)
class FaultPlan:
    """Which requests fail and how (see the module docstring)."""

    rate: float = 0.0
    faults: tuple[Fault, ...] = FAULTS
    repeats: int = 1
    always: Fault | None = None
    die_after: int | None = None
    hang_seconds: float = 3.0
    retry_after_seconds: float = 0.05
    seed: int = 0
    latency_seconds: float = 0.0  # every answer waits this long (a model's generation time)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a burst of concurrent clients must not be dropped
    owner: LoopbackServer


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real OpenAI-compatible servers do
    # TCP_NODELAY, as uvicorn (vLLM) sets it: the headers and the body go out in two writes,
    # and with Nagle's algorithm the body waited for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(
        self,
        status: int,
        data: bytes,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data) if length is None else length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        with contextlib.suppress(OSError):  # a client that timed out has left
            self.wfile.write(data)
            self.wfile.flush()

    def _json(self, status: int, body: dict[str, Any], **kw: Any) -> None:
        self._send(status, json.dumps(body).encode(), **kw)

    def _reset(self) -> None:
        # SO_LINGER 0 makes close() send RST instead of FIN: a connection reset by peer.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        self.close_connection = True

    def do_GET(self) -> None:
        owner = self.server.owner
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": owner.served_model}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        owner = self.server.owner
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if owner.dead:
            self._reset()
            return
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        body = json.loads(raw)
        owner.received(body)
        if owner.plan.latency_seconds:
            time.sleep(owner.plan.latency_seconds)
        if owner.api_key is not None and self.headers.get("Authorization") != (
            f"Bearer {owner.api_key}"
        ):
            owner.count("unauthorized")
            self._json(401, {"error": {"message": "Incorrect API key provided"}})
            return
        fault = owner.fault_for(raw)
        if fault is None and body.get("model") != owner.served_model:
            owner.count("not_found")
            message = f"The model `{body.get('model')}` does not exist."
            self._json(404, {"object": "error", "message": message, "code": 404})
            return
        if fault is not None:
            self._fault(fault, body)
            return
        try:
            text = owner.answer(body["messages"], body)
        except ModelError as exc:  # the script has no answer: a client error, as a server's
            owner.count("bad_request")
            self._json(400, {"object": "error", "message": str(exc), "code": 400})
            return
        # Counted before the reply goes out: a client that has its answer must find it counted.
        die = owner.completed()
        if die is None:
            self._reset()
            return
        self._json(200, _completion(body, text))
        if die:
            owner.kill()

    def _fault(self, fault: Fault, body: dict[str, Any]) -> None:
        owner = self.server.owner
        owner.count(fault)
        plan = owner.plan
        if fault == "http500":
            self._json(500, {"error": {"message": "internal server error"}})
        elif fault == "rate_limit":
            self._json(
                429,
                {"error": {"message": "rate limited"}},
                headers={"Retry-After": f"{plan.retry_after_seconds:g}"},
            )
        elif fault == "hang":
            time.sleep(plan.hang_seconds)
            self._json(200, _completion(body, "(too late)"))
        elif fault == "reset":
            self._reset()
        elif fault == "truncated":
            data = json.dumps(_completion(body, "(truncated)")).encode()
            self._send(200, data[: len(data) // 2])
        elif fault == "torn":
            data = json.dumps(_completion(body, "(torn)")).encode()
            self._send(200, data[: len(data) // 2], length=len(data))
            self._reset()
        elif fault == "html":
            page = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
            self._send(200, page, content_type="text/html")
        elif fault == "no_choices":
            self._json(200, {"object": "chat.completion", "model": body.get("model")})


def _completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model"),
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": text},
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": max(1, len(text.split()))},
    }


class LoopbackServer:
    """The server (see the module docstring); a context manager, or ``start()``/``stop()``.

    ``stats`` counts injected faults by kind, ``completions`` the good answers, ``requests``
    every chat request received, ``bodies`` holds each request's JSON body.
    """

    def __init__(
        self,
        answer: Answer,
        *,
        served_model: str = "lemur",
        plan: FaultPlan | None = None,
        port: int = 0,
        api_key: str | None = None,
    ) -> None:
        self.answer = answer
        self.api_key = api_key
        self.bodies: list[dict[str, Any]] = []
        self.served_model = served_model
        self.plan = plan or FaultPlan()
        self.stats: Counter[str] = Counter()
        self.requests = 0
        self.completions = 0
        self.dead = False
        self._lock = threading.Lock()
        self._attempts: Counter[str] = Counter()
        self._faults_given = 0
        self._httpd = _HTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @classmethod
    def scripted(cls, script: str | Path, **kwargs: Any) -> LoopbackServer:
        """A server answering from a lemur-agents script file (``scripted:FILE``)."""
        from lemur_agents.models.scripted import ScriptedChatModel

        model = ScriptedChatModel.from_file(script)
        lock = threading.Lock()

        def answer(messages: list[dict[str, str]], body: dict[str, Any]) -> str:
            conversation = [Message(role=Role(m["role"]), content=m["content"]) for m in messages]
            params = GenerationParams(
                max_new_tokens=int(body.get("max_tokens") or 512),
                stop=tuple(body.get("stop") or ()),
            )
            with lock:
                return model.generate([conversation], params)[0]

        return cls(answer, **kwargs)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The API root, ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def spec(self, model: str | None = None, **transport: Any) -> OpenAISpec:
        """A model spec for this server (``transport`` as in :class:`HTTPTransport`)."""
        return OpenAISpec(
            base_url=self.url,
            model=model or self.served_model,
            transport=HTTPTransport(**transport),
        )

    def fault_for(self, raw_body: bytes) -> Fault | None:
        """The fault this request meets (``None``: answer it)."""
        plan = self.plan
        with self._lock:
            if plan.always is not None:
                return plan.always
            if plan.rate <= 0 or not plan.faults:
                return None
            digest = hashlib.sha256(f"{plan.seed}:".encode() + raw_body).digest()
            if int.from_bytes(digest[:8], "big") / 2**64 >= plan.rate:
                return None
            key = digest.hex()
            self._attempts[key] += 1
            if self._attempts[key] > plan.repeats:
                return None
            # Kinds take turns, so even a short run meets every kind of fault.
            self._faults_given += 1
            return plan.faults[(self._faults_given - 1) % len(plan.faults)]

    def received(self, body: dict[str, Any]) -> None:
        """Keep a chat request's body (tests ask which prompts reached the server)."""
        with self._lock:
            self.requests += 1
            self.bodies.append(body)

    def first_user_messages(self) -> list[str]:
        """The first user message (the task) of every chat request received, in order."""
        with self._lock:
            bodies = list(self.bodies)
        return [
            next((m["content"] for m in b.get("messages", []) if m.get("role") == "user"), "")
            for b in bodies
        ]

    def count(self, what: str) -> None:
        """Count one injected fault or refusal of kind ``what``."""
        with self._lock:
            self.stats[what] += 1

    def completed(self) -> bool | None:
        """Count a good answer about to be sent: True when it is the ``die_after``-th (the caller
        sends it, then kills the server), None when the server has already given its last answer
        (a request racing the kill is reset, never answered), else False."""
        with self._lock:
            last = self.plan.die_after
            if last is not None and self.completions >= last:
                return None
            self.completions += 1
            return last is not None and self.completions >= last

    def kill(self) -> None:
        """Stop for good: in-flight and later connections are reset, then refused."""
        self.dead = True
        threading.Thread(target=self.stop, daemon=True).start()

    def start(self) -> LoopbackServer:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (later connections are refused)."""
        self.dead = True
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
