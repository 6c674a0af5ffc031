"""The lean HTTP/1.1 client against a real TCP server on loopback that writes raw bytes.

Each test scripts what the server writes back (framing, keep-alive, resets, stalls); where a
well-formed answer is read, httpx reading the same bytes from the same server is the reference.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from lemur_agents.models import ModelError, OpenAIChatModel, http11
from lemur_core import GenerationParams, Message, Role

# What the server does for one request: a list of steps, each bytes to write, a float to sleep,
# "reset" (RST) or "close" (FIN). The connection stays open for the next request otherwise.
Step = bytes | float | str
Script = Callable[[int, bytes], list[Step]]


@dataclass
class _Seen:
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    script: Script
    seen: _Seen


class _RawHandler(socketserver.BaseRequestHandler):
    server: _RawServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.seen.lock:
            self.server.seen.connections += 1
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            head, _, buf = buf.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(buf) < length:
                buf += sock.recv(65536)
            body, buf = buf[:length], buf[length:]
            with self.server.seen.lock:
                n = len(self.server.seen.requests)
                self.server.seen.requests.append(head + b"\r\n\r\n" + body)
            for step in self.server.script(n, body):
                if isinstance(step, bytes):
                    try:
                        sock.sendall(step)
                    except OSError:
                        return
                elif isinstance(step, float):
                    time.sleep(step)
                elif step == "reset":  # SO_LINGER 0: close() sends RST, not FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.close()
                    return
                elif step == "close":
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                    return


Start = Callable[[Script], tuple[int, _Seen]]  # the fixture: serve a script, get (port, seen)


@pytest.fixture
def raw_server() -> Iterator[Start]:
    servers: list[_RawServer] = []

    def start(script: Script) -> tuple[int, _Seen]:
        server = _RawServer(("127.0.0.1", 0), _RawHandler)
        server.script, server.seen = script, _Seen()
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        return int(server.server_address[1]), server.seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _answer(body: bytes, *extra: str, status: str = "200 OK", version: str = "HTTP/1.1") -> bytes:
    head = f"{version} {status}\r\nContent-Type: application/json\r\n"
    head += "".join(f"{h}\r\n" for h in extra)
    if not any(h.lower().startswith(("transfer-encoding", "content-length")) for h in extra):
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def _chunked(*parts: bytes) -> bytes:
    out = b"".join(f"{len(p):x};ext=1\r\n".encode() + p + b"\r\n" for p in parts)
    return out + b"0\r\nX-Trailer: yes\r\n\r\n"


def _completion(text: str) -> bytes:
    return json.dumps(
        {
            "choices": [{"message": {"role": "assistant", "content": text}}],
            "usage": {"completion_tokens": 2},
        }
    ).encode()


def _get(port: int, n: int = 1, timeout: float = 5.0) -> tuple[list[http11.Response], int]:
    async def go() -> tuple[list[http11.Response], int]:
        conn = http11.HTTPConnection("127.0.0.1", port)
        try:
            out = [
                await conn.request("POST", "/v1/x", body=b'{"q": %d}' % i, timeout=timeout)
                for i in range(n)
            ]
        finally:
            await conn.aclose()
        return out, conn.connections_opened

    return asyncio.run(go())


def _httpx_reads(port: int) -> httpx.Response:
    with httpx.Client(timeout=5.0) as client:
        return client.post(f"http://127.0.0.1:{port}/v1/x", content=b"{}")


# Answers a reader must take apart the same way httpx does (the reference).
_FRAMINGS: dict[str, list[Step]] = {
    "content-length": [_answer(b'{"a": 1}')],
    "chunked, split across writes": [
        _answer(b"", "Transfer-Encoding: chunked"),
        b'7;ext=1\r\n{"a": 1',
        0.02,
        b'\r\n8\r\n, "b": 2\r\n',
        0.02,
        b"1\r\n}\r\n0\r\n\r\n",
    ],
    "chunked with a trailer": [
        _answer(b"", "Transfer-Encoding: chunked") + _chunked(b'{"a":', b" [1, 2]}")
    ],
    "gzip": [_answer(gzip.compress(b'{"zipped": true}'), "Content-Encoding: gzip")],
    "to the end of the stream": [
        b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"eof": 1}',
        "close",
    ],
    "interim 100 Continue first": [b"HTTP/1.1 100 Continue\r\n\r\n" + _answer(b'{"b": 2}')],
    "non-ASCII body": [_answer('{"t": "é ünïcode ✓"}'.encode())],
}


@pytest.mark.parametrize("framing", list(_FRAMINGS))
def test_answers_read_the_same_as_httpx_reads_them(raw_server: Start, framing: str) -> None:
    port, _ = raw_server(lambda n, body: list(_FRAMINGS[framing]))
    [ours, again], opened = _get(port, n=2)
    reference = _httpx_reads(port)
    assert ours.status_code == reference.status_code == 200
    assert ours.content == reference.content == again.content
    assert ours.json() == reference.json()
    assert ours.headers["content-type"] == reference.headers["content-type"]
    # The answer was read to its exact end: the connection served the second request too
    # (an answer delimited by the end of the stream cannot leave it open).
    assert opened == (2 if framing == "to the end of the stream" else 1)


def test_keep_alive_serves_every_request_over_one_connection(raw_server: Start) -> None:
    port, seen = raw_server(lambda n, body: [_answer(b'{"n": %d}' % n)])
    answers, opened = _get(port, n=5)
    assert [a.json()["n"] for a in answers] == [0, 1, 2, 3, 4]
    assert opened == 1 and seen.connections == 1
    # The request itself: one Host, the body's length, the body.
    assert seen.requests[0].startswith(b"POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Content-Length: 8\r\n" in seen.requests[0]
    assert seen.requests[0].endswith(b'\r\n\r\n{"q": 0}')


def test_connection_close_and_a_server_closing_idle_connections_reconnect(
    raw_server: Start,
) -> None:
    def script(n: int, body: bytes) -> list[Step]:
        if n == 0:
            return [_answer(b'{"n": 0}', "Connection: close"), "close"]
        if n == 1:  # kept alive by its headers, then closed by the server while idle
            return [_answer(b'{"n": 1}'), 0.05, "close"]
        return [_answer(b'{"n": %d}' % n)]

    port, seen = raw_server(script)

    async def go() -> tuple[list[int], int]:
        conn = http11.HTTPConnection("127.0.0.1", port)
        out = [(await conn.request("GET", "/", timeout=5)).json()["n"]]
        out.append((await conn.request("GET", "/", timeout=5)).json()["n"])
        await asyncio.sleep(0.3)  # the server's FIN arrives while the connection is idle
        out.append((await conn.request("GET", "/", timeout=5)).json()["n"])
        await conn.aclose()
        return out, conn.connections_opened

    numbers, opened = asyncio.run(go())
    assert numbers == [0, 1, 2]
    assert opened == 3 and seen.connections == 3


def test_a_reset_mid_body_fails_at_once_and_the_next_request_reconnects(raw_server: Start) -> None:
    def script(n: int, body: bytes) -> list[Step]:
        if n == 0:
            whole = _answer(b'{"a": "' + b"x" * 200 + b'"}')
            return [whole[: len(whole) - 150], 0.05, "reset"]
        return [_answer(b'{"ok": true}')]

    port, seen = raw_server(script)

    async def go() -> tuple[BaseException | None, http11.Response]:
        conn = http11.HTTPConnection("127.0.0.1", port)
        error = None
        try:
            await conn.request("GET", "/", timeout=5)
        except http11.TransportError as exc:
            error = exc
        again = await conn.request("GET", "/", timeout=5)
        await conn.aclose()
        return error, again

    started = time.monotonic()
    error, again = asyncio.run(go())
    assert isinstance(error, http11.ReadError | http11.RemoteProtocolError)
    assert not isinstance(error, http11.TimeoutException)
    assert time.monotonic() - started < 2.0
    assert again.json() == {"ok": True} and seen.connections == 2


def test_a_body_cut_short_by_the_server_closing_is_a_protocol_error(raw_server: Start) -> None:
    whole = _answer(b'{"a": "' + b"x" * 100 + b'"}')
    port, _ = raw_server(lambda n, body: [whole[:-40], "close"])
    with pytest.raises(http11.RemoteProtocolError, match="complete message body"):
        _get(port)


def test_a_server_that_answers_nothing_is_a_protocol_error(raw_server: Start) -> None:
    port, _ = raw_server(lambda n, body: ["close"])
    with pytest.raises(http11.RemoteProtocolError, match="without sending a response"):
        _get(port)


def test_a_slow_server_times_out_within_the_deadline(raw_server: Start) -> None:
    # Headers at once, the body never: the deadline covers the whole answer, not one read.
    port, _ = raw_server(lambda n, body: [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 3.0])
    started = time.monotonic()
    with pytest.raises(http11.ReadTimeout, match=r"no answer within 0\.3 s"):
        _get(port, timeout=0.3)
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not an HTTP/1.x answer"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\nab", "br"),
    ],
)
def test_answers_that_are_not_http_are_protocol_errors(
    raw_server: Start, raw: bytes, match: str
) -> None:
    port, _ = raw_server(lambda n, body: [raw, 1.0])
    with pytest.raises(http11.RemoteProtocolError, match=match):
        _get(port)


def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(http11.ConnectError):
        _get(port)


def test_lean_target_takes_only_plain_http_without_credentials() -> None:
    assert http11.lean_target("http://h:8000/v1/") == ("h", 8000, "h:8000", "/v1")
    assert http11.lean_target("http://[::1]/v1") == ("::1", 80, "[::1]", "/v1")
    assert http11.lean_target("http://h") == ("h", 80, "h", "")
    for url in (
        "https://h/v1",
        "http://u:p@h/v1",
        "http://h/v1?x=1",
        "http://h:99999/v1",
        "http://bücher.example/v1",
        "http://h/v 1",
    ):
        assert http11.lean_target(url) is None


def _ask(port: int, **kw: object) -> tuple[list[str], OpenAIChatModel]:
    model = OpenAIChatModel(f"http://127.0.0.1:{port}/v1", "m", backoff_seconds=0.01, **kw)  # type: ignore[arg-type]
    conversation = [Message(role=Role.USER, content="hi")]
    try:
        return model.generate([conversation], GenerationParams()), model
    finally:
        model.close()


def test_the_openai_model_reads_a_chunked_completion(raw_server: Start) -> None:
    data = _completion("chunks arrive")
    port, seen = raw_server(
        lambda n, body: [_answer(b"", "Transfer-Encoding: chunked") + _chunked(data[:9], data[9:])]
    )
    texts, model = _ask(port)
    assert texts == ["chunks arrive"] and model.last_completion_tokens == [2]
    request = seen.requests[0]
    assert request.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert json.loads(request.partition(b"\r\n\r\n")[2])["messages"] == [
        {"role": "user", "content": "hi"}
    ]


@pytest.mark.parametrize(
    "fault",
    [
        "truncated JSON",
        "reset mid-body",
        "torn body",
        "HTML page",
        "503",
        "429 with Retry-After",
    ],
)
def test_the_openai_model_retries_a_faulty_answer_and_gets_the_good_one(
    raw_server: Start, fault: str
) -> None:
    good = _completion("fine")

    def script(n: int, body: bytes) -> list[Step]:
        if n > 0:
            return [_answer(good)]
        if fault == "truncated JSON":
            return [_answer(good[: len(good) // 2])]
        if fault == "reset mid-body":
            return [_answer(good)[:-20], 0.05, "reset"]
        if fault == "torn body":
            return [_answer(good)[:-20], "close"]
        if fault == "HTML page":
            return [_answer(b"<html>502 Bad Gateway</html>")]
        if fault == "503":
            return [_answer(b'{"error": "busy"}', status="503 Service Unavailable")]
        return [_answer(b"{}", "Retry-After: 0.05", status="429 Too Many Requests")]

    port, seen = raw_server(script)
    texts, model = _ask(port, max_retries=2)
    assert texts == ["fine"]
    assert model.retries == 1 and len(seen.requests) == 2
    # A torn or reset exchange is never reused; a whole answer (even a bad one) keeps it alive.
    assert seen.connections == (2 if fault in ("reset mid-body", "torn body") else 1)


def test_the_openai_model_times_out_a_hung_server_and_reports_it(raw_server: Start) -> None:
    port, seen = raw_server(lambda n, body: [5.0])
    started = time.monotonic()
    with pytest.raises(ModelError, match=r"failed after 2 attempts.*ReadTimeout"):
        _ask(port, timeout=0.2, max_retries=1)
    assert time.monotonic() - started < 2.0 and len(seen.requests) == 2
