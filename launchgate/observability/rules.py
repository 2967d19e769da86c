"""``prometheus/rules.yml``: alert rules for one service, thresholds from release.yaml.

Rates are over 5 minutes by variant, so a bad candidate alerts on its own even at 10% of the
traffic. Every alert names its owner (owners.oncall, or owners.budget for spend) and a runbook
link in its annotations; ``severity`` is ``critical`` (page) or ``warning`` (ticket). Metric
names are the gateway's (launchgate/gateway/metrics.py, docs/gateway.md); with ``canary.router:
haproxy`` they are HAProxy's exporter's instead, and only what HAProxy measures is alerted on
(``HAPROXY_HEADER`` says what is left out and why, in the generated file).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from launchgate.config import ReleaseConfig

# Relative to the repository unless observability.runbook_url names where the runbook is served.
RUNBOOK = "docs/runbook.md"
ALERTS_SECTION = "#4-what-each-alert-means"


def _sel(job: str, extra: str = "") -> str:
    return f'job="{job}"' + (f",{extra}" if extra else "")


def metric(name: str, job: str, extra: str = "") -> str:
    """``name{job="<service>",<extra>}``: the scrape job is named after the service (scrape.py)."""
    return name + "{" + _sel(job, extra) + "}"


def _ratio(num: str, den: str) -> str:
    return f"sum by (variant) (rate({num}[5m]))\n  / sum by (variant) (rate({den}[5m]))"


def _oncall(cfg: ReleaseConfig) -> str:
    return cfg.owners.oncall or cfg.owners.operations or "unassigned"


def _alert_maker(cfg: ReleaseConfig) -> Callable[..., dict[str, Any]]:
    """``alert(name, expr, severity, summary, description, *, owner, for_, section)`` for this service."""
    s, obs = cfg.service, cfg.observability
    runbook = obs.runbook_url or RUNBOOK
    oncall = _oncall(cfg)

    def alert(name: str, expr: str, severity: str, summary: str, description: str, *, owner: str = oncall,
              for_: str | None = None, section: str = ALERTS_SECTION) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": name, "expr": expr}
        if for_ != "0s":
            rule["for"] = for_ or obs.alert_for
        rule["labels"] = {"severity": severity, "service": s, "owner": owner}
        rule["annotations"] = {"summary": summary, "description": description, "owner": owner,
                               "runbook_url": runbook + section}
        return rule

    return alert


def alert_rules(cfg: ReleaseConfig) -> list[dict[str, Any]]:
    s, rb, obs = cfg.service, cfg.rollback, cfg.observability
    oncall = _oncall(cfg)
    budget_owner = cfg.owners.budget or cfg.owners.operations or oncall
    req = metric("launchgate_gateway_requests_total", s, 'status!="499"')
    ok = metric("launchgate_gateway_requests_total", s, 'status="200"')
    failed = metric("launchgate_gateway_requests_total", s, 'status=~"5..|429"')
    timeouts = metric("launchgate_gateway_errors_total", s, 'code="upstream_timeout"')
    weight = metric("launchgate_gateway_weight_percent", s, 'variant="candidate"')
    cost = metric("launchgate_gateway_cost_usd_total", s)
    alert = _alert_maker(cfg)

    return [
        alert("LaunchgateErrorRateHigh",
              _ratio(failed, req)
              + f" > {rb.error_rate_threshold / 100:g}", "critical",
              f"{s} {{{{ $labels.variant }}}}: error rate {{{{ $value | humanizePercentage }}}}",
              f"More than {rb.error_rate_threshold:g}% of {s}'s {{{{ $labels.variant }}}} requests fail (5xx, 429) "
              f"over 5 minutes (rollback.error_rate_threshold). Candidate: roll back; stable: see the runbook.",
              section="#1-disable-model-traffic-quickly-roll-back-the-candidate"),
        alert("LaunchgateLatencyP95High",
              "histogram_quantile(0.95, sum by (variant, le) (rate(launchgate_gateway_request_latency_seconds_bucket"
              f"{{{_sel(s)}}}[5m])))\n  > {rb.latency_p95_threshold_ms / 1000:g}", "critical",
              f"{s} {{{{ $labels.variant }}}}: p95 latency {{{{ $value | humanizeDuration }}}}",
              f"p95 latency above {rb.latency_p95_threshold_ms:g} ms over 5 minutes "
              f"(rollback.latency_p95_threshold_ms)."),
        alert("LaunchgateSchemaFailuresHigh",
              _ratio(f"launchgate_gateway_schema_failures_total{{{_sel(s)}}}", ok)
              + f" > {rb.schema_failure_threshold / 100:g}", "critical",
              f"{s} {{{{ $labels.variant }}}}: {{{{ $value | humanizePercentage }}}} answers fail the output schema",
              f"More than {rb.schema_failure_threshold:g}% of answers fail the output schema over 5 minutes "
              f"(rollback.schema_failure_threshold)."),
        alert("LaunchgateRetryRateHigh",
              _ratio(f"launchgate_gateway_upstream_retries_total{{{_sel(s)}}}", req)
              + f" > {obs.retry_rate_alert_pct / 100:g}", "warning",
              f"{s} {{{{ $labels.variant }}}}: retry rate {{{{ $value | humanizePercentage }}}}",
              f"More than {obs.retry_rate_alert_pct:g}% of requests were retried upstream over 5 minutes "
              f"(observability.retry_rate_alert_pct): the upstream is flaky."),
        alert("LaunchgateTimeoutRateHigh",
              _ratio(timeouts, req)
              + f" > {obs.timeout_rate_alert_pct / 100:g}", "warning",
              f"{s} {{{{ $labels.variant }}}}: timeout rate {{{{ $value | humanizePercentage }}}}",
              f"More than {obs.timeout_rate_alert_pct:g}% of requests timed out upstream over 5 minutes "
              f"(observability.timeout_rate_alert_pct)."),
        alert("LaunchgateBudgetAlert", f"sum(increase({cost}[24h])) > {cfg.budget.alert_usd:g}", "warning",
              f"{s}: {{{{ $value | printf \"%.2f\" }}}} USD spent in 24 h (alert at {cfg.budget.alert_usd:g})",
              f"Spend over the last 24 hours passed budget.alert_usd ({cfg.budget.alert_usd:g} USD); the gateway "
              f"stops at budget.daily_usd ({cfg.budget.daily_usd:g} USD per UTC day).", owner=budget_owner,
              for_="0s"),
        alert("LaunchgateBudgetStop", f"sum(increase({cost}[24h])) >= {cfg.budget.daily_usd:g}", "critical",
              f"{s}: daily budget of {cfg.budget.daily_usd:g} USD spent",
              "Spend over the last 24 hours reached budget.daily_usd: the gateway answers 429 budget_exceeded "
              "until 00:00 UTC. Raise the budget or find the spike (launchgate cost review).", owner=budget_owner,
              for_="0s"),
        alert("LaunchgateBreakerOpen", f"max by (upstream) (launchgate_gateway_breaker_state{{{_sel(s)}}}) >= 2",
              "critical", f"{s}: circuit breaker open for {{{{ $labels.upstream }}}}",
              "The gateway stopped calling this upstream after repeated failures; answers come from the fallback.",
              for_="1m"),
        alert("LaunchgateCanaryRolledBack",
              f"{weight} == 0\n  and max_over_time({weight}[10m]) > 0\n  and max_over_time({weight}[10m]) < 100",
              "warning", f"{s}: canary rolled back",
              "The candidate's weight went back to 0 without reaching 100% (a rollback, or the lease lapsed): "
              "read the release's canary evidence (canary/canary_summary.md).", for_="0s"),
    ]


# What HAProxy's exporter cannot tell, written at the top of a haproxy rules.yml so whoever reads it
# knows these alerts were left out on purpose, not forgotten.
HAPROXY_HEADER = """\
# launchgate alert rules for {service}: canary.router is haproxy, so they read HAProxy's Prometheus
# exporter (backend {backend}: stable server {stable}, candidate server {candidate}), not the gateway.
# Left out, because HAProxy cannot measure them:
# - latency p95: HAProxy 2.6's exporter has only a moving average, no histogram;
# - schema failures, cost and the daily budget: HAProxy does not read answers or count tokens;
# - retries/timeouts upstream, circuit breaker, degradation: the gateway's guardrails, not HAProxy's;
# - a canary weight left without a lease: HAProxy has no lease; a crashed release run is rolled
#   back by the Prefect automation instead (docs/scaleout.md).
"""


def haproxy_alert_rules(cfg: ReleaseConfig) -> list[dict[str, Any]]:
    """Alerts on HAProxy's exporter for one backend, every server of it (stable, candidate, others)."""
    assert cfg.canary.haproxy is not None  # the config requires it with router haproxy
    s, rb, hp = cfg.service, cfg.rollback, cfg.canary.haproxy
    responses = metric("haproxy_server_http_responses_total", s, f'proxy="{hp.backend}"')
    errors = metric("haproxy_server_http_responses_total", s, f'proxy="{hp.backend}",code="5xx"')
    down = metric("haproxy_server_status", s, f'proxy="{hp.backend}",state="DOWN"')
    alert = _alert_maker(cfg)
    return [
        alert("LaunchgateHAProxyErrorRateHigh",
              f"sum by (server) (rate({errors}[5m]))\n  / sum by (server) (rate({responses}[5m]))"
              f" > {rb.error_rate_threshold / 100:g}", "critical",
              f"{s} server {{{{ $labels.server }}}}: 5xx rate {{{{ $value | humanizePercentage }}}}",
              f"More than {rb.error_rate_threshold:g}% of the HTTP responses of server {{{{ $labels.server }}}} "
              f"in HAProxy backend {hp.backend} are 5xx over 5 minutes (rollback.error_rate_threshold). "
              f"Candidate ({hp.candidate_server}): roll back (`launchgate rollback`); stable: see the runbook.",
              section="#1-disable-model-traffic-quickly-roll-back-the-candidate"),
        alert("LaunchgateHAProxyServerDown", f"max by (server) ({down}) == 1", "critical",
              f"{s}: HAProxy marks server {{{{ $labels.server }}}} DOWN",
              f"HAProxy's health checks take server {{{{ $labels.server }}}} of backend {hp.backend} out of "
              f"rotation; haproxy_server_check_status says which check failed. If it is the candidate "
              f"({hp.candidate_server}), roll back.", for_="1m"),
    ]


def rules_header(cfg: ReleaseConfig) -> str:
    """Comment lines at the top of rules.yml ('' for the gateway)."""
    hp = cfg.canary.haproxy
    if cfg.canary.router != "haproxy" or hp is None:
        return ""
    return HAPROXY_HEADER.format(service=cfg.service, backend=hp.backend, stable=hp.stable_server,
                                 candidate=hp.candidate_server)


def rules_file(cfg: ReleaseConfig) -> dict[str, Any]:
    rules = haproxy_alert_rules(cfg) if cfg.canary.router == "haproxy" else alert_rules(cfg)
    return {"groups": [{"name": f"launchgate-{cfg.service}", "rules": rules}]}
