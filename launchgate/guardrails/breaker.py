"""A circuit breaker per upstream: closed -> open on the error rate over a window -> half-open probe -> closed.

Calls are counted in one-second buckets over ``window_s``, so ``record`` and ``allow`` are O(1)
amortised on the request path. The breaker opens once the window holds at least ``min_requests``
calls and their failure share reaches ``failure_rate``. After ``open_s`` it lets probes through
(half-open): ``probes`` successes close it, one failure opens it again for another ``open_s``.
Single-threaded by design: the gateway calls it from its event loop only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import IntEnum


class State(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class Breaker:
    def __init__(self, *, window_s: float, min_requests: int, failure_rate: float, open_s: float, probes: int = 1,
                 on_change: Callable[[State, State, str], None] | None = None) -> None:
        self.window_s = window_s
        self.min_requests = min_requests
        self.failure_rate = failure_rate  # a fraction, 0..1
        self.open_s = open_s
        self.probes = probes
        self.on_change = on_change
        self.state = State.CLOSED
        self.opened_at = 0.0
        self._buckets: deque[list[float]] = deque()  # [second, calls, failures]
        self.calls = 0
        self.failures = 0
        self._probing = 0  # probes let through and not yet answered
        self._probe_ok = 0

    def _set(self, new: State, why: str) -> None:
        old, self.state = self.state, new
        if old is not new and self.on_change is not None:
            self.on_change(old, new, why)

    def _trim(self, now: float) -> None:
        edge = now - self.window_s
        buckets = self._buckets
        while buckets and buckets[0][0] < edge:
            _, calls, failures = buckets.popleft()
            self.calls -= int(calls)
            self.failures -= int(failures)

    def allow(self, now: float) -> bool:
        """May a call go to the upstream now? (In half-open, a True is a probe: ``record`` its result.)"""
        if self.state is State.CLOSED:
            return True
        if self.state is State.OPEN:
            if now - self.opened_at < self.open_s:
                return False
            self._set(State.HALF_OPEN, f"{self.open_s:g}s open: probing")
            self._probing = self._probe_ok = 0
        if self._probing >= self.probes:
            return False
        self._probing += 1
        return True

    def record(self, ok: bool, now: float) -> None:
        if self.state is State.HALF_OPEN:
            self._probing = max(0, self._probing - 1)
            if not ok:
                self._open(now, "a probe failed")
                return
            self._probe_ok += 1
            if self._probe_ok >= self.probes:
                self._buckets.clear()
                self.calls = self.failures = 0
                self._set(State.CLOSED, f"{self._probe_ok} probe(s) succeeded")
            return
        if self.state is State.OPEN:
            return  # an answer to a call made before it opened
        sec = float(int(now))
        buckets = self._buckets
        if not buckets or buckets[-1][0] != sec:
            buckets.append([sec, 0, 0])
        last = buckets[-1]
        last[1] += 1
        self.calls += 1
        if not ok:
            last[2] += 1
            self.failures += 1
            self._trim(now)
            if self.calls >= self.min_requests and self.failures >= self.failure_rate * self.calls:
                self._open(now, f"{self.failures}/{self.calls} calls failed in {self.window_s:g}s")

    def _open(self, now: float, why: str) -> None:
        self.opened_at = now
        self._probing = self._probe_ok = 0
        self._set(State.OPEN, why)

    def abandon(self) -> None:
        """A call ``allow`` let through never reached the upstream (e.g. no in-flight slot): free its probe."""
        if self.state is State.HALF_OPEN:
            self._probing = max(0, self._probing - 1)

    def force_open(self, now: float, why: str) -> None:
        self._open(now, why)
