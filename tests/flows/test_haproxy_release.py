"""The release flow with `canary.router: haproxy`: the same drill, canary and exit codes as through
the gateway, against a real HAProxy in front of the simulators and a real Prometheus scraping its
exporter (the judge reads HAProxy's per-server responses through the Prometheus provider)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from flows.release import release
from tests.conftest import EXAMPLE
from tests.support.haproxy import running_haproxy
from tests.support.prometheus import running_prometheus
from tests.support.readiness import sign_example
from tests.support.sim import running_sim, set_sim_knobs

CONFIG = str(EXAMPLE / "release.yaml")
VARIANTS = EXAMPLE / "variants.yaml"


def test_degrading_candidate_is_drilled_then_rolled_back_through_haproxy(tmp_path: Path) -> None:
    with running_sim(VARIANTS, "stable", invalid_json_rate=0.0) as stable, \
            running_sim(VARIANTS, "good-candidate", invalid_json_rate=0.0) as cand, \
            running_haproxy({"stable": stable.removeprefix("http://").removesuffix("/v1"),
                             "candidate": cand.removeprefix("http://").removesuffix("/v1")},
                            tmp_path / "haproxy", weights={"stable": 100, "candidate": 0}) as hap, \
            running_prometheus({"global": {"scrape_interval": "1s"}, "scrape_configs": [
                {"job_name": "support-bot", "static_configs": [{"targets": [hap.metrics_target]}]}]},
                tmp_path / "prom") as prom:
        prom.wait_scraped("support-bot")
        sign_example(tmp_path / "store")
        overrides = {
            "stable.endpoint": stable, "candidate.endpoint": cand, "candidate.model": "support-bot-good",
            "canary.enabled": True, "canary.router": "haproxy", "canary.haproxy": {
                "admin_socket": str(hap.socket_path), "backend": hap.backend, "stable_server": "stable",
                "candidate_server": "candidate", "frontend_url": hap.url},
            "observability.prometheus_url": prom.url, "observability.canary_metrics": "prometheus",
            "observability.scrape_interval_s": 1,
            "canary.traffic": 50, "canary.steps": [], "canary.interval_s": 1, "canary.duration_s": 8,
            "canary.min_requests": 40, "canary.demo_traffic_rps": 50, "canary.drill_requests": 20,
            "load_test.enabled": False,
        }
        stop = threading.Event()

        def break_candidate_once_canary_starts() -> None:  # after the eval and the drill's 1%
            while not stop.is_set():
                if hap.weights()["candidate"] >= 50:
                    set_sim_knobs(cand, error_rate=0.3)
                    return
                time.sleep(0.05)

        breaker = threading.Thread(target=break_candidate_once_canary_starts, daemon=True)
        breaker.start()
        try:
            result = release(config=CONFIG, artifacts=str(tmp_path / "store"), overrides=overrides,
                             auto_approve=True)
        finally:
            stop.set()
            breaker.join(timeout=2)
        assert result["decision"] == "rolled_back" and result["exit_code"] == 4, result["reasons"]
        assert any(r.startswith("canary_error_rate [failed]: error rate") for r in result["reasons"])
        assert hap.weights() == {"stable": 100, "candidate": 0}
    d = tmp_path / "store" / "support-bot" / "releases" / result["release_id"]
    drill = json.loads((d / "drill/drill_record.json").read_text())
    assert drill["router"] == "haproxy" and drill["phase"] == "successful", drill["reason"]
    assert drill["probe"]["stats_served"] == {"stable": 20, "candidate": 0}  # HAProxy's show stat
    summary = json.loads((d / "canary/canary_summary.json").read_text())
    assert summary["router"] == "haproxy" and summary["result"] == "rolled_back"
    assert summary["shifts"][-1]["pct"] == 0
    looks = [json.loads(x) for x in (d / "canary/timeseries.jsonl").read_text().splitlines()]
    queries = [q["query"] for t in looks if t.get("source") for q in t["source"]["queries"]]
    assert queries and all("haproxy_server_http_responses_total" in q for q in queries)
    checks = {v["check"] for v in result["verdicts"]}
    # HAProxy's exporter measures neither latency counts nor schema: those checks are left out, not passed.
    assert "canary_error_rate" in checks and not checks & {"canary_latency_p95", "canary_schema_failures"}
