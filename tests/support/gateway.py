"""Run the release gateway in-process for a test.

    with running_sim(EXAMPLE_VARIANTS, "stable") as stable, running_sim(EXAMPLE_VARIANTS, "good-candidate") as cand:
        with running_gateway(stable, cand, str(tmp_path / "store")) as (base_url, token):
            httpx.post(f"{base_url}/v1/chat/completions", json=...)
            GatewayAdmin(base_url, token).set_weights(20, "test")

``base_url`` is the gateway root (``http://127.0.0.1:PORT``): the OpenAI API is under ``/v1``,
the admin API under ``/admin``. The gateway runs on its own event loop in a daemon thread, on a
socket bound before the thread starts; start-up and shutdown take a few ms. Leaving the block
flushes the request log, so a test can read it right after.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from launchgate.config import Pricing
from launchgate.gateway.app import Gateway, bind_socket
from launchgate.gateway.config import GatewayConfig, Upstream

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
EXAMPLE_PRICING = Pricing(input_per_1k=0.0005, output_per_1k=0.0015)


@contextmanager
def running_gateway(
    stable_url: str, candidate_url: str | None, store_uri: str, **kw: Any
) -> Iterator[tuple[str, str]]:
    """Serve a gateway on a free loopback port; yields ``(base_url, admin_token)``.

    ``kw`` sets GatewayConfig fields (``initial_candidate_pct=20``, ``upstream_timeout_s=0.3``, ...);
    ``stable_model`` / ``candidate_model`` name the upstream deployments. The example service's
    output schema and pricing are used unless given.
    """
    token = secrets.token_urlsafe(24)
    # Like `launchgate gateway --config`: each variant carries its own versioned prompt.
    stable = Upstream(url=stable_url, model=kw.pop("stable_model", "support-bot-stable"), prompt_version="v1",
                      system_prompt=kw.pop("stable_prompt", (EXAMPLE / "prompts" / "v1.txt").read_text()))
    candidate = None
    if candidate_url:
        candidate = Upstream(url=candidate_url, model=kw.pop("candidate_model", "support-bot-good"),
                             prompt_version="v2",
                             system_prompt=kw.pop("candidate_prompt", (EXAMPLE / "prompts" / "v2.txt").read_text()))
    kw.setdefault("output_schema", EXAMPLE / "schemas" / "output.schema.json")
    kw.setdefault("pricing", EXAMPLE_PRICING)
    kw.setdefault("log_writer", "test")
    cfg = GatewayConfig(service=kw.pop("service", "support-bot"), stable=stable, candidate=candidate,
                        log_store_uri=store_uri, **kw)
    gateway = Gateway(cfg, token)
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    failure: list[BaseException] = []

    async def main() -> None:
        stop.append(asyncio.Event())
        runner = web.AppRunner(gateway.app, access_log=None, handle_signals=False)
        try:
            await runner.setup()
            await web.SockSite(runner, sock).start()
        except BaseException as exc:  # surface start-up errors in the test's thread
            failure.append(exc)
            ready.set()
            raise
        ready.set()
        try:
            await stop[0].wait()
        finally:
            await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="gateway", daemon=True)
    thread.start()
    if not ready.wait(timeout=10):
        raise RuntimeError("gateway did not start within 10s")
    if failure:
        raise RuntimeError(f"gateway failed to start: {failure[0]!r}") from failure[0]
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(timeout=10)
        loop.close()
        sock.close()
