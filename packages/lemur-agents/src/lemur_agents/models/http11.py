"""A small HTTP/1.1 client for one JSON API on plain ``http://``: a kept-alive connection per object.

:class:`HTTPConnection` sends one request at a time over one TCP connection, opened on first
use and kept alive between requests while the server allows it (``Connection: close``, an
HTTP/1.0 answer, a body read to end of stream or a server that closed the idle connection make
the next request open a new one). Bodies framed by ``Content-Length``, ``Transfer-Encoding:
chunked`` or the end of the stream are read; ``gzip`` and ``deflate`` bodies are inflated.

Why not httpx here: at a few hundred requests per second on two shared cores, httpx's request
and response models, h11's event machinery and anyio's stream layers cost ~1 ms of CPU per
request, most of an evaluation episode's harness time. This parses the response as the bytes
arrive, in an :class:`asyncio.Protocol` (no task, no stream object per request), writes the
request in one ``send``, and enforces one deadline for the whole exchange with one timer.
HTTPS, proxies and URLs with credentials stay on httpx (see :func:`lean_target`).

Errors follow httpx's names so that messages read the same whichever path served a request:
:class:`ConnectError`, :class:`ConnectTimeout`, :class:`ReadTimeout`, :class:`ReadError` (a
reset), :class:`RemoteProtocolError` (a malformed, torn or missing answer); all are
:class:`TransportError`, the timeouts also :class:`TimeoutException`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from typing import Any
from urllib.parse import urlsplit

import orjson

# An answer's head larger than this is not an API server's answer (httpx/h11 allow 64 KiB too).
_MAX_HEAD = 64 * 1024


class TransportError(Exception):
    """The exchange failed below HTTP: no (complete, well-formed) answer came."""


class TimeoutException(TransportError):
    """No answer within the deadline."""


class ConnectError(TransportError):
    """The TCP connection could not be opened (refused, unreachable, unknown host)."""


class ConnectTimeout(TimeoutException):
    """The TCP connection did not open within the deadline."""


class ReadTimeout(TimeoutException):
    """The answer did not arrive within the deadline."""


class ReadError(TransportError):
    """The connection failed while the answer was awaited (a reset)."""


class RemoteProtocolError(TransportError):
    """The server closed the connection early or sent something that is not HTTP/1.x."""


class Response:
    """A complete answer: ``status_code``, ``headers`` (lower-case names) and ``content``."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        """The body as text (UTF-8, undecodable bytes replaced)."""
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` when it is not JSON)."""
        try:
            return orjson.loads(self.content)
        except orjson.JSONDecodeError:
            # orjson refuses what the stdlib reads (NaN, lone surrogates, UTF-16 with a BOM):
            # such a body reads as httpx read it, or fails with the stdlib's ValueError.
            return json.loads(self.content)


def encode_json(payload: Any) -> bytes:
    """``payload`` as compact UTF-8 JSON (the stdlib's encoder for what orjson refuses)."""
    try:
        return orjson.dumps(payload)
    except TypeError:  # non-str keys, integers beyond 64 bits, unknown types
        return json.dumps(payload).encode()


def lean_target(url: str) -> tuple[str, int, str, str] | None:
    """``(host, port, Host header, path prefix)`` of a URL this client serves (the prefix
    without its trailing ``/``), or ``None``: only plain ``http://`` without credentials, query
    or fragment (the rest stays on httpx)."""
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError:
        return None
    if parts.scheme != "http" or not parts.hostname or parts.username is not None:
        return None
    if parts.query or parts.fragment:
        return None
    # Sent as they are: what would need percent- or IDNA-encoding stays on httpx.
    if not (parts.netloc.isascii() and parts.path.isascii()) or " " in parts.path:
        return None
    return parts.hostname, port, parts.netloc, parts.path.rstrip("/")


