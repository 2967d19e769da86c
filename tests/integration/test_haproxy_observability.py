"""`launchgate observability` with `canary.router: haproxy`: rules and panels on HAProxy's exporter.

promtool checks the generated rules and unit-tests the 5xx alert on both sides of the threshold;
then a real HAProxy (Debian's 2.6) in front of the simulated stable and candidate, scraped by a
real Prometheus from the generated scrape.yml, must give every generated panel query series.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from click.testing import CliRunner

from launchgate.cli import main as cli
from launchgate.config import ReleaseConfig, load_config
from launchgate.observability.dashboard import build_dashboard, panel_queries
from launchgate.observability.output import RULES, SCRAPE, observability_files
from tests.conftest import EXAMPLE
from tests.support.haproxy import running_haproxy
from tests.support.prometheus import running_prometheus
from tests.support.sim import EXAMPLE_VARIANTS, running_sim

BACKEND = "models"  # tests/support/haproxy.py's default backend name


def _cfg(metrics_target: str = "127.0.0.1:8405", prom_url: str = "http://127.0.0.1:9090") -> ReleaseConfig:
    return load_config(EXAMPLE / "release.yaml", {
        "canary.enabled": True, "canary.router": "haproxy", "canary.traffic": 10, "canary.steps": [],
        "canary.haproxy": {"admin_socket": "/run/haproxy/admin.sock", "backend": BACKEND,
                           "stable_server": "stable", "candidate_server": "candidate"},
        "observability.canary_metrics": "prometheus", "observability.prometheus_url": prom_url,
        "observability.gateway_target": metrics_target, "observability.scrape_interval_s": 1,
    }, check_files=False)


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool not installed: run `make sysdeps` (apt-get install prometheus)"
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_haproxy_rules_pass_promtool_and_the_error_alert_fires_only_above_the_threshold(tmp_path: Path) -> None:
    cfg = _cfg()
    files = observability_files(cfg)
    (tmp_path / "rules.yml").write_text(files[RULES])
    assert files[RULES].startswith("# launchgate alert rules for support-bot: canary.router is haproxy")
    assert "launchgate_gateway_" not in files[RULES]
    check = _promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert check.returncode == 0 and "SUCCESS: 2 rules found" in check.stdout, check.stdout + check.stderr
    rules = {r["alert"]: r for r in yaml.safe_load(files[RULES])["groups"][0]["rules"]}
    threshold = cfg.rollback.error_rate_threshold  # percent (1.5 in the example)
    job = 'job="support-bot",instance="hap:8405"'

    def responses(server: str, code: str, per_min: int) -> dict[str, str]:
        return {"series": f'haproxy_server_http_responses_total{{{job},proxy="{BACKEND}",server="{server}",'
                          f'code="{code}"}}', "values": f"0+{per_min}x20"}

    def expected(name: str, server: str, summary: str) -> dict[str, Any]:
        rule = rules[name]
        ann = {k: v.replace("{{ $labels.server }}", server) for k, v in rule["annotations"].items()}
        return {"exp_labels": {**rule["labels"], "server": server}, "exp_annotations": {**ann, "summary": summary}}

    # candidate: 5 of 100 responses a minute are 5xx (5% > 1.5%); stable: 1 of 1000 (0.1%, silent)
    assert 1000 / 100 * threshold == 15, "the series below assume the example's 1.5% threshold"
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [
            responses("candidate", "2xx", 95), responses("candidate", "5xx", 5),
            responses("stable", "2xx", 999), responses("stable", "5xx", 1),
            {"series": f'haproxy_server_status{{{job},proxy="{BACKEND}",server="candidate",state="DOWN"}}',
             "values": "0x3 1x10"},
            {"series": f'haproxy_server_status{{{job},proxy="{BACKEND}",server="stable",state="DOWN"}}',
             "values": "0x13"},
        ],
        "alert_rule_test": [
            {"eval_time": "10m", "alertname": "LaunchgateHAProxyErrorRateHigh", "exp_alerts": [
                expected("LaunchgateHAProxyErrorRateHigh", "candidate", "support-bot server candidate: 5xx rate 5%")]},
            {"eval_time": "3m", "alertname": "LaunchgateHAProxyServerDown", "exp_alerts": []},
            {"eval_time": "8m", "alertname": "LaunchgateHAProxyServerDown", "exp_alerts": [
                expected("LaunchgateHAProxyServerDown", "candidate",
                         "support-bot: HAProxy marks server candidate DOWN")]},
        ],
    }, {  # just below the threshold: 14 of 1000 a minute (1.4%) stays silent
        "interval": "1m",
        "input_series": [
            {"series": f'haproxy_server_http_responses_total{{{job},proxy="{BACKEND}",server="candidate",code="2xx"}}',
             "values": "0+986x20"},
            {"series": f'haproxy_server_http_responses_total{{{job},proxy="{BACKEND}",server="candidate",code="5xx"}}',
             "values": "0+14x20"},
        ],
        "alert_rule_test": [{"eval_time": "10m", "alertname": "LaunchgateHAProxyErrorRateHigh", "exp_alerts": []}],
    }]}
    (tmp_path / "rules.test.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = _promtool("test", "rules", "rules.test.yml", cwd=tmp_path)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_every_haproxy_panel_returns_series_after_real_traffic(tmp_path: Path) -> None:
    prompt = [{"role": "user", "content": json.dumps({"subject": "refund", "body": "Where is my refund?"})}]
    with running_sim(EXAMPLE_VARIANTS, "stable") as stable, \
            running_sim(EXAMPLE_VARIANTS, "good-candidate", error_rate=0.5) as cand, \
            running_haproxy({"stable": stable.removeprefix("http://").removesuffix("/v1"),
                             "candidate": cand.removeprefix("http://").removesuffix("/v1")},
                            tmp_path / "hap", weights={"stable": 50, "candidate": 50}, health_check="/health") as hap:
        cfg = _cfg(hap.metrics_target)
        files = observability_files(cfg)
        with running_prometheus(yaml.safe_load(files[SCRAPE]), tmp_path / "prom", files={"rules.yml": files[RULES]}
                                ) as prom:
            prom.wait_scraped("support-bot")  # a scrape before the traffic: rate() then has two samples
            start = time.time()
            with httpx.Client(timeout=10) as client:
                for _ in range(40):
                    client.post(f"{hap.url}/v1/chat/completions", json={"model": "m", "messages": prompt})
            prom.wait_two_scrapes_after(start, {hap.metrics_target})
            board = build_dashboard(cfg)
            queries = panel_queries(board)
            results = {(title, expr): prom.query(expr.replace("$__rate_interval", "1m")) for title, expr in queries}
            annotation = board["annotations"]["list"][0]["expr"]
            hap.set_weight("candidate", 0)
            changed = time.time()
            prom.wait_two_scrapes_after(changed, {hap.metrics_target})
            rolled_back = prom.query(annotation)
            rules = prom.rules()
    assert "launchgate_gateway_" not in json.dumps(board)
    empty = [title for (title, _), series in results.items() if not series]
    assert not empty, f"panels without series: {empty}"
    assert {"Requests per second by server", "5xx error rate by server", "Server weights", "Server status"} <= {
        t for t, _ in queries}
    by_title = {t: series for (t, _), series in results.items()}
    assert {r["metric"]["server"] for r in by_title["5xx error rate by server"]} == {"stable", "candidate"}
    errors = {r["metric"]["server"]: float(r["value"][1]) for r in by_title["5xx error rate by server"]}
    assert errors["stable"] == 0 and errors["candidate"] > 0.1, errors
    assert {r["metric"]["server"]: r["value"][1] for r in by_title["Server weights"]} == {
        "stable": "50", "candidate": "50"}
    assert rolled_back, "no annotation for the candidate's weight change"
    assert len(rules) == 2 and all(r["health"] == "ok" for r in rules), rules


def test_haproxy_without_the_exporters_target_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLE / "release.yaml").read_text())
    data["canary"].update({"enabled": True, "router": "haproxy", "traffic": 10, "steps": [], "haproxy": {
        "admin_socket": "/run/haproxy/admin.sock", "backend": BACKEND, "stable_server": "stable",
        "candidate_server": "candidate"}})
    data["observability"] = {"canary_metrics": "prometheus", "prometheus_url": "http://127.0.0.1:9090"}
    config = tmp_path / "release.yaml"
    config.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["observability", "--config", str(config), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "observability.gateway_target" in result.output and not (tmp_path / "o").exists()
