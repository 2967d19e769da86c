"""Readiness: can the gateway reach its stable upstream? A cached TCP-connect probe.

Liveness (``/health/live``) only says the process serves. Readiness (``/health/ready``) says it can
do its job: stable is the variant every request falls back to, so an unreachable stable means the
gateway should get no traffic (Kubernetes takes a pod that answers 503 out of the Service).

The probe runs in the background every ``ready_check_s`` and readiness requests read its last
result, so a probe storm from a load balancer never becomes a connection storm on the model
server. A TCP connect, not a model call: it costs the upstream nothing, and an upstream that
accepts connections but answers errors shows up in the canary's and the request log's numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from launchgate.gateway.config import Upstream

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Probe:
    url: str
    ok: bool
    reason: str
    at: float  # time.time() of the probe
    latency_ms: float | None = None


async def probe(url: str, timeout_s: float) -> Probe:
    """Open and close one TCP connection to the host and port of ``url``."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
    started = time.perf_counter()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except TimeoutError:
        return Probe(url, False, f"stable upstream {url} did not accept a connection within {timeout_s:g}s",
                     time.time())
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        return Probe(url, False, f"stable upstream {url} is unreachable: {why}", time.time())
    latency = (time.perf_counter() - started) * 1000
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return Probe(url, True, f"stable upstream {url} accepts connections", time.time(), round(latency, 2))


class Readiness:
    """The last probe of the stable upstream, refreshed by ``run``; ``answer`` is what /health/ready says."""

    def __init__(self, stable: Callable[[], Upstream | None], every_s: float, timeout_s: float) -> None:
        self.stable = stable  # read at each probe: /admin/upstreams and a promotion can swap stable
        self.every_s = every_s
        self.timeout_s = min(timeout_s, every_s * 2)
        self.last: Probe | None = None

    async def check(self) -> Probe:
        upstream = self.stable()
        if upstream is None:
            self.last = Probe("", False, "no stable upstream is configured", time.time())
        else:
            self.last = await probe(upstream.url, self.timeout_s)
        return self.last

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.every_s)

    def answer(self, now: float | None = None) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): 200 ready, 503 not ready with the reason."""
        now = time.time() if now is None else now
        last = self.last
        if last is None:
            return 503, {"status": "not_ready", "reason": "the first probe of the stable upstream has not finished"}
        body: dict[str, Any] = {"stable": last.url, "checked_at": last.at, "age_s": round(now - last.at, 3)}
        # A probe loop that stopped (it should not) must not leave an old "ready" standing.
        stale_after = 3 * self.every_s + self.timeout_s
        if now - last.at > stale_after:
            return 503, {"status": "not_ready", **body,
                         "reason": f"the stable upstream was last probed {now - last.at:.1f}s ago (probe stalled)"}
        if not last.ok:
            return 503, {"status": "not_ready", "reason": last.reason, **body}
        return 200, {"status": "ready", "reason": last.reason, "connect_ms": last.latency_ms, **body}
