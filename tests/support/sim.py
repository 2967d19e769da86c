"""Run the simulated model server in-process for a test.

    with running_sim(EXAMPLE_VARIANTS, "stable", error_rate=1.0) as base_url:
        httpx.post(f"{base_url}/chat/completions", json=...)

uvicorn runs in a daemon thread with its own event loop on a socket bound before the thread
starts, so the port is known up front and no other test can grab it. Start-up and shutdown
each take ~0.1 s.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from launchgate.sim.server import base_url as _base_url
from launchgate.sim.server import bind_socket, create_app, make_server

EXAMPLE_VARIANTS = Path(__file__).resolve().parents[2] / "examples" / "support-bot" / "variants.yaml"


@contextmanager
def running_sim(variants_file: Path, variant: str, **overrides: Any) -> Iterator[str]:
    """Serve ``variant`` on a free loopback port; yields the base URL ``http://127.0.0.1:PORT/v1``.

    Keyword arguments patch the variant's knobs (a JSON merge patch), e.g. ``error_rate=1.0`` or
    ``fault={"after_s": 0.3, "error_rate": 1.0}``.
    """
    app = create_app(Path(variants_file), variant, overrides=overrides or None)
    sock = bind_socket("127.0.0.1", 0)
    url = _base_url(sock)
    server = make_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"sim-{variant}",
                              daemon=True)
    thread.start()
    try:
        _wait_ready(url, server, thread)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


def _wait_ready(url: str, server: Any, thread: threading.Thread, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"simulated model at {url} exited during start-up")
        if time.monotonic() > deadline:
            raise RuntimeError(f"simulated model at {url} did not start within {timeout_s:.0f}s")
        time.sleep(0.01)
    # started means the socket listens; also prove the app answers before handing the URL out.
    # urllib, not httpx: a fresh httpx client builds an SSL context, ~50 ms per call.
    with urllib.request.urlopen(f"{url}/models", timeout=2) as resp:
        if resp.status != 200:
            raise RuntimeError(f"simulated model at {url} answered /models with {resp.status}")


def admin_url(base_url: str) -> str:
    """The admin API lives beside /v1, at the server root."""
    return base_url.removesuffix("/v1")


def set_sim_knobs(base_url: str, **patch: Any) -> dict[str, Any]:
    """Patch a running simulator's knobs (e.g. inject a fault mid-test); returns the new knobs.

    ``None`` resets a knob to its default (merge-patch semantics), e.g. ``fault=None``.
    """
    request = urllib.request.Request(
        f"{admin_url(base_url)}/sim/knobs", data=json.dumps(patch).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as resp:
            return json.loads(resp.read())["knobs"]
    except urllib.error.HTTPError as exc:  # a rejected patch: show the simulator's reason
        raise ValueError(f"knob patch {patch} rejected: {exc.read().decode(errors='replace')}") from exc
