"""The ``prometheus`` metrics source: the canary judge reads the team's own Prometheus.

Every look resolves the PromQL templates of ``observability.queries`` for each variant and asks
Prometheus' HTTP API (``/api/v1/query`` at the look's time) for one number each:

* counts over the window since the canary started (the judge turns them into per-look increments);
* slow requests = requests with a latency - requests in the histogram bucket ``le`` = the p95
  threshold, an exact count, so the latency SPRT keeps its guarantee (the threshold must be a
  bucket boundary: the config refuses one that is not);
* the newest sample's time: data older than 2 scrape intervals, or no series at all, is not
  evidence of anything, so the look raises RouterError and the judge HOLDs with that reason.

The resolved queries and raw answers of the last look are kept in ``last_look``; the canary loop
copies them into canary/timeseries.jsonl. No retries: the next look is the retry, and the judge
counts looks without metrics (canary.max_metric_errors).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from launchgate.config import ReleaseConfig
from launchgate.config.haproxy import haproxy_queries
from launchgate.config.observability import CanaryQueries, Observability, le_label
from launchgate.errors import InputError, RouterError
from launchgate.router.base import CANDIDATE, STABLE, MetricsSource, WindowStats

STALE_SCRAPES = 2  # a series whose newest sample is older than this many scrape intervals is stale


def render(template: str, **values: str) -> str:
    """``{{name}}`` -> value, as Argo's AnalysisTemplate does; an unknown placeholder is an error."""
    out = template
    for name, value in values.items():
        out = out.replace("{{" + name + "}}", value)
    if "{{" in out:
        start = out.index("{{")
        raise RouterError(f"observability.queries: unknown placeholder {out[start:out.find('}}', start) + 2]} "
                          f"(known: {', '.join('{{' + n + '}}' for n in values)})")
    return out


def prom_duration(seconds: float) -> str:
    """A PromQL duration in whole milliseconds (at least 1 s: a shorter range holds no scrape)."""
    return f"{max(1000, round(seconds * 1000))}ms"


