"""Prometheus metrics at ``GET /metrics``.

Each gateway app owns its registry (not the process-global one), so several gateways in one
process (tests, benchmarks) do not collide and a scrape shows exactly one gateway.
"""

from __future__ import annotations

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
        self.retries = Counter("launchgate_gateway_upstream_retries", "upstream connection retries", ["variant"],
                               registry=r)
        self.events = Counter("launchgate_gateway_events", "routing events by kind (weights, lease_expired, ...)",
                              ["kind"], registry=r)
        weights = Gauge("launchgate_gateway_weight_percent", "current routing weight", ["variant"], registry=r)
        for variant in ("stable", "candidate"):
            weights.labels(variant).set_function(lambda v=variant: weight(v))
        r.register(_LogCollector(writer))
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

    def render(self) -> bytes:
        return generate_latest(self.registry)
