"""`launchgate observability` output through Debian's promtool: rule syntax and alert unit tests.

The unit tests feed synthetic series (promtool's expanding notation) and state which alerts must
fire, with which labels and annotations, and which must stay silent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from launchgate.cli import main as cli
from tests.conftest import EXAMPLE

JOB = 'job="support-bot",instance="gw:8300",service="support-bot"'


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool not installed: run `make sysdeps` (apt-get install prometheus)"
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("observability")
    result = CliRunner().invoke(cli, ["observability", "--config", str(EXAMPLE / "release.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "grafana/support-bot.json", "prometheus/rules.yml", "prometheus/scrape.yml"]
    return out


def test_promtool_checks_rules_and_config(out: Path) -> None:
    rules = _promtool("check", "rules", "prometheus/rules.yml", cwd=out)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 9 rules found" in rules.stdout
    config = _promtool("check", "config", "prometheus/scrape.yml", cwd=out)
    assert config.returncode == 0, config.stdout + config.stderr
    names = [r["alert"] for g in yaml.safe_load((out / "prometheus/rules.yml").read_text())["groups"]
             for r in g["rules"]]
    assert names == ["LaunchgateErrorRateHigh", "LaunchgateLatencyP95High", "LaunchgateSchemaFailuresHigh",
                     "LaunchgateRetryRateHigh", "LaunchgateTimeoutRateHigh", "LaunchgateBudgetAlert",
                     "LaunchgateBudgetStop", "LaunchgateBreakerOpen", "LaunchgateCanaryRolledBack"]
    board = json.loads((out / "grafana/support-bot.json").read_text())
    assert board["uid"] == "launchgate-support-bot" and board["annotations"]["list"][0]["expr"]


def _series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{labels}}}", "values": values}


def _alert(rule: dict[str, Any], labels: dict[str, str], summary: str) -> dict[str, Any]:
    """The alert as promtool must see it: labels, and annotations with the rule's templates filled in."""
    exp = {"severity": rule["labels"]["severity"], "service": "support-bot", "owner": rule["labels"]["owner"], **labels}
    ann = dict(rule["annotations"], summary=summary)
    for name, value in labels.items():
        ann = {k: v.replace("{{ $labels." + name + " }}", value) for k, v in ann.items()}
    return {"exp_labels": exp, "exp_annotations": ann}


def test_promtool_rule_unit_tests(out: Path) -> None:
    req = "launchgate_gateway_requests_total"
    lat = "launchgate_gateway_request_latency_seconds_bucket"
    cand, stab = f'{JOB},variant="candidate"', f'{JOB},variant="stable"'
    rules = yaml.safe_load((out / "prometheus/rules.yml").read_text())["groups"][0]["rules"]
    by = {r["alert"]: r for r in rules}

    def fires(name: str, at: str, labels: dict[str, str], summary: str) -> dict[str, Any]:
        return {"eval_time": at, "alertname": name, "exp_alerts": [_alert(by[name], labels, summary)]}

    def silent(name: str, at: str) -> dict[str, Any]:
        return {"eval_time": at, "alertname": name, "exp_alerts": []}

    job = {"instance": "gw:8300", "job": "support-bot"}
    tests = {"rule_files": ["prometheus/rules.yml"], "evaluation_interval": "1m", "tests": [
        {   # candidate: 5 of 105 requests per minute fail (4.8% > 1.5%); stable: 0.5% (no alert)
            "interval": "1m",
            "input_series": [
                _series(req, f'{cand},status="200"', "0+100x20"), _series(req, f'{cand},status="500"', "0+5x20"),
                _series(req, f'{stab},status="200"', "0+995x20"), _series(req, f'{stab},status="503"', "0+5x20"),
                # latency: candidate all under 2 s, stable too; candidate's schema failures 3%
                _series(lat, f'{cand},le="2.0"', "0+105x20"), _series(lat, f'{cand},le="+Inf"', "0+105x20"),
                _series("launchgate_gateway_schema_failures_total", cand, "0+3x20"),
                # weight: 10% for 5 minutes, then 0 without reaching 100 = rolled back
                _series("launchgate_gateway_weight_percent", cand, "10x5 0x10"),
                _series("launchgate_gateway_breaker_state", f'{JOB},upstream="candidate"', "0x3 2x10"),
            ],
            "alert_rule_test": [
                silent("LaunchgateErrorRateHigh", "1m"),  # pending (for: 2m)
                fires("LaunchgateErrorRateHigh", "10m", {"variant": "candidate"},
                      "support-bot candidate: error rate 4.762%"),
                silent("LaunchgateLatencyP95High", "10m"),
                fires("LaunchgateSchemaFailuresHigh", "10m", {"variant": "candidate"},
                      "support-bot candidate: 3% answers fail the output schema"),
                silent("LaunchgateCanaryRolledBack", "4m"),
                fires("LaunchgateCanaryRolledBack", "7m", {**job, "variant": "candidate"},
                      "support-bot: canary rolled back"),
                fires("LaunchgateBreakerOpen", "8m", {"upstream": "candidate"},
                      "support-bot: circuit breaker open for candidate"),
            ],
        },
        {   # slow candidate: 20 of 100 requests per minute above 2 s -> p95 > 2 s; 5 retries and 3 timeouts per 100
            "interval": "1m",
            "input_series": [
                _series(req, f'{cand},status="200"', "0+100x20"),
                _series(lat, f'{cand},le="2.0"', "0+80x20"), _series(lat, f'{cand},le="5.0"', "0+100x20"),
                _series(lat, f'{cand},le="+Inf"', "0+100x20"),
                _series("launchgate_gateway_upstream_retries_total", cand, "0+5x20"),
                _series("launchgate_gateway_errors_total", f'{cand},code="upstream_timeout"', "0+3x20"),
            ],
            "alert_rule_test": [
                fires("LaunchgateLatencyP95High", "10m", {"variant": "candidate"},
                      "support-bot candidate: p95 latency 4.25s"),
                fires("LaunchgateRetryRateHigh", "10m", {"variant": "candidate"},
                      "support-bot candidate: retry rate 5%"),
                fires("LaunchgateTimeoutRateHigh", "10m", {"variant": "candidate"},
                      "support-bot candidate: timeout rate 3%"),
                silent("LaunchgateErrorRateHigh", "10m"),
            ],
        },
        {   # spend: 1 USD per minute -> past the 45 USD alert at ~46 min, past the 50 USD stop at ~51 min
            "interval": "1m",
            "input_series": [_series("launchgate_gateway_cost_usd_total", f'{JOB},variant="stable"', "0+1x80")],
            "alert_rule_test": [
                silent("LaunchgateBudgetAlert", "40m"),
                fires("LaunchgateBudgetAlert", "48m", {}, "support-bot: 48.00 USD spent in 24 h (alert at 45)"),
                silent("LaunchgateBudgetStop", "48m"),
                fires("LaunchgateBudgetStop", "60m", {}, "support-bot: daily budget of 50 USD spent"),
            ],
        },
    ]}
    (out / "rules.test.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = _promtool("test", "rules", "rules.test.yml", cwd=out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_bad_config_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLE / "release.yaml").read_text())
    data["observability"] = {"canary_metrics": "prometheus", "prometheus_url": "http://127.0.0.1:9090"}
    data.setdefault("rollback", {})["latency_p95_threshold_ms"] = 1800
    config = tmp_path / "release.yaml"
    config.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["observability", "--config", str(config), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "observability: rollback.latency_p95_threshold_ms 1800 is not a bucket boundary" in result.output
    assert "2000" in result.output and not (tmp_path / "o").exists()
