"""A small HTTP/1.1 client for the gateway's calls to its upstream models.

Why not aiohttp's client: as the upstream half of a relay it cost ~200 us of CPU per request on
these 2-core machines (request and response objects, multidicts, cookie, redirect and proxy
handling, a payload registry, timeout context managers), a sixth of the gateway's whole CPU per
request, and the upstream calls need none of it. This client speaks exactly what an
OpenAI-compatible server answers, over asyncio protocols (no streams layer in between). Answers
are parsed by llhttp through httptools (the parser under uvicorn and Node.js), strict: framing
is where request smuggling and header bugs live, so it is left to a parser that is fuzzed and
maintained rather than written here. Only our own request line and headers are written here.

* bodies framed by Content-Length, chunked (SSE streams), or ended by the server closing;
  1xx interim answers are skipped; 204/304 have no body;
* keep-alive: one pool per upstream origin, at most ``limit`` connections (a request waits
  for one within its connect timeout), reused newest first, dropped after ``keepalive_s`` idle
  or as soon as the server closes them or sends bytes nobody asked for;
* deadlines without per-request tasks: one timer per request checks a total deadline and the
  time since the last byte (``read_timeout``), and is re-armed lazily instead of per chunk;
* http and https (the system's trust store).

Errors are all ``UpstreamError``:

    UpstreamConnectError   no connection (refused, DNS, TLS): nothing was sent, a retry is safe
    UpstreamClosedError    the connection closed before the answer was complete; ``retry_safe``
                           when a reused keep-alive connection closed before any byte of an
                           answer (the server dropped an idle connection as we sent on it)
    UpstreamTimeout        connect, pool wait, read or total deadline passed (a TimeoutError too)
    UpstreamProtocolError  the answer is not HTTP/1.x that llhttp accepts in strict mode
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

# llhttp sets no size limits: bytes of a head, chunk-size line or trailers buffered at most.
MAX_HEAD_BYTES = 64 * 1024
# Streamed answers: stop reading from the upstream while this much waits for a slow client.
PAUSE_AT = 256 * 1024
RESUME_AT = 64 * 1024


class UpstreamError(Exception):
    """Any failure to get a complete answer from an upstream."""


class UpstreamConnectError(UpstreamError):
    pass


class UpstreamClosedError(UpstreamError):
    def __init__(self, message: str, *, retry_safe: bool = False) -> None:
        super().__init__(message)
        self.retry_safe = retry_safe


class UpstreamTimeout(UpstreamError, TimeoutError):
    pass


class UpstreamProtocolError(UpstreamError):
    pass


# States of a connection: no request; waiting for the answer's head; reading its body; answer complete.
_IDLE, _HEAD, _BODY, _DONE = range(4)


class UpstreamResponse:
    """One answer: status and headers at once, the body as it arrives.

    Read the body with ``read()`` (all of it) or ``next_chunk()`` (b"" at the end), then always
    ``release()``: a connection goes back to the pool only when its answer was read to the end.
    """

    __slots__ = ("status", "reason", "headers", "_conn", "_chunks", "_buffered", "_complete", "_exc",
                 "_waiter", "_keep_alive", "_streaming")

    def __init__(self, conn: _Connection, status: int, reason: str, headers: dict[str, str],
                 keep_alive: bool) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case names; repeated headers joined with ", "
        self._conn: _Connection | None = conn
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._complete = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._keep_alive = keep_alive
        self._streaming = False

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case ("" when absent)."""
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()

    async def read(self) -> bytes:
        while not self._complete:
            if self._exc is not None:
                raise self._exc
            await self._wait()
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        return data

    async def next_chunk(self) -> bytes:
        """The body bytes received since the last call, waiting for some; b"" once the body is complete."""
        self._streaming = True
        while not self._chunks:
            if self._complete:
                return b""
            if self._exc is not None:
                raise self._exc
            await self._wait()
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        conn = self._conn
        if conn is not None and conn.paused:
            conn.resume()
        return data

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.finish_use(reusable=self._complete and self._keep_alive)

    # ---------------------------------------------------------------- fed by the connection

    async def _wait(self) -> None:
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._streaming and self._buffered > PAUSE_AT and self._conn is not None:
            self._conn.pause()
        self._wake()

    def _finish(self) -> None:
        self._complete = True
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        self._exc = exc
        self._wake()


