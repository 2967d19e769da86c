"""The gateway's upstream HTTP/1.1 client against scripted servers on real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from launchgate.gateway.httpclient import (
    UpstreamClient,
    UpstreamClosedError,
    UpstreamConnectError,
    UpstreamProtocolError,
    UpstreamTimeout,
)

HEADERS = {"Content-Type": "application/json", "X-Request-ID": "r-1"}


@dataclass
class Seen:
    """What a scripted server received: one entry per connection, the requests on each."""

    connections: list[list[tuple[bytes, bytes]]] = field(default_factory=list)
    closed_by_client: int = 0

    @property
    def requests(self) -> list[tuple[bytes, bytes]]:
        return [r for conn in self.connections for r in conn]


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes, bytes, int], Awaitable[bool]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


@contextlib.asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[tuple[str, Seen]]:
    """A server that reads each request and lets ``script`` answer it (``script`` returns False to
    stop serving that connection). Yields its base URL and what it saw."""
    seen = Seen()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mine: list[tuple[bytes, bytes]] = []
        seen.connections.append(mine)
        try:
            while (request := await read_request(reader)) is not None:
                mine.append(request)
                if not await script(reader, writer, *request, len(mine)):
                    break
            else:
                seen.closed_by_client += 1
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1", seen
    finally:
        server.close()


def answer(body: bytes, *, status: str = "200 OK", extra: bytes = b"") -> Script:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                     n: int) -> bool:
        writer.write(b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: application/json\r\n" + extra
                     + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        await writer.drain()
        return True

    return script


async def call(client: UpstreamClient, url: str, body: bytes = b'{"a":1}', **kw: float) -> tuple[int, bytes]:
    timeouts = {"connect_timeout": 2.0, "read_timeout": 2.0, "total_timeout": 5.0, **kw}
    up = await client.request("POST", f"{url}/chat/completions", HEADERS, body, **timeouts)
    try:
        return up.status, await up.read()
    finally:
        up.release()


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 20))  # type: ignore[arg-type]


def test_content_length_answer_and_keep_alive_reuse() -> None:
    async def main() -> None:
        async with scripted(answer(b'{"ok":true}', extra=b"Retry-After: 3\r\n")) as (url, seen):
            client = UpstreamClient(limit=4)
            for _ in range(3):
                assert await call(client, url) == (200, b'{"ok":true}')
            up = await client.request("POST", f"{url}/chat/completions", HEADERS, b"{}", connect_timeout=1)
            assert up.headers["retry-after"] == "3" and up.content_type == "application/json"
            await up.read()
            up.release()
            await client.close()
        assert len(seen.connections) == 1 and len(seen.requests) == 4  # one connection, reused
        head, body = seen.requests[0]
        assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
        assert b"\r\nHost: 127.0.0.1:" in head and b"\r\nContent-Length: 7\r\n" in head
        assert b"\r\nX-Request-ID: r-1\r\n" in head and body == b'{"a":1}'

    run(main())


def test_chunked_answer_split_at_every_byte() -> None:
    wire = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n1A\r\n" + b"x" * 26 + b"\r\n0\r\nX-Trailer: t\r\n\r\n")

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                     n: int) -> bool:
        for i in range(len(wire)):
            writer.write(wire[i:i + 1])
            await writer.drain()
            await asyncio.sleep(0)
        return True

    async def main() -> None:
        async with scripted(script) as (url, seen):
            client = UpstreamClient()
            assert await call(client, url) == (200, b"hello" + b"x" * 26)
            assert await call(client, url) == (200, b"hello" + b"x" * 26)  # the stream stayed in step
            await client.close()
        assert len(seen.connections) == 1

    run(main())


def test_sse_chunks_arrive_as_they_are_sent() -> None:
    release = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                     n: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        for event in (b"data: 1\n\n", b"data: 2\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            await writer.drain()
            await release.wait()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def main() -> None:
        async with scripted(script) as (url, _):
            client = UpstreamClient()
            up = await client.request("POST", f"{url}/chat/completions", HEADERS, b"{}", connect_timeout=1,
                                      read_timeout=2)
            assert up.content_type == "text/event-stream"
            assert await up.next_chunk() == b"data: 1\n\n"  # before the server sent the rest
            release.set()
            rest = b""
            while chunk := await up.next_chunk():
                rest += chunk
            assert rest == b"data: 2\n\n"
            up.release()
            await client.close()

    run(main())


def test_body_until_close_and_connection_close_are_not_reused() -> None:
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                          n: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"partial\":")
        await writer.drain()
        writer.write(b"false}")
        return False  # close: that is where the body ends

    async def close_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                           n: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        await asyncio.sleep(0.05)  # keep it open a moment: the client must not reuse it anyway
        return False

    async def main() -> None:
        for script, body in ((until_close, b'{"partial":false}'), (close_header, b"{}")):
            async with scripted(script) as (url, seen):
                client = UpstreamClient()
                assert await call(client, url) == (200, body)
                assert await call(client, url) == (200, body)
                await client.close()
            assert len(seen.connections) == 2, script

    run(main())


def test_interim_and_bodyless_answers() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                     n: int) -> bool:
        if n == 1:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        else:
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        return True

    async def main() -> None:
        async with scripted(script) as (url, seen):
            client = UpstreamClient()
            assert await call(client, url) == (200, b"ok")
            assert await call(client, url) == (204, b"")
            await client.close()
        assert len(seen.connections) == 1

    run(main())


def test_idle_connection_closed_by_the_server_is_dropped() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                     n: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        return False  # answers with keep-alive, then closes the idle connection (like a keep-alive timeout)

    async def main() -> None:
        async with scripted(script) as (url, seen):
            client = UpstreamClient()
            assert await call(client, url) == (200, b"{}")
            await asyncio.sleep(0.1)  # the close reaches the client's pool
            assert await call(client, url) == (200, b"{}")
            await client.close()
        assert len(seen.connections) == 2

    run(main())


def test_close_without_an_answer_is_retry_safe_only_on_a_reused_connection() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                     n: int) -> bool:
        if n == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
            return True
        return False  # the second request on the connection: closed unanswered

    async def main() -> None:
        async with scripted(script) as (url, _):
            client = UpstreamClient()
            assert await call(client, url) == (200, b"{}")
            with pytest.raises(UpstreamClosedError) as reused:
                await call(client, url)
            assert reused.value.retry_safe
            assert await call(client, url) == (200, b"{}")  # a fresh connection
            await client.close()

        async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                        n: int) -> bool:
            return False

        async with scripted(never) as (url, _):
            client = UpstreamClient()
            with pytest.raises(UpstreamClosedError) as fresh:
                await call(client, url)
            assert not fresh.value.retry_safe  # the request may have reached the model
            await client.close()

    run(main())


def test_close_mid_body_is_an_error() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                     n: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"half\":")
        await writer.drain()
        return False

    async def main() -> None:
        async with scripted(script) as (url, _):
            client = UpstreamClient()
            with pytest.raises(UpstreamClosedError) as exc:
                await call(client, url)
            assert not exc.value.retry_safe
            await client.close()

    run(main())


def test_timeouts_total_and_between_chunks() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                     n: int) -> bool:
        await asyncio.sleep(5)
        return False

    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                     n: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(6):  # a chunk every 0.1 s: never silent for 0.3 s, for 0.6 s in all
            writer.write(b"3\r\nabc\r\n")
            await writer.drain()
            await asyncio.sleep(0.1)
        await asyncio.sleep(5)  # then silence
        return False

    async def main() -> None:
        async with scripted(silent) as (url, _):
            client = UpstreamClient()
            t0 = time.perf_counter()
            with pytest.raises(UpstreamTimeout):
                await call(client, url, total_timeout=0.3, read_timeout=10)
            assert 0.25 < time.perf_counter() - t0 < 1.0
            await client.close()
        async with scripted(stalls) as (url, _):
            client = UpstreamClient()
            up = await client.request("POST", f"{url}/chat/completions", HEADERS, b"{}", connect_timeout=1,
                                      read_timeout=0.3)
            got = b""
            t0 = time.perf_counter()
            with pytest.raises(UpstreamTimeout):
                while chunk := await up.next_chunk():
                    got += chunk
            assert got == b"abc" * 6 and 0.75 < time.perf_counter() - t0 < 1.5
            up.release()
            await client.close()

    run(main())


def test_refused_connection_and_unreadable_answers() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                      n: int) -> bool:
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n" if n == 1 else b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")
        await writer.drain()
        return True

    async def bad_chunk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                        n: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        await writer.drain()
        return True

    async def main() -> None:
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        client = UpstreamClient()
        with pytest.raises(UpstreamConnectError):
            await call(client, f"http://127.0.0.1:{port}/v1")
        async with scripted(garbage) as (url, _):
            for _ in range(2):
                with pytest.raises(UpstreamProtocolError):
                    await call(client, url)
        async with scripted(bad_chunk) as (url, _):
            with pytest.raises(UpstreamProtocolError):
                await call(client, url)
        with pytest.raises(ValueError, match="line break"):
            await client.request("POST", "http://127.0.0.1:1/v1", {"X-Evil": "a\r\nInjected: 1"}, b"",
                                 connect_timeout=1)
        await client.close()

    run(main())


def test_pool_limit_queues_requests_and_cancelled_waiters_free_their_turn() -> None:
    open_now = 0
    most = 0

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                   n: int) -> bool:
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        await asyncio.sleep(0.05)
        open_now -= 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        return True

    async def main() -> None:
        async with scripted(slow) as (url, seen):
            client = UpstreamClient(limit=2)
            results = await asyncio.gather(*(call(client, url) for _ in range(8)))
            assert results == [(200, b"{}")] * 8
            assert len(seen.connections) == 2 and most == 2
            # A waiter that gives up (timeout) or is cancelled must not take a connection with it.
            busy = [asyncio.create_task(call(client, url)) for _ in range(2)]
            await asyncio.sleep(0.01)
            with pytest.raises(UpstreamTimeout, match="no free connection"):
                await call(client, url, connect_timeout=0.01)
            waiter = asyncio.create_task(call(client, url))
            await asyncio.sleep(0.01)
            waiter.cancel()
            await asyncio.gather(*busy)
            assert await asyncio.gather(*(call(client, url) for _ in range(4))) == [(200, b"{}")] * 4
            assert len(seen.connections) == 2
            await client.close()

    run(main())


def test_slow_consumer_pauses_reading_and_gets_every_byte() -> None:
    piece = b"y" * 65536
    total = 40

    async def firehose(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                       n: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(total):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def main() -> None:
        async with scripted(firehose) as (url, _):
            client = UpstreamClient()
            up = await client.request("POST", f"{url}/chat/completions", HEADERS, b"{}", connect_timeout=1,
                                      read_timeout=0.5)
            got = 0
            was_paused = False
            while chunk := await up.next_chunk():
                got += len(chunk)
                await asyncio.sleep(0.02)  # a slow client: the upstream must wait, not time out
                was_paused = was_paused or (up._conn is not None and up._conn.paused)
            assert got == len(piece) * total and was_paused
            up.release()
            assert await call(client, url) != (0, b"")  # the connection is still usable
            await client.close()

    run(main())


def test_a_kept_alive_connection_times_each_request_by_its_own_deadline() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                     n: int) -> bool:
        if n == 2:
            await asyncio.sleep(0.5)  # slower than the first request's timeout, within the second's
        if n == 4:
            await asyncio.sleep(5)  # silent
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        return True

    async def main() -> None:
        async with scripted(script) as (url, seen):
            client = UpstreamClient()
            assert await call(client, url, total_timeout=0.3, read_timeout=0.3) == (200, b"{}")
            assert await call(client, url, total_timeout=5, read_timeout=5) == (200, b"{}")
            assert await call(client, url, total_timeout=10, read_timeout=10) == (200, b"{}")
            t0 = time.perf_counter()
            with pytest.raises(UpstreamTimeout):
                await call(client, url, total_timeout=0.3, read_timeout=10)
            assert time.perf_counter() - t0 < 1.0  # not the 10 s timer left by the request before
            await client.close()
        assert len(seen.connections) == 1

    run(main())


def test_idle_connections_expire_even_when_their_upstream_is_no_longer_called() -> None:
    async def main() -> None:
        async with scripted(answer(b"{}")) as (old_url, old), scripted(answer(b"{}")) as (new_url, _):
            client = UpstreamClient(keepalive_s=0.1)
            assert await call(client, old_url) == (200, b"{}")
            await asyncio.sleep(0.15)
            assert await call(client, new_url) == (200, b"{}")  # the only requests now go elsewhere
            await asyncio.sleep(0.05)
            assert old.closed_by_client == 1
            await client.close()

    run(main())


def raw(*answers: bytes) -> Script:
    """Answers the server's n-th request (over all connections) with ``answers[n-1]``, the last one after that."""
    served = 0

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                     n: int) -> bool:
        nonlocal served
        served += 1
        writer.write(answers[min(served, len(answers)) - 1])
        await writer.drain()
        return True

    return script


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
MALFORMED = {
    # Framing two readers could disagree on: the classic response-smuggling shapes.
    "length and chunked": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    "chunked and length": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "two lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}",
    "negative length": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    "chunk size overflow": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
    "chunk not ended by CRLF": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
    "space before colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\n{}",
    "bare LF": b"HTTP/1.1 200 OK\nContent-Length: 2\n\n{}",
    "NUL in a value": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
    "HTTP/2 status line": b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    "two-digit status": b"HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\n{}",
    "switching protocols": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
}


