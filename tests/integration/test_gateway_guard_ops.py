"""The guardrails' operations: the fallback drill, the runbook's traffic and handoff commands, the gameday.

Everything runs over real HTTP on loopback: the example's simulated models, the real gateway, the
drill's private gateway and fault injector, and the CLI talking to the gateway's admin API.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner

from launchgate.cli import main
from launchgate.config import load_config
from launchgate.guardrails.drill import run_fallback_drill
from tests.support.gateway import EXAMPLE, running_gateway
from tests.support.sim import EXAMPLE_VARIANTS, running_sim

FAST = {"latency_ms": {"median": 5, "p95": 10}}
TICKET = json.dumps({"subject": "Refund", "body": "I was charged twice", "customer_tier": "pro"})
SYSTEM = (EXAMPLE / "prompts" / "v1.txt").read_text()


def test_fallback_drill_handles_every_fault_and_fails_when_the_fallback_is_off() -> None:
    with running_sim(EXAMPLE_VARIANTS, "stable", **FAST) as stable, \
            running_sim(EXAMPLE_VARIANTS, "good-candidate", **FAST) as cand:
        cfg = load_config(EXAMPLE / "release.yaml", {"stable.endpoint": stable, "candidate.endpoint": cand})
        report = run_fallback_drill(cfg, TICKET)
        assert report.phase.value == "successful", report.reason
        assert {r.fault for r in report.results} == {"over_cap_input", "invalid_json", "timeout", "http_500",
                                                     "breaker_trip", "breaker_recovery", "budget_stop"}
        assert report.handled_as_documented == report.faults_injected == 7
        assert report.fallback_served == report.handoff_recorded == 5 and report.tracebacks == 0
        assert report.p95_fallback_ms is not None and report.p95_fallback_ms <= 50
        assert report.duration_s < 10
        # The same drill against a config that answers upstream failures with errors instead of the fallback.
        off = load_config(EXAMPLE / "release.yaml", {"stable.endpoint": stable, "candidate.endpoint": cand,
                                                     "guardrails.fallback.on": ["degraded"]})
        failed = run_fallback_drill(off, TICKET)
        assert failed.phase.value == "failed" and "http_500" in failed.reason


def _config(tmp_path: Path, gateway_url: str, store: Path) -> Path:
    data = yaml.safe_load((EXAMPLE / "release.yaml").read_text())
    data["canary"]["gateway_url"] = gateway_url
    data["canary"]["gateway_token_env"] = "LG_TEST_GATEWAY_TOKEN"
    data["artifacts"]["uri"] = str(store)
    path = tmp_path / "release.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_traffic_and_handoff_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rails = load_config(EXAMPLE / "release.yaml").guardrails
    store = tmp_path / "store"
    runner = CliRunner()
    with running_sim(EXAMPLE_VARIANTS, "stable", **FAST) as stable, \
            running_gateway(stable, None, str(store), guardrails=rails) as (url, token):
        config = _config(tmp_path, url, store)
        chat = {"model": "support-bot", "messages": [{"role": "system", "content": SYSTEM},
                                                     {"role": "user", "content": TICKET}]}
        missing = runner.invoke(main, ["traffic", "disable", "--config", str(config), "--reason", "x", "--as", "a"])
        assert missing.exit_code == 2 and "LG_TEST_GATEWAY_TOKEN" in missing.output
        monkeypatch.setenv("LG_TEST_GATEWAY_TOKEN", token)
        done = runner.invoke(main, ["traffic", "disable", "--config", str(config), "--reason", "INC-1 outage",
                                    "--as", "alice"])
        assert done.exit_code == 0, done.output
        answer = httpx.post(f"{url}/v1/chat/completions", json=chat, timeout=10)
        assert answer.headers["X-LG-Degraded"] == "fallback; reason=degraded"
        handoff_id = answer.headers["X-LG-Handoff"]
        assert runner.invoke(main, ["traffic", "degrade", "--config", str(config), "--level", "reduced",
                                    "--reason", "INC-1 recovering", "--as", "alice"]).exit_code == 0
        assert httpx.post(f"{url}/v1/chat/completions", json=chat, timeout=10).headers["X-LG-Degraded"] == "reduced"
        assert runner.invoke(main, ["traffic", "enable", "--config", str(config), "--reason", "INC-1 fixed",
                                    "--as", "alice"]).exit_code == 0
        assert "X-LG-Degraded" not in httpx.post(f"{url}/v1/chat/completions", json=chat, timeout=10).headers
    audit = json.loads((store / "support-bot" / "state" / "degradation.json").read_text())
    assert [(c["level"], c["by"]) for c in audit["changes"]] == [("fallback_only", "alice"), ("reduced", "alice"),
                                                                 ("normal", "alice")]
    listed = runner.invoke(main, ["handoff", "list", "--config", str(config), "--json"])
    assert listed.exit_code == 0 and json.loads(listed.stdout.splitlines()[0])["id"] == handoff_id
    took = runner.invoke(main, ["handoff", "ack", handoff_id, "--config", str(config), "--as", "bob"])
    assert took.exit_code == 0 and "taken by bob" in took.output
    again = runner.invoke(main, ["handoff", "ack", handoff_id, "--config", str(config), "--as", "carol"])
    assert again.exit_code == 2 and "already taken by bob" in again.output
    assert runner.invoke(main, ["handoff", "list", "--config", str(config), "--json"]).stdout.strip() == ""


def test_gameday_on_the_example_exits_0_and_records_both_times(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the example's artifacts.uri is relative: the record lands under tmp_path
    result = CliRunner().invoke(main, ["gameday", "--config", str(EXAMPLE / "release.yaml")])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["ok"] and 0 < line["time_to_detect_s"] < line["time_to_recover_s"] < 30
    record = json.loads(Path(line["record"]).read_text())
    assert [s["step"] for s in record["steps"]] == ["steady", "outage", "detect", "disable", "find_last_known_good",
                                                    "roll_back", "enable"]
    assert all(s["ok"] for s in record["steps"])
