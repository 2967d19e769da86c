"""Liveness says the gateway process serves; readiness says its stable upstream can be reached.

Readiness is a cached probe refreshed in the background, never a call per health request.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.gateway import running_gateway

CHECK_S = 0.2


class Listener:
    """A bare TCP listener standing in for the stable upstream; counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@contextmanager
def listener() -> Iterator[Listener]:
    srv = Listener()
    try:
        yield srv
    finally:
        srv.close()


def _until(pred, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_ready_follows_the_stable_upstream_and_live_does_not(tmp_path: Path) -> None:
    with listener() as up, running_gateway(f"http://127.0.0.1:{up.port}/v1", None, str(tmp_path),
                                           ready_check_s=CHECK_S) as (url, _):
        _until(lambda: httpx.get(f"{url}/health/ready").status_code == 200)
        ready = httpx.get(f"{url}/health/ready").json()
        assert ready["status"] == "ready" and ready["stable"] == f"http://127.0.0.1:{up.port}/v1"
        up.close()  # stable dies
        _until(lambda: httpx.get(f"{url}/health/ready").status_code == 503, timeout=5 * CHECK_S + 3)
        down = httpx.get(f"{url}/health/ready")
        body = down.json()
        assert body["status"] == "not_ready" and f"127.0.0.1:{up.port}" in body["reason"], body
        assert "refused" in body["reason"].lower() or "unreachable" in body["reason"].lower(), body
        live = httpx.get(f"{url}/health/live")
        assert live.status_code == 200 and live.json()["status"] == "ok"
        legacy = httpx.get(f"{url}/health")  # kept, as liveness
        assert legacy.status_code == 200 and legacy.json()["status"] == "ok" and "weights" in legacy.json()


def test_dead_stable_is_not_ready_from_the_start(tmp_path: Path) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # a port nothing listens on
    with running_gateway(f"http://127.0.0.1:{port}/v1", None, str(tmp_path), ready_check_s=CHECK_S) as (url, _):
        r = httpx.get(f"{url}/health/ready")
        assert r.status_code == 503, r.text
        assert httpx.get(f"{url}/health/live").status_code == 200


def test_readiness_is_cached_not_probed_per_request(tmp_path: Path) -> None:
    with listener() as up, running_gateway(f"http://127.0.0.1:{up.port}/v1", None, str(tmp_path),
                                           ready_check_s=1.0) as (url, _):
        _until(lambda: httpx.get(f"{url}/health/ready").status_code == 200)
        before = up.accepted
        with httpx.Client() as client:
            for _ in range(100):
                assert client.get(f"{url}/health/ready").status_code == 200
        assert up.accepted - before <= 2, up.accepted - before  # about one probe a second, whatever the load