class _Exchange(asyncio.Protocol):
    """One TCP connection: parses each answer as its bytes arrive and resolves a future."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False  # the server closed (or reset) it, or we did
        self._buf = bytearray()
        self._waiter: asyncio.Future[Response] | None = None
        self._head_only = False
        self._eof = False
        self._reset_answer()

    def _reset_answer(self) -> None:
        self._status: int | None = None
        self._headers: dict[str, str] = {}
        self._length: int | None = None  # Content-Length; None with chunked or to-the-end
        self._chunked = False
        self._chunk_left: int | None = None  # bytes of the current chunk still to read
        self._parts: list[bytes] = []
        self.keep_alive = False

    # --- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._waiter is None:
            # Bytes nobody asked for: the connection's framing cannot be trusted any more.
            self.close()
            return
        self._advance()

    def eof_received(self) -> bool:
        self._eof = True
        self.closed = True
        if self._waiter is not None:
            self._advance()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            if exc is not None:
                waiter.set_exception(ReadError(str(exc) or type(exc).__name__))
            else:
                waiter.set_exception(self._early_close())

    # --- requests ---------------------------------------------------------------------
    def start(self, waiter: asyncio.Future[Response], head_only: bool) -> None:
        """Expect the answer to the request about to be written."""
        self._reset_answer()
        self._head_only = head_only
        self._waiter = waiter

    def time_out(self, seconds: float) -> None:
        """The deadline passed: fail the request and drop the connection (it may still answer)."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ReadTimeout(f"no answer within {seconds:g} s"))
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection without flushing (after a failed or cancelled request)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _early_close(self) -> RemoteProtocolError:
        if self._status is None and not self._buf:
            return RemoteProtocolError("Server disconnected without sending a response.")
        return RemoteProtocolError(
            "peer closed connection without sending complete message body"
            + (f" (expected {self._length} bytes)" if self._length is not None else "")
        )

    def _advance(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        try:
            response = self._parse()
        except RemoteProtocolError as exc:
            self._waiter = None
            waiter.set_exception(exc)
            self.abort()
            return
        if response is None:
            if self._eof:
                self._waiter = None
                waiter.set_exception(self._early_close())
            return
        self._waiter = None
        if self._buf or self._eof:
            self.keep_alive = False  # trailing bytes, or the server has already gone
        waiter.set_result(response)

    def _parse(self) -> Response | None:
        """The answer, once all of it is in the buffer (``None`` until then)."""
        buf = self._buf
        while self._status is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    raise RemoteProtocolError("answer head over 64 KiB")
                return None
            head = bytes(buf[:end]).decode("latin-1")
            del buf[: end + 4]
            self._read_head(head)
        if self._chunked:
            return self._parse_chunked()
        if self._length is not None:
            if len(buf) < self._length:
                return None
            body = bytes(buf[: self._length])
            del buf[: self._length]
            return self._finish(body)
        if not self._eof:  # delimited by the end of the stream
            return None
        body = bytes(buf)
        buf.clear()
        return self._finish(body)

    def _read_head(self, head: str) -> None:
        status_line, _, rest = head.partition("\r\n")
        version, _, tail = status_line.partition(" ")
        code = tail[:3]
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise RemoteProtocolError(f"not an HTTP/1.x answer: {status_line[:80]!r}")
        status = int(code)
        headers: dict[str, str] = {}
        for line in rest.split("\r\n") if rest else ():
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise RemoteProtocolError(f"malformed header line {line[:80]!r}")
            key = name.lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        if 100 <= status < 200:
            return  # an interim answer (100 Continue): the real one follows
        self._status, self._headers = status, headers
        connection = headers.get("connection", "").lower()
        self.keep_alive = version == "HTTP/1.1" and "close" not in connection
        encoding = headers.get("transfer-encoding", "").lower()
        if self._head_only or status in (204, 304):
            self._length = 0
        elif encoding:
            if encoding.strip() != "chunked":  # e.g. "gzip, chunked": not from an API server
                raise RemoteProtocolError(f"unsupported Transfer-Encoding {encoding!r}")
            self._chunked = True
        elif "content-length" in headers:
            values = {v.strip() for v in headers["content-length"].split(",")}
            length = values.pop() if len(values) == 1 else ""
            if not length.isdigit():
                raise RemoteProtocolError(f"bad Content-Length {headers['content-length']!r}")
            self._length = int(length)
        else:
            self.keep_alive = False  # the body ends where the stream does

    def _parse_chunked(self) -> Response | None:
        buf = self._buf
        while True:
            if self._chunk_left is None:  # a size line, or the trailer after the last chunk
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > _MAX_HEAD:
                        raise RemoteProtocolError("chunk size line over 64 KiB")
                    return None
                size_text = bytes(buf[:end]).split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise RemoteProtocolError(f"bad chunk size {size_text[:20]!r}") from None
                if size < 0:
                    raise RemoteProtocolError(f"bad chunk size {size_text[:20]!r}")
                if size == 0:
                    # Trailer fields end with an empty line (usually at once: b"0\r\n\r\n").
                    stop = buf.find(b"\r\n\r\n", end)
                    if stop < 0:
                        if len(buf) > _MAX_HEAD:
                            raise RemoteProtocolError("chunked trailer over 64 KiB")
                        return None
                    del buf[: stop + 4]
                    return self._finish(b"".join(self._parts))
                del buf[: end + 2]
                self._chunk_left = size
            if len(buf) < self._chunk_left + 2:
                return None
            left = self._chunk_left
            if buf[left : left + 2] != b"\r\n":
                raise RemoteProtocolError("chunk not followed by CRLF")
            self._parts.append(bytes(buf[:left]))
            del buf[: left + 2]
            self._chunk_left = None

    def _finish(self, body: bytes) -> Response:
        assert self._status is not None
        coding = self._headers.get("content-encoding", "").lower().strip()
        if coding and coding != "identity" and body:
            body = _inflate(body, coding)
        return Response(self._status, self._headers, body)


def _inflate(body: bytes, coding: str) -> bytes:
    try:
        if coding in ("gzip", "x-gzip"):
            return zlib.decompress(body, zlib.MAX_WBITS | 16)
        if coding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:  # raw deflate, as some servers send it
                return zlib.decompress(body, -zlib.MAX_WBITS)
    except zlib.error as exc:
        raise RemoteProtocolError(f"undecodable {coding} body: {exc}") from None
    raise RemoteProtocolError(f"unsupported Content-Encoding {coding!r}")


class HTTPConnection:
    """Requests to one ``host:port``, one at a time, over a kept-alive connection.

    Not safe for two requests at once (the caller holds one connection per request in flight).
    A request that fails or is cancelled closes the connection; the next one opens another.
    """

    def __init__(self, host: str, port: int, host_header: str | None = None) -> None:
        self.host = host
        self.port = port
        self._host_header = host_header or (host if port == 80 else f"{host}:{port}")
        self._conn: _Exchange | None = None
        self.connections_opened = 0  # how many TCP connections this object has opened

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        timeout: float,
    ) -> Response:
        """Send one request and read its whole answer, within ``timeout`` seconds in all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        conn = self._conn
        if conn is None or conn.closed or not conn.keep_alive:
            if conn is not None:
                conn.close()
            self._conn = None
            conn = await self._connect(loop, timeout)
        lines = [f"{method} {path} HTTP/1.1\r\nHost: {self._host_header}\r\n"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}\r\n")
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        waiter: asyncio.Future[Response] = loop.create_future()
        conn.start(waiter, head_only=method == "HEAD")
        assert conn.transport is not None
        conn.transport.write("".join(lines).encode("latin-1") + body)
        timer = loop.call_at(deadline, conn.time_out, timeout)
        try:
            response = await waiter
        except BaseException:
            # A timeout, a reset, a torn answer or a cancellation: the connection's state is
            # unknown, so it is never reused.
            conn.abort()
            self._conn = None
            raise
        finally:
            timer.cancel()
        if not conn.keep_alive:
            conn.close()
            self._conn = None
        return response

    async def _connect(self, loop: asyncio.AbstractEventLoop, timeout: float) -> _Exchange:
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(_Exchange, self.host, self.port)
        except TimeoutError:
            raise ConnectTimeout(
                f"no connection to {self.host}:{self.port} within {timeout:g} s"
            ) from None
        except OSError as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from None
        self.connections_opened += 1
        self._conn = conn
        return conn

    async def aclose(self) -> None:
        """Close the connection (a later request opens a new one)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
