"""``grafana/<service>.json``: the service's dashboard, built with Grafana's grafana-foundation-sdk.

The readiness seed's minimums (p95 latency by component, schema validation failure rate, retry
and timeout rate, cost per request and daily spend) plus the canary view: stable against
candidate on every rate, the canary weight as a series, and release annotations wherever the
candidate's weight changed. Every panel is a ``PanelSpec`` first (title, unit, PromQL), so the
tests can run each panel's queries against a real Prometheus; ``requires`` names metrics that
only exist once the gateway's guardrails export them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DataSourceRef, Threshold, ThresholdsMode

from launchgate.config import ReleaseConfig
from launchgate.observability.rules import metric

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"


def dashboard_uid(cfg: ReleaseConfig) -> str:
    return cfg.observability.dashboard_uid or f"launchgate-{cfg.service}"[:40]


@dataclass(frozen=True)
class PanelSpec:
    title: str
    unit: str
    queries: list[tuple[str, str]]  # (PromQL, legend)
    description: str = ""
    kind: str = "timeseries"  # or "stat"
    thresholds: list[tuple[float, str]] = field(default_factory=list)
    requires: tuple[str, ...] = ()  # metric names that must exist for the queries to return series


def _zero_if_none(num: str, like: str) -> str:
    """``num`` by variant, or 0 for every variant that has traffic: a rate with no events is 0, not 'no data'."""
    return f"(sum by (variant) ({num}) or sum by (variant) ({like}) * 0)"


def panels(cfg: ReleaseConfig) -> list[tuple[str, list[PanelSpec]]]:
    """Rows of panels, in dashboard order."""
    s, rb, budget = cfg.service, cfg.rollback, cfg.budget
    req = metric("launchgate_gateway_requests_total", s, 'status!="499"')
    ok = metric("launchgate_gateway_requests_total", s, 'status="200"')
    failed = metric("launchgate_gateway_requests_total", s, 'status=~"5..|429"')
    lat = metric("launchgate_gateway_request_latency_seconds_bucket", s)
    ttft = metric("launchgate_gateway_ttft_seconds_bucket", s)
    cost = metric("launchgate_gateway_cost_usd_total", s)
    req_rate = f"sum by (variant) (rate({req}[{RATE}]))"
    like = f"rate({req}[{RATE}])"

    def ratio(num: str, den: str = req) -> str:
        return f"{_zero_if_none(f'rate({num}[{RATE}])', like)}\n  / sum by (variant) (rate({den}[{RATE}]))"

    canary = [
        PanelSpec("Requests per second", "reqps", [(req_rate, "{{variant}}")],
                  "Answered requests by variant (client disconnects excluded)."),
        PanelSpec("Error rate: stable vs candidate", "percentunit", [(ratio(failed), "{{variant}}")],
                  "5xx and 429 answers over all answers; the canary rolls back above the threshold.",
                  thresholds=[(rb.error_rate_threshold / 100, "red")]),
        PanelSpec("Canary weight", "percent",
                  [(f"max by (variant) ({metric('launchgate_gateway_weight_percent', s)})", "{{variant}}")],
                  "Share of traffic routed to each variant, as the gateway reports it."),
    ]
    latency = [
        PanelSpec("p95 latency by component", "s", [
            (f"histogram_quantile(0.95, sum by (variant, le) (rate({lat}[{RATE}])))", "end to end {{variant}}"),
            (f"histogram_quantile(0.95, sum by (variant, le) (rate({ttft}[{RATE}])))", "first token {{variant}}"),
        ], "Gateway end-to-end latency and time to first streamed byte, by variant.",
            thresholds=[(rb.latency_p95_threshold_ms / 1000, "red")]),
        PanelSpec("p50 / p99 latency", "s", [
            (f"histogram_quantile(0.5, sum by (variant, le) (rate({lat}[{RATE}])))", "p50 {{variant}}"),
            (f"histogram_quantile(0.99, sum by (variant, le) (rate({lat}[{RATE}])))", "p99 {{variant}}"),
        ]),
    ]
    quality = [
        PanelSpec("Schema validation failure rate", "percentunit",
                  [(ratio(metric("launchgate_gateway_schema_failures_total", s), ok), "{{variant}}")],
                  "Answers that fail the output schema, over successful answers.",
                  thresholds=[(rb.schema_failure_threshold / 100, "red")]),
        PanelSpec("Retry rate and timeout rate", "percentunit", [
            (ratio(metric("launchgate_gateway_upstream_retries_total", s)), "retries {{variant}}"),
            (ratio(metric("launchgate_gateway_errors_total", s, 'code="upstream_timeout"')), "timeouts {{variant}}"),
        ], "Upstream retries and upstream timeouts per request.",
            thresholds=[(cfg.observability.retry_rate_alert_pct / 100, "orange")]),
    ]
    spend = [
        PanelSpec("Cost per request", "currencyUSD",
                  [(f"{_zero_if_none(f'rate({cost}[{RATE}])', like)}\n  / sum by (variant) (rate({ok}[{RATE}]))",
                    "{{variant}}")], "USD per successful request (usage x pricing)."),
        PanelSpec("Spend, last 24 h", "currencyUSD", [(f"sum(increase({cost}[24h]))", "spend")],
                  f"Alert at {budget.alert_usd:g} USD, stop at {budget.daily_usd:g} USD per day.", kind="stat",
                  thresholds=[(budget.alert_usd, "orange"), (budget.daily_usd, "red")]),
    ]
    guards = [
        PanelSpec("Circuit breaker state", "short",
                  [(f"max by (upstream) ({metric('launchgate_gateway_breaker_state', s)})", "{{upstream}}")],
                  "0 closed, 1 half-open, 2 open.", requires=("launchgate_gateway_breaker_state",),
                  thresholds=[(1, "orange"), (2, "red")]),
        PanelSpec("Degradation level", "short",
                  [(f"max({metric('launchgate_gateway_degradation_level', s)})", "level")],
                  "0 normal, 1 reduced, 2 fallback only.", kind="stat",
                  requires=("launchgate_gateway_degradation_level",), thresholds=[(1, "orange"), (2, "red")]),
        PanelSpec("Guardrail events", "ops", [(
            f"sum by (control, outcome) (rate({metric('launchgate_gateway_guardrail_events_total', s)}[{RATE}]))",
            "{{control}} {{outcome}}")], requires=("launchgate_gateway_guardrail_events_total",)),
    ]
    return [("Canary: stable vs candidate", canary), ("Latency", latency), ("Quality and reliability", quality),
            ("Cost", spend), ("Guardrails", guards)]


def haproxy_panels(cfg: ReleaseConfig) -> list[tuple[str, list[PanelSpec]]]:
    """With ``canary.router: haproxy``: HAProxy's exporter, per server of the backend (stable, candidate).

    HAProxy measures neither latency percentiles, schema, cost nor the gateway's guardrails, so
    those rows are absent rather than empty; the average response time is HAProxy's moving average.
    """
    assert cfg.canary.haproxy is not None  # the config requires it with router haproxy
    s, hp = cfg.service, cfg.canary.haproxy
    px = f'proxy="{hp.backend}"'
    responses = metric("haproxy_server_http_responses_total", s, px)
    errors = metric("haproxy_server_http_responses_total", s, f'{px},code="5xx"')
    by = "sum by (server)"
    servers = f"stable {hp.stable_server}, candidate {hp.candidate_server}"
    up = metric("haproxy_server_status", s, px + ',state="UP"')
    traffic = [
        PanelSpec("Requests per second by server", "reqps",
                  [(f"{by} (rate({responses}[{RATE}]))", "{{server}}")],
                  f"HTTP responses per second of each server of backend {hp.backend} ({servers})."),
        PanelSpec("5xx error rate by server", "percentunit", [(
            f"({by} (rate({errors}[{RATE}])) or {by} (rate({responses}[{RATE}])) * 0)\n"
            f"  / {by} (rate({responses}[{RATE}]))", "{{server}}")],
            "5xx responses over all responses; the canary rolls back above the threshold.",
            thresholds=[(cfg.rollback.error_rate_threshold / 100, "red")]),
        PanelSpec("Server weights", "short",
                  [(f"max by (server) ({metric('haproxy_server_weight', s, px)})", "{{server}}")],
                  "Current weights; launchgate sets stable 100 - pct and candidate pct."),
        PanelSpec("Server status", "short",
                  [(f"min by (server) ({up})",
                    "{{server}}")],
                  "1 UP, 0 not (DOWN, MAINT, DRAIN): HAProxy's own view, from its health checks.",
                  kind="stat", thresholds=[(0, "red"), (1, "green")]),
    ]
    latency = [
        PanelSpec("Average response time by server", "s", [(
            f"max by (server) ({metric('haproxy_server_response_time_average_seconds', s, px)})", "{{server}}")],
            "HAProxy's moving average over the last 1024 responses: no percentiles (2.6 has no histogram)."),
    ]
    return [(f"Canary through HAProxy: backend {hp.backend}", traffic), ("Latency (HAProxy's average)", latency)]


def _panel(p: PanelSpec) -> Any:
    b: Any = (stat.Panel() if p.kind == "stat" else timeseries.Panel()).title(p.title).unit(p.unit)
    b = b.datasource(DATASOURCE).height(8).span(12)
    if p.description:
        b = b.description(p.description)
    for i, (expr, legend) in enumerate(p.queries):
        b = b.with_target(prometheus.Dataquery().expr(expr).legend_format(legend).ref_id("ABCDEFGH"[i]))
    if p.thresholds:
        steps = [Threshold(value=None, color="green"), *(Threshold(value=v, color=c) for v, c in p.thresholds)]
        b = b.thresholds(dash.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps))
    if p.kind == "timeseries":
        b = b.legend(common_b.VizLegendOptions().display_mode(common.LegendDisplayMode.LIST)
                     .placement(common.LegendPlacement.BOTTOM).show_legend(True))
    return b


def build_dashboard(cfg: ReleaseConfig) -> dict[str, Any]:
    s, hp = cfg.service, cfg.canary.haproxy
    haproxy = cfg.canary.router == "haproxy" and hp is not None
    weight = (metric("haproxy_server_weight", s, f'proxy="{hp.backend}",server="{hp.candidate_server}"')
              if haproxy and hp is not None else metric("launchgate_gateway_weight_percent", s, 'variant="candidate"'))
    b = (dash.Dashboard(f"{s}: release and canary").uid(dashboard_uid(cfg)).tags(["launchgate", s])
         .description(f"launchgate release dashboard for {s}, generated from release.yaml by "
                      f"`launchgate observability`.")
         .time("now-1h", "now").refresh("10s").timezone("utc")
         .with_variable(dash.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
         .annotation(dash.AnnotationQuery().name("Releases: candidate weight changes").datasource(DATASOURCE)
                     .enable(True).icon_color("purple").expr(f"changes({weight}[1m]) > 0")))
    for row, specs in haproxy_panels(cfg) if haproxy else panels(cfg):
        b = b.with_row(dash.Row(row))
        for p in specs:
            b = b.with_panel(_panel(p))
    return json.loads(json.dumps(b.build(), cls=JSONEncoder))


def panel_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel of a built dashboard."""
    out = []
    for p in board.get("panels", []):
        for t in p.get("targets") or []:
            if t.get("expr"):
                out.append((p["title"], t["expr"]))
    return out
