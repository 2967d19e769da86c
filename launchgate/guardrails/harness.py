"""Serve aiohttp applications on loopback from a background event loop (the drill and the gameday).

The fallback drill and the gameday run a gateway and a fault injector inside the calling process,
on ports no user traffic knows about, and drive them over real HTTP from the caller's thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


class LoopThread:
    """One event loop in a daemon thread; ``serve(app)`` returns the app's loopback base URL."""

    def __init__(self, name: str = "guardrails-harness") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self._runners: list[web.AppRunner] = []

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def serve(self, app: web.Application) -> str:
        async def start() -> str:
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self._runners.append(runner)
            sock = site._server.sockets[0]  # type: ignore[union-attr]
            return f"http://127.0.0.1:{sock.getsockname()[1]}"

        return self.call(start())

    def close(self) -> None:
        async def stop() -> None:
            for runner in reversed(self._runners):
                await runner.cleanup()
            # Worker-thread jobs the apps started (store writes) finish before the caller cleans up.
            await self.loop.shutdown_default_executor()

        try:
            self.call(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()


@contextmanager
def simulated_model(variants_file: Path, variant: str, **overrides: Any) -> Iterator[str]:
    """Serve one simulated variant (launchgate.sim) on a loopback port; yields its ``.../v1`` URL."""
    from launchgate.sim.server import base_url, bind_socket, create_app, make_server

    sock = bind_socket("127.0.0.1", 0)
    server = make_server(create_app(variants_file, variant, overrides=overrides or None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"sim-{variant}")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        if not server.started:
            raise RuntimeError(f"simulated model {variant} did not start")
        yield base_url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