class PrometheusMetrics:
    """MetricsSource over Prometheus' query API for one service."""

    name = "prometheus"

    def __init__(self, obs: Observability, service: str, latency_threshold_ms: float, *,
                 clock: Callable[[], float] = time.time, client: httpx.Client | None = None) -> None:
        if obs.prometheus_url is None:
            raise RouterError("observability.prometheus_url is not set")
        self.obs, self.service, self.clock = obs, service, clock
        self.le = le_label(latency_threshold_ms / 1000)
        self.url = f"{obs.prometheus_url}/api/v1/query"
        self.shown_url = _without_userinfo(obs.prometheus_url)  # what messages and evidence may show
        headers = {}
        if obs.prometheus_token_env:
            token = os.environ.get(obs.prometheus_token_env, "").strip()
            if not token:
                raise InputError(f"observability.prometheus_token_env names {obs.prometheus_token_env}, which is not "
                                 f"set: export the Prometheus bearer token there")
            headers["Authorization"] = f"Bearer {token}"
        self.client = client or httpx.Client(timeout=obs.query_timeout_s, headers=headers)
        self.last_look: dict[str, Any] | None = None

    def window(self, since: float) -> dict[str, WindowStats]:
        now = self.clock()
        window = prom_duration(now - since)
        look: dict[str, Any] = {"source": "prometheus", "at": round(now, 3), "window": window, "queries": []}
        self.last_look = look
        out = {}
        for variant in (STABLE, CANDIDATE):
            values = self._variant(variant, window, now, look)
            out[variant] = self._stats(variant, values, now, look)
        return out

    def _variant(self, variant: str, window: str, now: float, look: dict[str, Any]) -> dict[str, float | None]:
        label = self.obs.variants.get(variant, variant)  # type: ignore[call-overload]
        values: dict[str, float | None] = {}
        q: CanaryQueries = self.obs.queries
        for name in CanaryQueries.model_fields:
            template = getattr(q, name)
            if template is None:
                continue
            promql = render(template, service=self.service, variant=label, window=window, le=self.le)
            value = self.query(promql, now)
            look["queries"].append({"variant": variant, "check": name, "query": promql, "value": value})
            values[name] = value
        return values

    def _stats(self, variant: str, v: dict[str, float | None], now: float, look: dict[str, Any]) -> WindowStats:
        newest = v.get("last_sample")
        if v.get("requests") is None or newest is None:
            look["hold"] = (f"no {variant} series in Prometheus for service {self.service} "
                            f"(query: requests): nothing to judge")
            raise RouterError(look["hold"])
        age = now - newest
        limit = STALE_SCRAPES * self.obs.scrape_interval_s
        if age > limit:
            look["hold"] = (f"Prometheus data for {variant} is stale: newest sample {age:.1f} s old > "
                            f"{STALE_SCRAPES} scrape intervals ({limit:g} s); is the gateway scraped?")
            raise RouterError(look["hold"])
        count = _count(v.get("requests"))
        # A check whose template is null is one the source cannot measure (HAProxy: latency, schema).
        unmeasured = [] if "cost_usd" in v and "priced_requests" in v else ["cost"]
        slow = None
        if "latency_count" in v and "latency_within" in v:
            total = _count(v.get("latency_count"))
            within = v.get("latency_within")
            if within is None:  # `or vector(0)` is in the defaults; a custom query may return nothing
                look["hold"] = f"no latency bucket le={self.le} for {variant}: is the threshold a bucket boundary?"
                raise RouterError(look["hold"])
            slow = min(max(0, total - _count(within)), count)
        else:
            unmeasured.append("latency")
        if "schema_checked" not in v or "schema_failures" not in v:
            unmeasured.append("schema")
        priced = _count(v.get("priced_requests"))
        cost = v.get("cost_usd")
        p95 = v.get("p95_seconds")
        return WindowStats(
            count=count, errors=min(_count(v.get("errors")), count), schema_failures=_count(v.get("schema_failures")),
            schema_checked=_count(v.get("schema_checked")), slow_requests=slow,
            p95_ms=round(p95 * 1000, 3) if p95 is not None and math.isfinite(p95) else None,
            cost_per_request=cost / priced if cost is not None and priced else None, unmeasured=unmeasured,
        )

    def query(self, promql: str, at: float) -> float | None:
        """One instant query at unix time ``at`` -> its number; None when it returns no series."""
        try:
            resp = self.client.get(self.url, params={"query": promql, "time": f"{at:.3f}"})
        except httpx.HTTPError as exc:
            detail = str(exc).replace(self.obs.prometheus_url or "", self.shown_url)
            raise RouterError(f"Prometheus at {self.shown_url} unreachable: {type(exc).__name__}: {detail}") from exc
        try:
            body = resp.json()
        except ValueError as exc:
            raise RouterError(f"Prometheus answered {resp.status_code} without JSON") from exc
        if resp.status_code != 200 or body.get("status") != "success":
            raise RouterError(f"Prometheus refused a query ({resp.status_code} {body.get('errorType', '')}: "
                              f"{body.get('error', '')}): {promql}")
        data = body.get("data", {})
        result = data.get("result")
        if data.get("resultType") == "scalar":
            return float(result[1])
        if not result:
            return None
        if len(result) > 1:
            raise RouterError(f"the query returned {len(result)} series, expected one number (wrap it in sum()): "
                              f"{promql}")
        return float(result[0]["value"][1])

    def close(self) -> None:
        self.client.close()


def metrics_for(cfg: ReleaseConfig, default: MetricsSource) -> MetricsSource:
    """The source the canary judge reads: the router's own stats, or Prometheus when configured."""
    if cfg.observability.canary_metrics != "prometheus":
        return default
    obs = cfg.observability
    hap = cfg.canary.haproxy if cfg.canary.router == "haproxy" else None
    if hap is not None:  # unless the user wrote their own: HAProxy's exporter, variants = server names
        update: dict[str, Any] = {}
        if "queries" not in obs.model_fields_set:
            update["queries"] = haproxy_queries(hap.backend)
        if "variants" not in obs.model_fields_set:
            update["variants"] = {STABLE: hap.stable_server, CANDIDATE: hap.candidate_server}
        obs = obs.model_copy(update=update)
    return PrometheusMetrics(obs, cfg.service, cfg.rollback.latency_p95_threshold_ms)


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))) \
        if parts.username or parts.password else url


def _count(value: float | None) -> int:
    # Counters are whole numbers; a template with increase() extrapolates to fractions.
    return 0 if value is None or not math.isfinite(value) else max(0, round(value))
