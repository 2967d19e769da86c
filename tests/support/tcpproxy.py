"""A small fault-injecting TCP proxy for HTTP on loopback (put it in front of moto_server).

Why a proxy rather than killing moto: moto keeps its state only in memory, so a restarted
moto_server has lost every object written before the outage. Cutting the proxy looks the
same to the client (connection refused, open connections dropped) while moto keeps the
bucket, and ``restore()`` brings the same port back.

Faults:
- ``cut()`` / ``restore()``: stop listening and drop every open connection / listen again.
- ``cut_after_puts(n)``: cut just before the (n+1)th PUT arrives (deterministic "mid-bundle").
- ``fail_503(count)``: answer the next ``count`` requests (None: all) with an S3-style 503.
- ``corrupt_puts(count)``: flip one byte in the body of the next ``count`` PUTs.

The client->server direction is parsed as HTTP/1.1 (Content-Length bodies) so faults apply
per request on keep-alive connections; the server->client direction is copied as is.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

_503_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
    b"<Message>injected by tcpproxy</Message></Error>"
)
_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(_503_BODY)
) + _503_BODY


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = port
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._fail_503: int | None = 0  # None: every request
        self._corrupt = 0
        self._cut_at: int | None = None
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request seen
        self.puts_forwarded = 0
        self.injected_503 = 0
        self.corrupted = 0
        self.cuts = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- control --------------------------------------------------------------------------

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """S3 is gone: new connections are refused, open ones are dropped."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
            self.cuts += 1
        for sock in ([listener] if listener else []) + list(sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def restore(self) -> None:
        self.heal()
        if self._listener is None:
            self.start()

    def heal(self) -> None:
        with self._lock:
            self._fail_503, self._corrupt, self._cut_at = 0, 0, None

    def fail_503(self, count: int | None = None) -> None:
        with self._lock:
            self._fail_503 = count

    def corrupt_puts(self, count: int = 1) -> None:
        with self._lock:
            self._corrupt = count

    def cut_after_puts(self, count: int) -> None:
        with self._lock:
            self._cut_at = self.puts_forwarded + count

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    # -- plumbing -------------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by cut()
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, *socks: socket.socket) -> bool:
        with self._lock:
            if self._listener is None:
                return False
            self._sockets.update(socks)
            return True

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        if not self._track(client, upstream):
            client.close()
            upstream.close()
            return
        threading.Thread(target=_copy, args=(upstream, client), daemon=True).start()
        try:
            self._requests(client, upstream)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.close()
            with self._lock:
                self._sockets.discard(client)
                self._sockets.discard(upstream)

    def _decide(self, method: str) -> str:
        with self._lock:
            if method == "PUT" and self._cut_at is not None and self.puts_forwarded >= self._cut_at:
                self._cut_at = None
                return "cut"
            if self._fail_503 is None or self._fail_503 > 0:
                if self._fail_503 is not None:
                    self._fail_503 -= 1
                self.injected_503 += 1
                return "503"
            if method == "PUT":
                self.puts_forwarded += 1
                if self._corrupt > 0:
                    self._corrupt -= 1
                    self.corrupted += 1
                    return "corrupt"
            return "forward"

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = client.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, path = (lines[0].decode("latin-1").split(" ") + ["", ""])[:2]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            self.requests.append((method, path))
            if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                raise OSError("chunked request bodies are not supported by tcpproxy")
            length = int(headers.get(b"content-length", b"0") or 0)
            action = self._decide(method)
            if action == "cut":
                self.cut()
                return
            if action == "503":
                # Read the body first (unless the client waits for 100-continue): closing with
                # unread bytes makes the kernel send RST, and the client might miss our answer.
                if headers.get(b"expect", b"").lower() != b"100-continue":
                    buf = _drain(client, buf, length)
                client.sendall(_503)
                return
            upstream.sendall(head + b"\r\n\r\n")
            flip_at = length // 2 if action == "corrupt" and length else -1
            buf = _forward_body(client, upstream, buf, length, flip_at)


def _drain(client: socket.socket, buf: bytes, length: int) -> bytes:
    while len(buf) < length:
        chunk = client.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf[length:]


def _forward_body(client: socket.socket, upstream: socket.socket, buf: bytes, length: int, flip_at: int) -> bytes:
    """Send ``length`` body bytes upstream (flipping the byte at ``flip_at``); return the surplus."""
    sent = 0
    while sent < length:
        if not buf:
            buf = client.recv(65536)
            if not buf:
                raise OSError("client closed mid-body")
        piece, buf = buf[: length - sent], buf[length - sent :]
        if 0 <= flip_at - sent < len(piece):
            i = flip_at - sent
            piece = piece[:i] + bytes([piece[i] ^ 0x01]) + piece[i + 1 :]
        upstream.sendall(piece)
        sent += len(piece)
    return buf


def _copy(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def tcp_proxy(target_endpoint: str) -> Iterator[TcpProxy]:
    """Start a proxy in front of ``http://host:port``; yield it; cut it on exit."""
    host, _, port = target_endpoint.removeprefix("http://").rstrip("/").partition(":")
    proxy = TcpProxy(host, int(port))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.cut()
