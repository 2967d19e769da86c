"""Pure parts of observability: templates, the provider's stale/absent logic, rules, dashboard, links, charts."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml

from launchgate.canary.judge import Action, CanaryJudge, JudgeConfig
from launchgate.canary.prometheus import PrometheusMetrics, metrics_for, prom_duration, render
from launchgate.config import load_config
from launchgate.config.observability import CanaryQueries, Observability, le_label
from launchgate.errors import ConfigError, InputError, RouterError
from launchgate.observability.dashboard import build_dashboard, panel_queries
from launchgate.observability.links import dashboard_link
from launchgate.observability.output import observability_files
from launchgate.report.svg import canary_timeline, latency_bars, score_intervals
from tests.conftest import EXAMPLE

NOW = 1_800_000_000.0


# One plain template per check, so the fake answers by check name (the default PromQL runs against a
# real Prometheus in tests/integration/test_prometheus_canary.py).
QUERIES = CanaryQueries(**{name: name + '{variant="{{variant}}",w="{{window}}",le="{{le}}"}'
                           for name in CanaryQueries.model_fields})


def _prom(answers: dict[str, Any], **obs: Any) -> PrometheusMetrics:
    """A provider whose HTTP answers come from ``answers``: check name -> value (None = no series)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        q = parse_qs(urlsplit(str(request.url)).query)["query"][0]
        seen.append(q)
        for needle, value in answers.items():
            if q.startswith(needle + "{"):
                if value is None:
                    return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector",
                                                                                   "result": []}})
                return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": [
                    {"metric": {}, "value": [NOW, str(value)]}]}})
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [NOW, "0"]}]}})

    cfg = Observability(prometheus_url="http://prom:9090", canary_metrics="prometheus", scrape_interval_s=1,
                        queries=QUERIES, **obs)
    m = PrometheusMetrics(cfg, "support-bot", 2000, clock=lambda: NOW,
                          client=httpx.Client(transport=httpx.MockTransport(handler)))
    m.seen = seen  # type: ignore[attr-defined]
    return m


def test_templates_resolve_and_unknown_placeholders_are_named() -> None:
    assert render("x{job='{{service}}',v='{{variant}}'}[{{window}}]", service="s", variant="c", window="5s") \
        == "x{job='s',v='c'}[5s]"
    with pytest.raises(RouterError, match=r"unknown placeholder \{\{varient\}\}"):
        render("x{v='{{varient}}'}", service="s", variant="c")
    assert prom_duration(12.3456) == "12346ms" and prom_duration(0.2) == "1000ms"
    assert [le_label(x) for x in (2.0, 0.25, 10.0, 0.025)] == ["2.0", "0.25", "10.0", "0.025"]


def test_counts_and_slow_requests_from_the_bucket_at_the_threshold() -> None:
    m = _prom({"last_sample": NOW - 0.5, "requests": 100, "errors": 3, "latency_count": 100, "latency_within": 90,
               "cost_usd": 0.05, "priced_requests": 97, "schema_checked": 97, "schema_failures": 1,
               "p95_seconds": 2.4})
    stats = m.window(NOW - 30)
    assert all('w="30000ms"' in q and 'le="2.0"' in q for q in m.seen)
    c = stats["candidate"]
    assert (c.count, c.errors, c.slow_requests, c.schema_checked, c.schema_failures) == (100, 3, 10, 97, 1)
    assert c.p95_ms == 2400.0 and c.cost_per_request == pytest.approx(0.05 / 97)
    look = m.last_look
    assert look is not None and look["window"] == "30000ms"
    assert {q["variant"] for q in look["queries"]} == {"stable", "candidate"}
    assert all("{{" not in q["query"] for q in look["queries"])


@pytest.mark.parametrize(("answers", "why"), [
    ({"last_sample": NOW - 5.0}, "stale: newest sample 5.0 s old > 2 scrape intervals (2 s)"),
    ({"last_sample": None}, "no stable series in Prometheus"),
    ({"requests": None}, "no stable series in Prometheus"),
    ({"last_sample": NOW, "latency_within": None}, "no latency bucket le=2.0 for stable"),
])
def test_stale_or_absent_data_holds_with_the_reason(answers: dict[str, Any], why: str) -> None:
    m = _prom(answers)
    with pytest.raises(RouterError) as err:
        m.window(NOW - 30)
    assert why in str(err.value)
    assert m.last_look is not None and why in m.last_look["hold"]
    j = CanaryJudge(JudgeConfig()).judge(None, at_s=30, error=str(err.value))
    assert j.action is Action.HOLD and why in j.reason  # never a pass, never a rollback on its own


def test_prometheus_errors_are_router_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": "parse error"})

    cfg = Observability(prometheus_url="http://prom:9090", canary_metrics="prometheus")
    m = PrometheusMetrics(cfg, "s", 2000, client=httpx.Client(transport=httpx.MockTransport(refuse)))
    with pytest.raises(RouterError, match="Prometheus refused a query.*parse error"):
        m.window(0)


