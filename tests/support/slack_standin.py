"""A tiny stand-in for Slack's Web API on loopback (slack-sdk talks to it via ``base_url``).

It records every request and answers like Slack does; tests script failures for the next N
requests: ``state.fail_next(1, "429")``, ``"500"``, ``"channel_not_found"``, ``"slow"``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

FAILURES = ("429", "500", "channel_not_found", "slow")


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class StandinState:
    retry_after_s: int = 0
    slow_s: float = 2.0
    requests: list[Recorded] = field(default_factory=list)
    _script: deque[str] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, n: int, kind: str) -> None:
        if kind not in FAILURES:
            raise ValueError(f"unknown failure {kind!r}; one of {FAILURES}")
        with self._lock:
            self._script.extend([kind] * n)

    def _next(self) -> str | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self.requests.append(recorded)

    def posts(self, method: str = "chat.postMessage") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/" + method)]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._script.clear()


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if "json" in content_type:
        return dict(json.loads(raw))
    form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
    return {k: v[0] if len(v) == 1 else v for k, v in form.items()}


def _make_handler(state: StandinState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def _answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            ctype = "text/plain" if isinstance(payload, bytes) else "application/json; charset=utf-8"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = _parse_body(self.headers.get("Content-Type", ""), raw)
            state._record(Recorded("POST", self.path, dict(self.headers.items()), body))
            failure = state._next()
            if failure == "429":
                self._answer(
                    429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(state.retry_after_s)}
                )
            elif failure == "500":
                self._answer(500, b"internal error")
            elif failure == "channel_not_found":
                self._answer(200, {"ok": False, "error": "channel_not_found"})
            else:
                if failure == "slow":
                    time.sleep(state.slow_s)
                if self.path.endswith("/chat.postMessage"):
                    ts = f"{time.time():.6f}"
                    self._answer(200, {"ok": True, "channel": body.get("channel"), "ts": ts})
                else:
                    self._answer(200, {"ok": True})

        do_GET = do_POST

    return Handler


@contextlib.contextmanager
def slack_standin() -> Iterator[tuple[str, StandinState]]:
    """Yield ``(base_url, state)``; base_url ends with ``/api/`` like Slack's."""
    state = StandinState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