@pytest.mark.parametrize("wire", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_answers_are_clean_protocol_errors_and_the_connection_is_dropped(wire: bytes) -> None:
    async def main() -> None:
        async with scripted(raw(wire, OK)) as (url, seen):
            client = UpstreamClient()
            t0 = time.perf_counter()
            with pytest.raises(UpstreamProtocolError):
                await call(client, url)
            assert time.perf_counter() - t0 < 1.0  # refused at once, not left to a timeout
            assert await call(client, url) == (200, b"{}")
            await client.close()
        assert len(seen.connections) == 2  # nothing after a malformed answer is read as the next one

    run(main())


def test_unasked_bytes_after_an_answer_are_not_read_as_the_next_answer() -> None:
    smuggled = OK + b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{\"evil\":1}"

    async def main() -> None:
        async with scripted(raw(smuggled, OK)) as (url, seen):
            client = UpstreamClient()
            assert await call(client, url) == (200, b"{}")  # the answer asked for is whole
            assert await call(client, url) == (200, b"{}")  # and the next one is not the extra bytes
            await client.close()
        assert len(seen.connections) == 2

    run(main())


def test_endless_head_or_trailers_are_refused_not_buffered() -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                      n: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\n" if n == 1 else
                     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Trailer: ")
        for _ in range(40):  # 160 KiB of one header line, never ended
            writer.write(b"x" * 4096)
            await writer.drain()
        await asyncio.sleep(5)
        return False

    async def main() -> None:
        async with scripted(endless) as (url, _):
            client = UpstreamClient()
            for _ in range(2):
                with pytest.raises(UpstreamProtocolError, match="bytes of head"):
                    await call(client, url)
            await client.close()

    run(main())


def test_headers_are_lower_cased_trimmed_and_repeats_joined() -> None:
    wire = (b"HTTP/1.1 429 Too Many Requests\r\nX-Rate:  a \t\r\nX-RATE: b\r\nContent-Length: 2\r\n\r\n{}")

    async def main() -> None:
        async with scripted(raw(wire)) as (url, _):
            client = UpstreamClient()
            up = await client.request("POST", f"{url}/chat/completions", HEADERS, b"{}", connect_timeout=1)
            assert (up.status, up.reason, up.headers["x-rate"]) == (429, "Too Many Requests", "a, b")
            assert await up.read() == b"{}"
            up.release()
            await client.close()

    run(main())


def test_non_chunked_transfer_coding_reads_until_close_and_head_has_no_body() -> None:
    async def gzip_until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, req: bytes,
                               n: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw")
        await writer.drain()
        writer.write(b" bytes")
        return False

    async def main() -> None:
        async with scripted(gzip_until_close) as (url, seen):
            client = UpstreamClient()
            assert await call(client, url) == (200, b"raw bytes")
            await client.close()
        async with scripted(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n", OK)) as (url, seen):
            client = UpstreamClient()
            up = await client.request("HEAD", f"{url}/models", {}, connect_timeout=1, read_timeout=1)
            assert up.status == 200 and up.headers["content-length"] == "40" and await up.read() == b""
            up.release()
            assert await call(client, url) == (200, b"{}")
            await client.close()

    run(main())
