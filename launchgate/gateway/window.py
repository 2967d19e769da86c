"""Windowed per-variant statistics for ``GET /admin/stats`` (pure, in memory).

The canary judge asks "what happened since t" every interval, often for the whole canary so
far (hundreds of thousands of requests on a busy service). A query runs on the proxy's event
loop, so it must not stall it: each variant keeps its last ``capacity`` requests as columns
(plain lists of numbers), records arrive in time order, and a window is found by bisecting the
timestamps. Counts and sums then run over list slices at C speed (0/1 columns for errors and
schema checks), and percentiles need one sort. Plain numbers also keep the garbage collector
away: lists of floats and ints are not traversed, so a full window adds no GC pauses.

What counts:
- an *error* is a 5xx (gateway or upstream, including timeouts) or a 429 from the upstream:
  both are the variant failing users. 4xx caused by the client (bad JSON, ...) and client
  disconnects (499) are not the variant's fault and are not errors;
- latency percentiles cover every request except client disconnects (a slow error is still slow);
- schema failure rate is over the answers that were checked (successful replies);
- cost per request is over successful requests (failed ones are not billed).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, NamedTuple

from launchgate.metrics.percentiles import percentile as _percentile

CLIENT_CLOSED = 499


class RequestRecord(NamedTuple):
    ts: float  # unix time the request finished
    variant: str
    status: int
    latency_ms: float
    ttft_ms: float | None = None
    schema_ok: bool | None = None
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    retries: int = 0  # upstream retries (connection or output contract) this request needed
    timed_out: bool = False  # an upstream call timed out (the answer may be the fallback's)

    @property
    def is_error(self) -> bool:
        return self.status >= 500 or self.status == 429


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an ascending list; None when empty."""
    return _percentile(sorted_values, q, presorted=True)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class _Series:
    """Timestamps plus values, trimmed to the newest ``capacity`` entries (amortised)."""

    def __init__(self, names: tuple[str, ...], capacity: int) -> None:
        self.capacity = capacity
        self.ts: list[float] = []
        self.cols: dict[str, list[Any]] = {n: [] for n in names}
        self._col_list = list(self.cols.values())
        self.start = 0  # logical first entry; entries before it are dropped and await compaction
        self.dropped = 0

    def add(self, ts: float, **values: Any) -> None:
        self.add_row(ts, tuple(values[name] for name in self.cols))

    def add_row(self, ts: float, row: tuple[Any, ...]) -> None:
        """``row`` holds one value per column, in the order of ``names`` (no keyword dict per request)."""
        self.ts.append(ts)
        for col, value in zip(self._col_list, row, strict=True):
            col.append(value)
        if len(self.ts) - self.start > self.capacity:
            self.start += 1
            self.dropped += 1
            if self.start >= self.capacity // 4 + 1:  # compact rarely: del of a prefix moves the rest
                del self.ts[: self.start]
                for col in self.cols.values():
                    del col[: self.start]
                self.start = 0

    def window(self, since: float) -> tuple[int, int]:
        return bisect_left(self.ts, since, lo=self.start), len(self.ts)

    def oldest(self) -> float | None:
        return self.ts[self.start] if len(self.ts) > self.start else None


class _VariantStats:
    def __init__(self, capacity: int) -> None:
        # Requests (client disconnects excluded) / time-to-first-token (streams only) / disconnects.
        self.requests = _Series(("latency", "error", "checked", "failed", "priced", "cost", "tin", "tout",
                                 "retried", "timeout"), capacity)
        self.ttft = _Series(("ttft",), capacity)
        self.closed = _Series((), capacity)

    def add(self, r: RequestRecord) -> None:
        if r.status == CLIENT_CLOSED:
            self.closed.add(r.ts)
            return
        priced = r.cost_usd is not None and r.status < 400
        # Columns: latency, error, checked, failed, priced, cost, tin, tout, retried, timeout (see __init__).
        self.requests.add_row(r.ts, (
            r.latency_ms, int(r.is_error), int(r.schema_ok is not None),
            int(r.schema_ok is False), int(priced), r.cost_usd if priced else 0.0,
            r.input_tokens or 0, r.output_tokens or 0, int(r.retries > 0), int(r.timed_out),
        ))
        if r.ttft_ms is not None:
            self.ttft.add_row(r.ts, (r.ttft_ms,))

    def summary(self, since: float) -> dict[str, Any]:
        """The admin API's per-variant object for the window [since, now]."""
        lo, hi = self.requests.window(since)
        cols = self.requests.cols
        count = hi - lo
        errors = sum(cols["error"][lo:hi])
        latencies = sorted(cols["latency"][lo:hi])
        t_lo, t_hi = self.ttft.window(since)
        ttfts = sorted(self.ttft.cols["ttft"][t_lo:t_hi])
        checked = sum(cols["checked"][lo:hi])
        failures = sum(cols["failed"][lo:hi])
        priced = sum(cols["priced"][lo:hi])
        cost = sum(cols["cost"][lo:hi])
        c_lo, c_hi = self.closed.window(since)
        return {
            "count": count,
            "errors": errors,
            "error_rate": errors / count if count else 0.0,
            "p50_ms": _round(percentile(latencies, 50)),
            "p95_ms": _round(percentile(latencies, 95)),
            "p99_ms": _round(percentile(latencies, 99)),
            "ttft_p95_ms": _round(percentile(ttfts, 95)),
            "schema_checked": checked,
            "schema_failures": failures,
            "schema_failure_rate": failures / checked if checked else 0.0,
            "cost_usd": round(cost, 8),
            "cost_per_request": cost / priced if priced else None,
            "input_tokens": sum(cols["tin"][lo:hi]),
            "output_tokens": sum(cols["tout"][lo:hi]),
            "client_closed": c_hi - c_lo,
            # The seed's retry SLO (<= 3%) per variant: requests that needed an upstream retry.
            "retried": sum(cols["retried"][lo:hi]),
            "retry_rate": sum(cols["retried"][lo:hi]) / count if count else 0.0,
            "timeout_rate": sum(cols["timeout"][lo:hi]) / count if count else 0.0,
        }


class StatsWindow:
    """Per-variant request statistics over any recent window; ``capacity`` requests per variant."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._variants: dict[str, _VariantStats] = {}

    def add(self, record: RequestRecord) -> None:
        stats = self._variants.get(record.variant)
        if stats is None:
            stats = self._variants[record.variant] = _VariantStats(self.capacity)
        stats.add(record)

    @property
    def dropped(self) -> int:
        """Requests forgotten because a variant's ring was full: windows reaching past them are partial."""
        return sum(v.requests.dropped for v in self._variants.values())

    def oldest_ts(self, variant: str | None = None) -> float | None:
        """The oldest request still remembered (of one variant, or the newest such among variants)."""
        names = [variant] if variant else list(self._variants)
        oldest = [o for n in names if n in self._variants and (o := self._variants[n].requests.oldest()) is not None]
        return max(oldest) if oldest else None

    def complete(self, since: float, variants: list[str]) -> bool:
        """False when a variant's ring has already forgotten requests inside the window."""
        for name in variants:
            stats = self._variants.get(name)
            if stats is not None and stats.requests.dropped:
                oldest = stats.requests.oldest()
                if oldest is not None and oldest > since:
                    return False
        return True

    def query(self, since: float, variants: list[str]) -> dict[str, dict[str, Any]]:
        empty = _VariantStats(1)
        return {v: self._variants.get(v, empty).summary(since) for v in variants}