def test_config_requires_a_bucket_boundary_and_a_url(tmp_path: Any) -> None:
    data = yaml.safe_load((EXAMPLE / "release.yaml").read_text())
    data["observability"] = {"canary_metrics": "prometheus"}
    path = tmp_path / "release.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="needs observability.prometheus_url"):
        load_config(path, check_files=False)
    data["observability"]["prometheus_url"] = "http://prom:9090"
    data.setdefault("rollback", {})["latency_p95_threshold_ms"] = 2500
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="2500 is not a bucket boundary.*use one of .*2000, 3000"):
        load_config(path, check_files=False)
    data["observability"]["latency_buckets_s"] = [1.0, 2.5, 5.0]
    path.write_text(yaml.safe_dump(data))
    assert load_config(path, check_files=False).observability.latency_buckets_s == [1.0, 2.5, 5.0]


def test_rules_and_dashboard_follow_the_config() -> None:
    cfg = load_config(EXAMPLE / "release.yaml", {"rollback.error_rate_threshold": 2.5, "budget.alert_usd": 30},
                      check_files=False)
    files = observability_files(cfg)
    rules = {r["alert"]: r for r in yaml.safe_load(files["prometheus/rules.yml"])["groups"][0]["rules"]}
    assert rules["LaunchgateErrorRateHigh"]["expr"].endswith("> 0.025")
    assert "> 30" in rules["LaunchgateBudgetAlert"]["expr"]
    assert all(r["annotations"]["runbook_url"] and r["labels"]["owner"] for r in rules.values())
    board = json.loads(files["grafana/support-bot.json"])
    queries = panel_queries(board)
    assert len(queries) >= 12 and all('job="support-bot"' in q for _, q in queries)
    titles = {t for t, _ in queries}
    for needed in ("p95 latency by component", "Schema validation failure rate", "Retry rate and timeout rate",
                   "Cost per request", "Spend, last 24 h", "Canary weight", "Error rate: stable vs candidate"):
        assert needed in titles
    assert build_dashboard(cfg)["annotations"]["list"][0]["expr"].startswith("changes(")


def test_dashboard_link_carries_uid_and_time_range() -> None:
    cfg = load_config(EXAMPLE / "release.yaml", {"observability.grafana_url": "https://grafana.example/"},
                      check_files=False)
    link = dashboard_link(cfg, 1000.0, 1300.0)
    assert link is not None and link["uid"] == "launchgate-support-bot"
    assert link["url"].startswith("https://grafana.example/d/launchgate-support-bot/")
    assert "from=940000" in link["url"] and "to=1360000" in link["url"]
    assert dashboard_link(load_config(EXAMPLE / "release.yaml", check_files=False), 0, 1) is None


def test_charts_are_svg_and_escape_text() -> None:
    ticks = [{"t_s": 5, "action": "continue", "weight": 10, "reason": "ok"},
             {"t_s": 10, "action": "hold", "weight": 10, "reason": "<b>no</b> metrics"},
             {"t_s": 15, "action": "rollback", "weight": 10, "reason": "errors"}]
    svg = canary_timeline(ticks, [{"t_s": 0, "pct": 10}, {"t_s": 15, "pct": 0}], 60, 15)
    assert svg.startswith("<svg") and "&lt;b&gt;no&lt;/b&gt;" in svg and "rollback" in svg
    chart = score_intervals({"a<b": {"stable": {"score": 0.8, "low": 0.7, "high": 0.9, "n": 3}}})
    assert "a<b" not in chart and chart.count("a&lt;b") == 3  # label, its title, the dot's title
    assert "p95 SLO 1200 ms" in latency_bars({"p50": 70.0, "p95": 150.0}, 1200)


def test_credentials_stay_out_of_messages_and_a_token_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str | None] = []

    def down(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("Authorization"))
        raise httpx.ConnectError("connection refused", request=request)

    monkeypatch.setenv("LG_TEST_PROM_TOKEN", "s3cret-token")
    cfg = Observability(prometheus_url="http://user:pa55@prom:9090", canary_metrics="prometheus",
                        prometheus_token_env="LG_TEST_PROM_TOKEN")
    m = PrometheusMetrics(cfg, "s", 2000)
    m.client = httpx.Client(transport=httpx.MockTransport(down), headers=m.client.headers)
    with pytest.raises(RouterError) as err:
        m.window(0)
    assert "Prometheus at http://prom:9090 unreachable" in str(err.value)
    assert "pa55" not in str(err.value) and "s3cret" not in str(err.value)
    cfg = cfg.model_copy(update={"prometheus_url": "http://prom:9090"})
    m = PrometheusMetrics(cfg, "s", 2000)
    m.client = httpx.Client(transport=httpx.MockTransport(down), headers=m.client.headers)
    with pytest.raises(RouterError):
        m.window(0)
    assert sent[-1] == "Bearer s3cret-token"
    monkeypatch.delenv("LG_TEST_PROM_TOKEN")
    with pytest.raises(InputError, match="LG_TEST_PROM_TOKEN, which is not set"):
        PrometheusMetrics(cfg, "s", 2000)


def test_the_canary_reads_prometheus_only_when_configured() -> None:
    router_metrics = object()
    plain = load_config(EXAMPLE / "release.yaml", check_files=False)
    assert metrics_for(plain, router_metrics) is router_metrics  # type: ignore[arg-type]
    prom = load_config(EXAMPLE / "release.yaml", {"observability.canary_metrics": "prometheus",
                                                  "observability.prometheus_url": "http://prom:9090"},
                       check_files=False)
    chosen = metrics_for(prom, router_metrics)  # type: ignore[arg-type]
    assert isinstance(chosen, PrometheusMetrics) and chosen.url == "http://prom:9090/api/v1/query"
    assert chosen.le == "2.0" and chosen.service == "support-bot"
