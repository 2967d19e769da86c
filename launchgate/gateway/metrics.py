"""Prometheus metrics at ``GET /metrics``.

Each gateway app owns its registry (not the process-global one), so several gateways in one
process (tests, benchmarks) do not collide and a scrape shows exactly one gateway.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from launchgate.gateway.logwriter import RequestLogWriter

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# LLM latencies span 50 ms to a minute; the default buckets stop at 10 s.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)


class _LogCollector(Collector):
    """Request-log health, read from the writer at scrape time."""

    def __init__(self, writer: RequestLogWriter) -> None:
        self.writer = writer

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        w = self.writer
        yield CounterMetricFamily("launchgate_gateway_log_lines_written", "request log lines stored",
                                  value=w.lines_written)
        yield CounterMetricFamily("launchgate_gateway_log_flush_failures", "request log flushes that failed "
                                  "(their lines are retried)", value=w.flush_failures)
        yield CounterMetricFamily("launchgate_gateway_log_lines_dropped", "request log lines dropped because "
                                  "the buffer was full", value=w.lines_dropped)
        yield GaugeMetricFamily("launchgate_gateway_log_lines_pending", "request log lines not yet stored",
                                value=w.pending)


RATE_WINDOW_S = 300.0


class _RateWindow:
    """Per-variant request, retry and timeout counts in one-second buckets over the last RATE_WINDOW_S."""

    def __init__(self) -> None:
        self._buckets: dict[str, deque[list[float]]] = {}

    def add(self, variant: str, retried: bool, timed_out: bool) -> None:
        now = float(int(time.monotonic()))
        buckets = self._buckets.setdefault(variant, deque())
        if not buckets or buckets[-1][0] != now:
            buckets.append([now, 0, 0, 0])
            while buckets[0][0] < now - RATE_WINDOW_S:
                buckets.popleft()
        last = buckets[-1]
        last[1] += 1
        last[2] += retried
        last[3] += timed_out

    def share(self, variant: str, which: int) -> float:
        """which=1: retried share, 2: timed-out share (0.0 with no requests)."""
        edge = time.monotonic() - RATE_WINDOW_S
        rows = [b for b in self._buckets.get(variant, ()) if b[0] >= edge]
        total = sum(b[1] for b in rows)
        return sum(b[1 + which] for b in rows) / total if total else 0.0


class GatewayMetrics:
    def __init__(self, writer: RequestLogWriter, weight: Callable[[str], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("launchgate_gateway_requests", "requests by variant and HTTP status",
                                ["variant", "status"], registry=r)
        self.latency = Histogram("launchgate_gateway_request_latency_seconds", "request latency (gateway view)",
                                 ["variant"], buckets=LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("launchgate_gateway_ttft_seconds", "time to first streamed byte",
                              ["variant"], buckets=LATENCY_BUCKETS, registry=r)
        self.tokens = Counter("launchgate_gateway_tokens", "tokens by variant and direction (input/output)",
                              ["variant", "direction"], registry=r)
        self.cost = Counter("launchgate_gateway_cost_usd", "cost in USD from usage x pricing", ["variant"],
                            registry=r)
        self.schema_failures = Counter("launchgate_gateway_schema_failures", "answers failing the output schema",
                                       ["variant"], registry=r)
        self.errors = Counter("launchgate_gateway_errors", "requests that failed, by error code",
                              ["variant", "code"], registry=r)
        self.auth_refusals = Counter("launchgate_gateway_auth_refusals", "/v1 requests refused 401 for their API "
                                     "key, by reason (missing, unknown, revoked, expired)", ["reason"], registry=r)
        self.retries = Counter("launchgate_gateway_upstream_retries", "upstream connection retries", ["variant"],
                               registry=r)
        self.events = Counter("launchgate_gateway_events", "routing events by kind (weights, lease_expired, ...)",
                              ["kind"], registry=r)
        weights = Gauge("launchgate_gateway_weight_percent", "current routing weight", ["variant"], registry=r)
        for variant in ("stable", "candidate"):
            weights.labels(variant).set_function(lambda v=variant: weight(v))
        r.register(_LogCollector(writer))
        # Guardrails (docs/gateway.md lists these names: alert rules and dashboards read them).
        self.guard_events = Counter("launchgate_gateway_guardrail_events", "guardrail decisions by control and "
                                    "outcome (documented code or action)", ["control", "outcome", "variant"],
                                    registry=r)
        self.fallbacks = Counter("launchgate_gateway_fallbacks", "answers served by the fallback, by reason",
                                 ["reason", "variant"], registry=r)
        self.timeouts = Counter("launchgate_gateway_upstream_timeouts", "upstream calls that timed out", ["variant"],
                                registry=r)
        self.handoffs = Counter("launchgate_gateway_handoffs", "requests put in the handoff queue", ["reason"],
                                registry=r)
        self.rates = _RateWindow()
        retry_rate = Gauge("launchgate_gateway_retry_rate", "share of requests retried upstream over the last "
                           f"{RATE_WINDOW_S:g}s (SLO <= 3%)", ["variant"], registry=r)
        timeout_rate = Gauge("launchgate_gateway_timeout_rate", "share of requests that timed out upstream over the "
                             f"last {RATE_WINDOW_S:g}s", ["variant"], registry=r)
        for variant in ("stable", "candidate"):
            retry_rate.labels(variant).set_function(lambda v=variant: self.rates.share(v, 1))
            timeout_rate.labels(variant).set_function(lambda v=variant: self.rates.share(v, 2))
        # labels() validates and looks up its arguments on every call: keep each child once found.
        # The label sets are bounded (two variants, HTTP statuses, the gateway's error codes).
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, key: tuple[str, ...], make: Callable[[], Any]) -> Any:
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = make()
        return child

    def observe(self, variant: str, status: int, latency_s: float, ttft_s: float | None,
                input_tokens: int | None, output_tokens: int | None, cost_usd: float | None,
                schema_ok: bool | None, error_code: str | None, retries: int) -> None:
        child = self._child
        child(("requests", variant, str(status)), lambda: self.requests.labels(variant, str(status))).inc()
        child(("latency", variant), lambda: self.latency.labels(variant)).observe(latency_s)
        if ttft_s is not None:
            child(("ttft", variant), lambda: self.ttft.labels(variant)).observe(ttft_s)
        if input_tokens:
            child(("tokens_in", variant), lambda: self.tokens.labels(variant, "input")).inc(input_tokens)
        if output_tokens:
            child(("tokens_out", variant), lambda: self.tokens.labels(variant, "output")).inc(output_tokens)
        if cost_usd:
            child(("cost", variant), lambda: self.cost.labels(variant)).inc(cost_usd)
        if schema_ok is False:
            child(("schema", variant), lambda: self.schema_failures.labels(variant)).inc()
        if error_code:
            child(("errors", variant, error_code), lambda: self.errors.labels(variant, error_code)).inc()
        if retries:
            child(("retries", variant), lambda: self.retries.labels(variant)).inc(retries)
        self.rates.add(variant, retries > 0, error_code == "upstream_timeout")

    def attach_guard(self, guard: Any) -> None:
        """Gauges read from the guardrails' state at scrape time (breakers, level, slots)."""
        r = self.registry
        state = Gauge("launchgate_gateway_breaker_state", "circuit breaker: 0 closed, 1 half-open, 2 open",
                      ["upstream"], registry=r)
        for name, breaker in guard.breakers.items():
            state.labels(name).set_function(lambda b=breaker: int(b.state))
        level = Gauge("launchgate_gateway_degradation_level", "effective level: 0 normal, 1 reduced, 2 fallback_only",
                      registry=r)
        level.set_function(lambda: int(guard.effective_level()))
        in_flight = Gauge("launchgate_gateway_in_flight", "requests in flight per upstream", ["upstream"], registry=r)
        queued = Gauge("launchgate_gateway_queued", "requests waiting for an in-flight slot", ["upstream"], registry=r)
        for name, slots in guard.slots.items():
            in_flight.labels(name).set_function(lambda s=slots: s.in_flight)
            queued.labels(name).set_function(lambda s=slots: s.queued)

    def guard_event(self, control: str, outcome: str, variant: str) -> None:
        self._child(("guard", control, outcome, variant),
                    lambda: self.guard_events.labels(control, outcome, variant)).inc()

    def fallback(self, reason: str, variant: str) -> None:
        self._child(("fallback", reason, variant), lambda: self.fallbacks.labels(reason, variant)).inc()

    def timeout(self, variant: str) -> None:
        self._child(("timeout", variant), lambda: self.timeouts.labels(variant)).inc()

    def handoff(self, reason: str) -> None:
        self._child(("handoff", reason), lambda: self.handoffs.labels(reason)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
