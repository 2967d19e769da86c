"""Golden-set traffic through the gateway: the demo's stand-in for real users, and the drill's probe.

In production real users send the canary its traffic. For the demo and the tests nothing would,
so ``TrafficGenerator`` sends golden-set inputs at a constant rate from a background thread for
the canary window (``canary.demo_traffic_rps``). ``send_requests`` sends a fixed number, which the
rollback drill uses to prove that stable serves everything after the rollback.

aiohttp, not httpx: the modelclient note applies (httpx fell behind at ~200 req/s on two cores).
No retries: a retried request would hide exactly the errors the canary must see.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from launchgate.access.tokens import with_client_key

VARIANT_HEADER = "X-LG-Variant"  # set by the release gateway on every answer

Messages = list[dict[str, str]]


@dataclass
class TrafficTally:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)  # 0 = no HTTP answer
    variants: Counter[str] = field(default_factory=Counter)  # from the gateway's variant header

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "ok": self.ok, "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "variants": dict(self.variants)}


async def _one(session: aiohttp.ClientSession, url: str, body: dict[str, Any], tally: TrafficTally) -> None:
    tally.sent += 1
    try:
        async with session.post(url, json=body) as resp:
            await resp.read()
            tally.statuses[resp.status] += 1
            variant = resp.headers.get(VARIANT_HEADER)
            if variant:
                tally.variants[variant] += 1
    except (aiohttp.ClientError, TimeoutError):
        tally.statuses[0] += 1


def _body(model: str, messages: Messages, max_tokens: int) -> dict[str, Any]:
    return {"model": model, "messages": messages, "max_tokens": max_tokens}


async def _send(base_url: str, model: str, prompts: Sequence[Messages], n: int, concurrency: int,
                timeout_s: float, max_tokens: int, headers: dict[str, str] | None) -> TrafficTally:
    tally = TrafficTally()
    url = f"{base_url.rstrip('/')}/chat/completions"
    sem = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout, headers=with_client_key(headers)) as session:
        async def bounded(i: int) -> None:
            async with sem:
                await _one(session, url, _body(model, prompts[i % len(prompts)], max_tokens), tally)

        await asyncio.gather(*(bounded(i) for i in range(n)))
    return tally


def send_requests(base_url: str, model: str, prompts: Sequence[Messages], n: int, *, concurrency: int = 8,
                  timeout_s: float = 10.0, max_tokens: int = 400,
                  headers: dict[str, str] | None = None) -> TrafficTally:
    """Send ``n`` chat completions (cycling through ``prompts``) and tally the answers. Blocking."""
    return asyncio.run(_send(base_url, model, prompts, n, concurrency, timeout_s, max_tokens, headers))


class TrafficGenerator:
    """Constant-rate chat completions from a daemon thread until ``stop()``. Use as a context manager."""

    def __init__(self, base_url: str, model: str, prompts: Sequence[Messages], rps: float, *,
                 timeout_s: float = 10.0, max_tokens: int = 400, max_in_flight: int = 256,
                 headers: dict[str, str] | None = None) -> None:
        if rps <= 0 or not prompts:
            raise ValueError("traffic needs rps > 0 and at least one prompt")
        self.url = f"{base_url.rstrip('/')}/chat/completions"
        self.model, self.prompts, self.rps = model, list(prompts), rps
        self.timeout_s, self.max_tokens, self.max_in_flight = timeout_s, max_tokens, max_in_flight
        self.headers = with_client_key(headers)  # a gateway requiring keys gets LAUNCHGATE_GATEWAY_API_KEY
        self.tally = TrafficTally()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="launchgate-traffic", daemon=True)

    def __enter__(self) -> TrafficGenerator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> TrafficTally:
        self._stop.set()
        self._thread.join(timeout=self.timeout_s + 5)
        return self.tally

    def _run(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        in_flight: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(timeout=timeout, headers=self.headers) as session:
            start, i = time.monotonic(), 0
            while not self._stop.is_set():
                # Open-loop schedule: request i is due at start + i / rps, however slow answers are.
                due = start + i / self.rps
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(min(delay, 0.2))
                    continue
                if len(in_flight) < self.max_in_flight:  # shed load rather than pile up unboundedly
                    body = _body(self.model, self.prompts[i % len(self.prompts)], self.max_tokens)
                    task = asyncio.create_task(_one(session, self.url, body, self.tally))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                i += 1
            if in_flight:
                await asyncio.wait(in_flight, timeout=self.timeout_s)


def golden_prompts(inputs: Sequence[dict[str, Any]]) -> list[Messages]:
    """User messages for golden-set inputs, rendered the way the eval renders them.

    No system message: the gateway applies the prompt of whichever variant serves the request,
    as it would for an application that leaves the prompt to the release.
    """
    from launchgate.eval.golden import render_messages

    return [render_messages("", case_input)[1:] for case_input in inputs]
