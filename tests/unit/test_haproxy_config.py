"""`canary.router: haproxy` in release.yaml: what the config accepts, refuses (exit 2), and the
PromQL template set it gives the judge. The router itself runs against a real HAProxy in
tests/integration/test_haproxy_router.py."""

from __future__ import annotations

from typing import Any

import pytest

from launchgate.canary.prometheus import metrics_for, render
from launchgate.config import load_config
from launchgate.errors import ConfigError
from launchgate.router.haproxy_api import parse_address
from tests.conftest import EXAMPLE

HAP = {"admin_socket": "/run/haproxy/admin.sock", "backend": "models", "stable_server": "s-stable",
       "candidate_server": "s-cand"}
PROM = {"observability.prometheus_url": "http://127.0.0.1:9090", "observability.canary_metrics": "prometheus"}


def _load(**over: Any) -> Any:
    base = {"canary.enabled": True, "canary.router": "haproxy", "canary.haproxy": HAP, **PROM}
    return load_config(EXAMPLE / "release.yaml", {**base, **over}, check_files=False)


def test_haproxy_router_reads_haproxys_exporter_with_server_names_as_variants() -> None:
    cfg = _load()
    metrics = metrics_for(cfg, default=None)  # type: ignore[arg-type]
    q = metrics.obs.queries  # type: ignore[attr-defined]
    assert metrics.obs.variants == {"stable": "s-stable", "candidate": "s-cand"}  # type: ignore[attr-defined]
    promql = render(q.errors, service="support-bot", variant="s-cand", window="5000ms", le="2.0")
    assert 'haproxy_server_http_responses_total{job="support-bot",proxy="models",server="s-cand",code="5xx"}' \
        in promql
    assert q.latency_count is None and q.schema_checked is None and q.cost_usd is None  # unmeasured, not passed


def test_users_own_queries_win_over_the_haproxy_defaults() -> None:
    cfg = _load(**{"observability.queries": {"requests": "sum(my_requests)", "last_sample": "time()"}})
    assert metrics_for(cfg, default=None).obs.queries.requests == "sum(my_requests)"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("over", "says"), [
    ({"canary.haproxy": None}, "needs a canary.haproxy section"),
    ({"canary.drill_traffic": 0.5}, "whole percents, got 0.5"),
    ({"observability.canary_metrics": "router"}, "set observability.canary_metrics: prometheus"),
    ({"canary.haproxy": {**HAP, "backend": "bad name"}}, "backend"),
])
def test_bad_haproxy_settings_are_config_errors_naming_the_field(over: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(**over)
    assert says in str(info.value)


def test_runtime_api_addresses() -> None:
    assert parse_address("/run/haproxy/admin.sock")[1] == "/run/haproxy/admin.sock"
    assert parse_address("unix:///tmp/a.sock")[1] == "/tmp/a.sock"
    assert parse_address("127.0.0.1:9999")[1] == ("127.0.0.1", 9999)
    assert parse_address("tcp://[::1]:9999")[1] == ("::1", 9999)
