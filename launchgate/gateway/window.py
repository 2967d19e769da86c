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
from launchgate.metrics.percentiles import percentile_counts

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


# --------------------------------------------------------------------- windows summed over replicas
#
# With gateway.replicas.shared_state each replica publishes, per window a canary judge asked for,
# the totals below; the judge's stats are their sum. Counts and sums add exactly. Latencies are
# kept as counts per value rounded to 3 significant digits (a histogram whose bins are at most
# 0.5% wide): merged histograms give the nearest-rank percentile of all replicas' requests to
# within that rounding, where an average of per-replica p95s can be off by any amount.

_SUMS = ("error", "checked", "failed", "priced", "cost", "tin", "tout", "retried", "timeout")


def quantize(ms: float) -> float:
    """A latency rounded to 3 significant digits: the histogram bin it is counted in."""
    return float(f"{ms:.3g}")


class Tally:
    """One variant's totals over a window; ``merge`` adds another replica's."""

    def __init__(self) -> None:
        self.count = 0
        self.closed = 0
        self.sums: dict[str, float] = dict.fromkeys(_SUMS, 0)
        self.latency: dict[float, int] = {}
        self.ttft: dict[float, int] = {}

    def merge(self, other: Tally) -> None:
        self.count += other.count
        self.closed += other.closed
        for name in _SUMS:
            self.sums[name] += other.sums[name]
        for mine, theirs in ((self.latency, other.latency), (self.ttft, other.ttft)):
            for value, n in theirs.items():
                mine[value] = mine.get(value, 0) + n

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, "closed": self.closed, "sums": self.sums,
                "latency": [[v, n] for v, n in sorted(self.latency.items())],
                "ttft": [[v, n] for v, n in sorted(self.ttft.items())]}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Tally:
        t = cls()
        t.count, t.closed = int(raw.get("count", 0)), int(raw.get("closed", 0))
        for name in _SUMS:
            t.sums[name] = raw.get("sums", {}).get(name, 0)
        t.latency = {float(v): int(n) for v, n in raw.get("latency", [])}
        t.ttft = {float(v): int(n) for v, n in raw.get("ttft", [])}
        return t

    def summary(self) -> dict[str, Any]:
        """The same object as GET /admin/stats gives for one replica (percentiles from the histogram)."""
        s, count = self.sums, self.count
        checked, priced = s["checked"], s["priced"]
        return {
            "count": count, "errors": int(s["error"]), "error_rate": s["error"] / count if count else 0.0,
            "p50_ms": _round(percentile_counts(self.latency, 50)),
            "p95_ms": _round(percentile_counts(self.latency, 95)),
            "p99_ms": _round(percentile_counts(self.latency, 99)),
            "ttft_p95_ms": _round(percentile_counts(self.ttft, 95)),
            "schema_checked": int(checked), "schema_failures": int(s["failed"]),
            "schema_failure_rate": s["failed"] / checked if checked else 0.0,
            "cost_usd": round(s["cost"], 8), "cost_per_request": s["cost"] / priced if priced else None,
            "input_tokens": int(s["tin"]), "output_tokens": int(s["tout"]), "client_closed": self.closed,
            "retried": int(s["retried"]), "retry_rate": s["retried"] / count if count else 0.0,
            "timeout_rate": s["timeout"] / count if count else 0.0,
        }


class WindowTally:
    """Running totals of the window [since, ...] of one process's StatsWindow.

    ``advance`` reads only the rows added since its last call (a few per request, on the event
    loop), so publishing a long canary's window every second costs what the last second cost.
    """

    def __init__(self, since: float) -> None:
        self.since = since
        self.variants: dict[str, Tally] = {}
        self._pos: dict[tuple[str, str], int] = {}  # (variant, series) -> rows consumed, counted since start
        self.complete = True

    def advance(self, window: StatsWindow) -> None:
        for name, stats in window._variants.items():
            tally = self.variants.setdefault(name, Tally())
            lo, hi = self._rows(name, "requests", stats.requests)
            cols = stats.requests.cols
            tally.count += hi - lo
            for col in _SUMS:
                tally.sums[col] += sum(cols[col][lo:hi])
            _count_into(tally.latency, cols["latency"][lo:hi])
            t_lo, t_hi = self._rows(name, "ttft", stats.ttft)
            _count_into(tally.ttft, stats.ttft.cols["ttft"][t_lo:t_hi])
            c_lo, c_hi = self._rows(name, "closed", stats.closed)
            tally.closed += c_hi - c_lo

    def _rows(self, variant: str, series: str, s: _Series) -> tuple[int, int]:
        """Physical [lo, hi) of the rows not yet consumed; notes rows the ring forgot first."""
        key = (variant, series)
        done = self._pos.get(key)
        if done is None:
            lo = s.window(self.since)[0]
        else:
            lo = done - s.dropped + s.start
            if lo < s.start:
                self.complete = False
                lo = s.start
        hi = len(s.ts)
        self._pos[key] = s.dropped + (hi - s.start)
        return lo, hi

    def as_json(self) -> dict[str, Any]:
        return {name: t.as_json() for name, t in self.variants.items()}


def _count_into(counts: dict[float, int], values: list[float]) -> None:
    for v in map(quantize, values):
        counts[v] = counts.get(v, 0) + 1

