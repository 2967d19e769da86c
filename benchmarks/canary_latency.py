"""Rollback latency through a real release gateway: breach onset -> candidate weight 0.

Two simulated model servers (separate processes), the release gateway in front of them
(tests/support/gateway.py), golden-style traffic at ``RPS`` through the gateway, and the real canary
loop (launchgate.canary.rollout.run_canary) watching it at a 5 s interval with 10% on the candidate. After
``ONSET_S`` of healthy canary traffic, the candidate's error rate jumps. Latency = the gateway's own
timestamp of the weight change to 0 minus the moment the fault was switched on; median of ``RUNS``.

Two faults, because latency = evidence needed / canary traffic + waiting for the next look:
* 30% errors (``rollback_latency_s``): a breach the test confirms within one interval of traffic,
  so the figure is the system's latency (look interval + admin API), the number to hold to 15 s;
* 8% errors (``rollback_latency_8pct_s``, the demo's fault): after a healthy prefix the floored
  SPRT needs ~140 canary requests of evidence, so at 10-15 canary req/s it takes longer.

Usable alone (prints one JSON line) or from benchmarks/canary_judge.py.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launchgate.canary.judge import CanaryJudge, JudgeConfig  # noqa: E402
from launchgate.canary.rollout import CanaryPlan, run_canary  # noqa: E402
from launchgate.canary.traffic import TrafficGenerator  # noqa: E402
from launchgate.router.base import MetricsSource  # noqa: E402
from launchgate.router.gateway import GatewayRouter  # noqa: E402
from launchgate.sim.local import sim_processes  # noqa: E402

VARIANTS = ROOT / "examples" / "support-bot" / "variants.yaml"
RPS, CANARY_PCT, ONSET_S, RUNS, DURATION_S = 150.0, 10.0, 20.0, 3, 300.0
FAULTS = {"rollback_latency_s": 0.30, "rollback_latency_8pct_s": 0.08}
PROMPTS = [[{"role": "system", "content": "Triage the support ticket."},
            {"role": "user", "content": json.dumps({"subject": f"order {i}", "body": "Where is my parcel?"})}]
           for i in range(20)]


def _weight_zero_at(router: GatewayRouter, after: float) -> float | None:
    for event in router.state().get("events", []):
        if event.get("kind") == "weights" and "-> 0%" in event.get("reason", "") and event["ts"] >= after:
            return float(event["ts"])
    return None


def one_run(base: str, token: str, candidate_url: str, interval_s: float, fault: float, i: int,
            metrics: MetricsSource | None = None) -> dict[str, Any]:
    """``metrics``: what the judge reads (default: the gateway's own stats)."""
    from tests.support.sim import set_sim_knobs

    set_sim_knobs(candidate_url, error_rate=None)  # back to the variant's healthy default
    router = GatewayRouter(base, token)
    router.attach_candidate(candidate_url, "support-bot-good", "v2", f"bench-{i}")
    cfg = JudgeConfig(looks=int(DURATION_S / interval_s) + 1)
    plan = CanaryPlan(steps=[CANARY_PCT], interval_s=interval_s, duration_s=DURATION_S, lease_ttl_s=15,
                      holder=f"bench-{i}")
    onset: list[float] = []

    def break_candidate() -> None:
        time.sleep(ONSET_S)
        set_sim_knobs(candidate_url, error_rate=fault)
        onset.append(time.time())

    with TrafficGenerator(f"{base}/v1", "support-bot", PROMPTS, RPS, max_tokens=200):
        threading.Thread(target=break_candidate, daemon=True).start()
        out = run_canary(router, metrics or router, CanaryJudge(cfg), plan)
    if out.result != "rolled_back" or not onset:
        return {"latency_s": None, "result": out.result, "reason": out.reason}
    zero = _weight_zero_at(router, onset[0]) or (out.shifts[-1].ts + out.shifts[-1].took_s)
    return {"latency_s": round(zero - onset[0], 3), "reason": out.reason,
            "canary_requests": out.judgement.canary_requests}


def measure_rollback_latency(interval_s: float = 5.0, runs: int = RUNS) -> dict[str, Any]:
    from tests.support.gateway import running_gateway

    out: dict[str, Any] = {"rollback_setup": {"rps": RPS, "canary_pct": CANARY_PCT, "onset_s": ONSET_S,
                                              "interval_s": interval_s, "faults": FAULTS}}
    with sim_processes(VARIANTS, ["stable", "good-candidate"]) as urls, \
            running_gateway(urls["stable"], None, tempfile.mkdtemp(prefix="lg-bench-gw-")) as (base, token):
        for name, fault in FAULTS.items():
            results = [one_run(base, token, urls["good-candidate"], interval_s, fault, i) for i in range(runs)]
            latencies = [r["latency_s"] for r in results if r["latency_s"] is not None]
            out[name] = statistics.median(latencies) if len(latencies) == runs else None
            out[f"{name.removesuffix('_s')}_runs"] = results
    return out


def measure_rollback_latency_prometheus(interval_s: float = 5.0, scrape_s: float = 1.0, runs: int = RUNS
                                        ) -> dict[str, Any]:
    """The 30% fault again, judged through the `prometheus` provider: a real Prometheus scraping the gateway.

    The extra latency over the gateway provider is the scrape lag (up to one scrape interval)
    plus the instant queries of each look.
    """
    from launchgate.canary.prometheus import PrometheusMetrics
    from launchgate.config.observability import Observability
    from launchgate.observability.scrape import scrape_config
    from tests.support.gateway import running_gateway
    from tests.support.prometheus import running_prometheus

    tmp = Path(tempfile.mkdtemp(prefix="lg-bench-prom-"))
    with sim_processes(VARIANTS, ["stable", "good-candidate"]) as urls, \
            running_gateway(urls["stable"], None, str(tmp / "gw")) as (base, token), \
            running_prometheus(scrape_config("support-bot", base.removeprefix("http://"), scrape_s),
                               tmp / "prom") as prom:
        prom.wait_scraped("support-bot")
        obs = Observability(prometheus_url=prom.url, canary_metrics="prometheus", scrape_interval_s=scrape_s)
        metrics = PrometheusMetrics(obs, "support-bot", JudgeConfig().p95_ms)
        results = [one_run(base, token, urls["good-candidate"], interval_s, FAULTS["rollback_latency_s"], i,
                           metrics=metrics) for i in range(runs)]
    latencies = [r["latency_s"] for r in results if r["latency_s"] is not None]
    return {"rollback_latency_s_prometheus": statistics.median(latencies) if len(latencies) == runs else None,
            "rollback_latency_prometheus_runs": results,
            "prometheus_setup": {"interval_s": interval_s, "scrape_interval_s": scrape_s, "fault": 0.30}}


if __name__ == "__main__":
    print(json.dumps(measure_rollback_latency()))