class _SkipBody(Exception):
    """Raised from on_headers_complete to stop llhttp after the head of an answer to HEAD."""


def _ends_at_close(headers: dict[str, str]) -> bool:
    """Whether the body runs until the server closes (RFC 9112 6.3: neither chunked nor a length).

    llhttp frames the body the same way; it just cannot be told of the close (httptools has no
    llhttp_finish), so the close that ends such a body is recognised here.
    """
    encoding = headers.get("transfer-encoding")
    if encoding is not None:  # llhttp refuses Transfer-Encoding beside Content-Length
        return encoding.rsplit(",", 1)[-1].strip().lower() != "chunked"
    return "content-length" not in headers


class _Connection(asyncio.Protocol):
    """One keep-alive connection (one request at a time, no pipelining).

    Responses are parsed by llhttp (httptools) in its strict mode: Content-Length beside
    Transfer-Encoding, duplicate or malformed lengths, bad chunk framing, obs-fold and bare LF
    are errors, never guesses, so an upstream cannot desynchronise the pooled byte stream. The
    parser calls the ``on_*`` methods below; one parser serves every answer on the connection.
    """

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False  # True once it has served an answer: a close before the next answer may be a race
        self.idle = False  # waiting in the pool
        self.idle_since = 0.0
        self.paused = False
        self.clean = True  # False after anything that leaves the byte stream out of step
        # The parser holds this protocol's callbacks: connection_lost drops it so that a closed
        # connection is freed by reference counting, not left to the cycle collector.
        self._parser: HttpResponseParser | None = HttpResponseParser(self)
        self._state = _IDLE
        self._method = ""
        self._got_bytes = False
        self._unframed = 0  # bytes since the last body byte or message boundary (bounds buffered head/trailers)
        self._reason = b""
        self._headers: dict[str, str] = {}
        self._until_close = False
        self._head_waiter: asyncio.Future[UpstreamResponse] | None = None
        self._response: UpstreamResponse | None = None
        self._read_timeout: float | None = None
        self._deadline: float | None = None
        self._last_data = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------------ protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._last_data = self.loop.time()
        self._got_bytes = True
        self._unframed += len(data)
        parser = self._parser
        assert parser is not None  # asyncio delivers no data after connection_lost
        try:
            parser.feed_data(data)
        except HttpParserUpgrade:
            self._refuse(UpstreamProtocolError("the upstream switched protocols"))
        except HttpParserError as exc:
            cause = exc.__context__  # what an on_* method raised, if one did
            if isinstance(cause, _SkipBody):
                self.clean = False  # llhttp stopped mid-stream: the connection cannot serve another answer
            elif isinstance(cause, UpstreamError):
                self._refuse(cause)
            else:
                error = UpstreamProtocolError(f"unreadable answer from the upstream: {exc}")
                error.__cause__ = cause  # a fault in an on_* method stays visible in the traceback
                self._refuse(error)
        else:
            if self._unframed > MAX_HEAD_BYTES and self._state != _DONE:
                self._refuse(UpstreamProtocolError(f"over {MAX_HEAD_BYTES} bytes of head, chunk line or "
                                                   "trailers from the upstream"))

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost settles what was in flight

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        state = self._state
        if state == _BODY and self._until_close and exc is None:  # the close is the body's end (a reset is not)
            self._complete()
        elif state in (_HEAD, _BODY):
            retry_safe = state == _HEAD and self.reused and not self._got_bytes
            why = f": {exc}" if exc else ""
            self._fail(UpstreamClosedError(f"the upstream closed the connection before the answer was complete{why}",
                                           retry_safe=retry_safe))
        self._parser = None
        self.pool.lost(self)

    def pause(self) -> None:
        if not self.paused and self.transport is not None and not self.closed:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self._response is not None and self._response._buffered < RESUME_AT:
            self.paused = False
            if self.transport is not None and not self.closed:
                self.transport.resume_reading()

    # ---------------------------------------------------------------- llhttp callbacks

    def on_message_begin(self) -> None:
        if self._state != _HEAD:  # bytes nobody asked for: never reuse this stream
            raise UpstreamProtocolError("the upstream sent an answer no request was waiting for")
        self._reason = b""
        self._headers = {}

    def on_status(self, reason: bytes) -> None:
        self._reason += reason  # may come in pieces; the bytes are counted in _unframed

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._state != _HEAD:
            return  # trailers: nothing here relays them
        # Lower-case names; llhttp trims leading whitespace of a value, not trailing.
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1").rstrip(" \t")
        headers = self._headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        self._unframed = 0
        parser = self._parser
        assert parser is not None
        status = parser.get_status_code()
        if status < 200:
            if status == 101:
                raise UpstreamProtocolError("the upstream switched protocols")
            return  # 100 Continue / 103 Early Hints: the real answer follows
        version = parser.get_http_version()
        if not version.startswith("1."):  # llhttp also reads 0.9 and 2.0 status lines
            raise UpstreamProtocolError(f"not an HTTP/1.x answer (HTTP/{version})")
        headers = self._headers
        response = self._response = UpstreamResponse(self, status, self._reason.decode("latin-1"), headers,
                                                     parser.should_keep_alive())
        self._until_close = _ends_at_close(headers)
        self._state = _BODY  # 204 and 304 end at once: llhttp calls on_message_complete next
        skip = self._method == "HEAD"
        if skip:
            response._keep_alive = False
            self._complete()
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(response)
        if skip:
            raise _SkipBody  # httptools cannot tell llhttp that this answer has no body

    def on_body(self, body: bytes) -> None:
        self._unframed = 0
        assert self._response is not None
        self._response._feed(body)

    def on_message_complete(self) -> None:
        self._unframed = 0
        if self._state == _BODY:
            self._complete()
        # else an interim (1xx) answer ended: keep waiting for the real one

    # ------------------------------------------------------------------------- requests

    def send(self, method: str, head: bytes, body: bytes, read_timeout: float | None,
             deadline: float | None) -> asyncio.Future[UpstreamResponse]:
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            raise UpstreamClosedError("the upstream closed the pooled connection", retry_safe=self.reused)
        self._method = method
        self._state = _HEAD
        self._got_bytes = False
        self._unframed = 0
        self._response = None
        self._head_waiter = waiter = self.loop.create_future()
        if body and len(body) < 64 * 1024:
            transport.write(head + body)  # one segment for the usual request: the copy is cheaper than a 2nd send
        else:
            transport.write(head)
            if body:
                transport.write(body)
        self._read_timeout, self._deadline = read_timeout, deadline
        self._last_data = now = self.loop.time()
        due = self._due(now)
        # The timer outlives the request on a kept-alive connection: a pending one due no later
        # than this request's deadline re-arms itself when it fires, so back-to-back requests on
        # one connection cost no timer each.
        timer = self._timer
        if due is not None and (timer is None or timer.when() > due):
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(due, self._on_timer)
        return waiter

    def finish_use(self, *, reusable: bool) -> None:
        """The response is done with: back to the pool when the stream is clean, else closed."""
        self._response = None
        self._head_waiter = None
        if reusable and self.clean and not self.closed and self._state == _DONE:
            self._state = _IDLE
            self.reused = True
            if self.paused:
                self.paused = False
                assert self.transport is not None
                self.transport.resume_reading()
            self.pool.put(self)
        else:
            self._cancel_timer()
            self.close()
            self.pool.discard(self)

    def close(self) -> None:
        self.clean = False
        if self.transport is not None and not self.closed:
            self.transport.close()

    # -------------------------------------------------------------------------- timeouts

    def _due(self, now: float) -> float | None:
        due = self._deadline
        if self._read_timeout is not None:
            # Reading paused by us (a slow client): the upstream is not late.
            read_due = (now if self.paused else self._last_data) + self._read_timeout
            due = read_due if due is None else min(due, read_due)
        return due

    def _on_timer(self) -> None:
        self._timer = None
        if self._state in (_IDLE, _DONE):
            return
        now = self.loop.time()
        due = self._due(now)
        if due is None:
            return
        if now >= due:
            what = "the answer's deadline" if self._deadline is not None and now >= self._deadline else \
                f"{self._read_timeout:g}s without a byte"
            self._abort(UpstreamTimeout(f"upstream timeout: {what} passed"))
            return
        self._timer = self.loop.call_at(due, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --------------------------------------------------------------------------- failure

    def _fail(self, exc: BaseException) -> None:
        self._state = _DONE
        self.clean = False
        self._cancel_timer()
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self._response is not None:
            self._response._fail(exc)

    def _abort(self, exc: BaseException) -> None:
        self._fail(exc)
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def _refuse(self, exc: UpstreamError) -> None:
        """The byte stream is unreadable: fail the answer in flight, never reuse the connection."""
        if self._state in (_HEAD, _BODY):
            self._abort(exc)
        else:  # the answer was already whole (or none was asked for): only the connection goes
            self.clean = False
            if self.transport is not None and not self.closed:
                self.transport.abort()

    def _complete(self) -> None:
        self._state = _DONE  # the timer, when it fires, sees an idle connection and stops
        assert self._response is not None
        self._response._finish()


class _Pool:
    """Keep-alive connections to one origin, at most ``limit`` open (or opening) at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, port: int, ssl_context: ssl.SSLContext | None,
                 limit: int, keepalive_s: float) -> None:
        self.loop = loop
        self.host, self.port, self.ssl_context = host, port, ssl_context
        self.limit = limit
        self.keepalive_s = keepalive_s
        self.idle: list[_Connection] = []
        self.size = 0
        self.waiters: deque[asyncio.Future[_Connection | None]] = deque()

    async def acquire(self, timeout: float) -> _Connection:
        now = self.loop.time()
        while self.idle:
            conn = self.idle.pop()  # newest first: the least likely to have been closed by the server
            conn.idle = False
            if not conn.closed and now - conn.idle_since < self.keepalive_s:
                return conn
            conn.close()
            self.size -= 1
        if self.size >= self.limit:
            handed = await self._wait_turn(timeout)
            if handed is not None:
                return handed
            # else the releasing side passed its slot on: size already counts this request
        else:
            self.size += 1
        try:
            return await self._connect(timeout)
        except BaseException:
            self._free_slot()
            raise

    async def _wait_turn(self, timeout: float) -> _Connection | None:
        turn: asyncio.Future[_Connection | None] = self.loop.create_future()
        self.waiters.append(turn)

        def expire() -> None:
            if not turn.done():
                turn.set_exception(UpstreamTimeout(f"no free connection to {self.host}:{self.port} within "
                                                   f"{timeout:g}s ({self.limit} busy)"))

        timer = self.loop.call_later(timeout, expire)
        try:
            return await turn
        except asyncio.CancelledError:
            # Cancelled after being handed a connection or a slot: pass it on, or it leaks.
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                handed = turn.result()
                if handed is None:
                    self._free_slot()
                else:
                    self.put(handed)
            raise
        finally:
            timer.cancel()
            if not turn.done():
                turn.cancel()

    async def _connect(self, timeout: float) -> _Connection:
        try:
            async with asyncio.timeout(timeout):
                _, conn = await self.loop.create_connection(
                    lambda: _Connection(self), self.host, self.port, ssl=self.ssl_context,
                    server_hostname=self.host if self.ssl_context is not None else None)
        except TimeoutError:
            raise UpstreamTimeout(f"connecting to {self.host}:{self.port} took over {timeout:g}s") from None
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamConnectError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return conn

    def put(self, conn: _Connection) -> None:
        """A reusable connection: to the longest waiter, else into the idle list."""
        while self.waiters:
            turn = self.waiters.popleft()
            if not turn.done():
                turn.set_result(conn)
                return
        conn.idle = True
        conn.idle_since = self.loop.time()
        self.idle.append(conn)

    def discard(self, conn: _Connection) -> None:
        """A connection that will not be reused (already closed by the caller)."""
        self._free_slot()

    def lost(self, conn: _Connection) -> None:
        """The server closed a connection; only an idle one is ours to account for here."""
        if conn.idle:
            conn.idle = False
            self.idle.remove(conn)
            self._free_slot()

    def _free_slot(self) -> None:
        while self.waiters:
            turn = self.waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot moves to the waiter: size unchanged
                return
        self.size -= 1

    def sweep(self, now: float) -> None:
        """Close connections idle for keepalive_s (acquire only looks at the newest)."""
        stale = [conn for conn in self.idle if now - conn.idle_since >= self.keepalive_s]
        for conn in stale:
            self.idle.remove(conn)
            conn.idle = False
            conn.close()
            self._free_slot()

    def close(self) -> None:
        for conn in self.idle:
            conn.idle = False
            conn.close()
        self.size -= len(self.idle)
        self.idle.clear()


class _Target:
    __slots__ = ("pool", "path", "host_header")

    def __init__(self, pool: _Pool, path: str, host_header: str) -> None:
        self.pool, self.path, self.host_header = pool, path, host_header


class UpstreamClient:
    """Requests to any number of upstream origins, each with its own keep-alive pool.

    ``limit`` bounds the open connections per origin: when an upstream slows down, requests wait
    for a connection (within the connect timeout) instead of opening ever more sockets, and a
    slow candidate cannot use up the connections stable needs.
    """

    def __init__(self, *, limit: int = 256, keepalive_s: float = 30.0,
                 ssl_context: Callable[[], ssl.SSLContext] = ssl.create_default_context) -> None:
        self.limit = limit
        self.keepalive_s = keepalive_s
        self._ssl_factory = ssl_context
        self._ssl: ssl.SSLContext | None = None
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._targets: dict[str, _Target] = {}
        self._next_sweep = 0.0

    async def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes = b"", *,
                      connect_timeout: float, read_timeout: float | None = None,
                      total_timeout: float | None = None) -> UpstreamResponse:
        """Send one request; returns once the answer's status and headers are in.

        ``connect_timeout`` bounds waiting for a pooled connection plus connecting;
        ``total_timeout`` bounds everything up to the body's last byte; ``read_timeout`` the
        silence between two reads. The caller must ``release()`` the response.
        """
        target = self._targets.get(url) or self._target(url)
        lines = [f"{method} {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"]
        if body or method not in ("GET", "HEAD"):
            lines.append(f"Content-Length: {len(body)}\r\n")
        for name, value in headers.items():
            if "\n" in value or "\r" in value:
                raise ValueError(f"header {name} holds a line break")
            lines.append(f"{name}: {value}\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now >= self._next_sweep:  # idle connections of an upstream no longer called must not linger
            self._next_sweep = now + self.keepalive_s / 2
            for pool in self._pools.values():
                pool.sweep(now)
        deadline = None if total_timeout is None else now + total_timeout
        wait = connect_timeout if total_timeout is None else min(connect_timeout, total_timeout)
        conn = await target.pool.acquire(wait)
        try:
            return await conn.send(method, head, body, read_timeout, deadline)
        except BaseException:
            conn.close()
            conn.pool.discard(conn)
            raise

    def _target(self, url: str) -> _Target:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        default = 443 if scheme == "https" else 80
        port = parts.port or default
        host = parts.hostname
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            ctx = None
            if scheme == "https":
                if self._ssl is None:
                    self._ssl = self._ssl_factory()
                ctx = self._ssl
            pool = self._pools[key] = _Pool(asyncio.get_running_loop(), host, port, ctx, self.limit, self.keepalive_s)
        shown = f"[{host}]" if ":" in host else host
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        target = _Target(pool, path, shown if port == default else f"{shown}:{port}")
        if len(self._targets) > 1024:  # upstream URLs change rarely; never let the cache grow unbounded
            self._targets.clear()
        self._targets[url] = target
        return target

    async def close(self) -> None:
        """Close the idle connections; answers still being read keep theirs until released."""
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._targets.clear()
        await asyncio.sleep(0)  # let the transports run their close callbacks
