"""The canary judge through the `prometheus` provider: a real Prometheus scraping the real gateway every 1 s.

On the same traffic, a shadow judge reads the gateway's own /admin/stats at every look, so the
two providers are compared on identical requests.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from launchgate.canary.judge import Action, CanaryJudge, JudgeConfig
from launchgate.canary.prometheus import PrometheusMetrics
from launchgate.canary.report import tick_row
from launchgate.canary.rollout import CanaryOutcome, CanaryPlan, run_canary
from launchgate.canary.traffic import TrafficGenerator
from launchgate.config import load_config
from launchgate.config.observability import Observability
from launchgate.gateway.metrics import LATENCY_BUCKETS
from launchgate.observability.dashboard import build_dashboard, panel_queries, panels
from launchgate.observability.output import RULES, SCRAPE, observability_files
from launchgate.router.base import WindowStats
from launchgate.router.gateway import GatewayRouter
from tests.conftest import EXAMPLE
from tests.support.gateway import running_gateway
from tests.support.prometheus import Prometheus, running_prometheus
from tests.support.sim import EXAMPLE_VARIANTS, running_sim, set_sim_knobs

SERVICE = "support-bot"
PROMPTS = [[{"role": "user", "content": json.dumps({"subject": "refund", "body": "Where is my refund?"})}]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One Prometheus for the module, run from `launchgate observability`'s own scrape.yml and rules.yml."""
    tmp = tmp_path_factory.mktemp("prom-canary")
    with running_sim(EXAMPLE_VARIANTS, "stable") as stable, running_sim(EXAMPLE_VARIANTS, "good-candidate") as cand, \
            running_gateway(stable, None, str(tmp / "gw")) as (base, token):
        cfg = load_config(EXAMPLE / "release.yaml", {"canary.gateway_url": base,
                                                     "observability.scrape_interval_s": 1}, check_files=False)
        files = observability_files(cfg)
        with running_prometheus(yaml.safe_load(files[SCRAPE]), tmp / "prom", files={"rules.yml": files[RULES]}
                                ) as prom:
            prom.wait_scraped(SERVICE)
            yield {"base": base, "token": token, "cand": cand, "prom": prom, "tmp": tmp, "cfg": cfg}


def _obs(prom: Prometheus) -> Observability:
    return Observability(prometheus_url=prom.url, canary_metrics="prometheus", scrape_interval_s=1.0)


class Shadowed:
    """Prometheus judged by the loop; the gateway's own stats, read at the same instant, by a shadow judge."""

    def __init__(self, prom: PrometheusMetrics, gateway: GatewayRouter, cfg: JudgeConfig, plan: CanaryPlan) -> None:
        self.prom, self.gateway, self.plan = prom, gateway, plan
        self.shadow = CanaryJudge(cfg)
        self.shadow_actions: list[tuple[float, Action]] = []
        self.last_gateway: dict[str, WindowStats] = {}

    @property
    def last_look(self) -> dict[str, Any] | None:
        return self.prom.last_look

    def window(self, since: float) -> dict[str, WindowStats]:
        at = time.time() - since
        self.last_gateway = self.gateway.window(since)
        j = self.shadow.judge(self.last_gateway, at_s=at, final=at >= self.plan.duration_s)
        if not any(a is Action.ROLLBACK for _, a in self.shadow_actions):
            self.shadow_actions.append((at, j.action))
        return self.prom.window(since)


def _canary(stack: dict[str, Any], release: str, fault_after_s: float | None, duration_s: float,
            ) -> tuple[CanaryOutcome, Shadowed, float | None]:
    set_sim_knobs(stack["cand"], error_rate=None)
    # Counts since the start come from scrapes after it: requests of a previous canary answered just
    # before the start but scraped just after would count in this window. A real pipeline runs minutes
    # apart; here, let two scrapes pass so the previous test's last requests are in the baseline.
    time.sleep(2.1)
    router = GatewayRouter(stack["base"], stack["token"])
    router.attach_candidate(stack["cand"], "support-bot-good", "v2", release)
    cfg = JudgeConfig(min_requests=30, looks=int(duration_s) + 1)
    plan = CanaryPlan(steps=[50], interval_s=1.0, duration_s=duration_s, lease_ttl_s=5, holder=release)
    metrics = Shadowed(PrometheusMetrics(_obs(stack["prom"]), SERVICE, cfg.p95_ms), router, cfg, plan)
    onset: list[float] = []

    def inject() -> None:
        assert fault_after_s is not None
        time.sleep(fault_after_s)
        set_sim_knobs(stack["cand"], error_rate=0.3)
        onset.append(time.time())

    with TrafficGenerator(f"{stack['base']}/v1", "m", PROMPTS, 60):
        if fault_after_s is not None:
            threading.Thread(target=inject, daemon=True).start()
        out = run_canary(router, metrics, CanaryJudge(cfg), plan)
    set_sim_knobs(stack["cand"], error_rate=None)
    latency = None
    if onset and out.result == "rolled_back":
        zero = out.shifts[-1]
        latency = zero.ts + zero.took_s - onset[0]
    return out, metrics, latency


def test_degrading_candidate_rolled_back_by_both_providers(stack: dict[str, Any]) -> None:
    out, m, latency = _canary(stack, "support-bot-prom-bad", fault_after_s=2.0, duration_s=15)
    assert out.result == "rolled_back" and out.judgement.phase.value == "failed", out.reason
    assert "error rate" in out.reason
    shadow_at, shadow_action = m.shadow_actions[-1]
    assert shadow_action is Action.ROLLBACK, m.shadow_actions
    assert latency is not None
    print(f"rollback latency: prometheus {latency:.2f} s after the fault (look at {out.rollback_at_s} s); "
          f"gateway provider decided at {shadow_at:.2f} s")
    # Scrape lag (<= 1 s) plus one look (1 s) plus the evidence the SPRT needs at 30% errors.
    assert latency < 5.0
    assert out.rollback_at_s is not None and abs(out.rollback_at_s - shadow_at) <= 2.5
    row = tick_row(out.ticks[-1])
    queries = row["source"]["queries"]
    assert {q["check"] for q in queries} >= {"requests", "errors", "latency_within", "last_sample"}
    assert all("{{" not in q["query"] for q in queries)
    assert any(q["check"] == "errors" and q["variant"] == "candidate" and q["value"] > 0 for q in queries)
    assert 'le="2.0"' in next(q["query"] for q in queries if q["check"] == "latency_within")


def test_healthy_candidate_promoted_by_both_providers(stack: dict[str, Any]) -> None:
    out, m, _ = _canary(stack, "support-bot-prom-good", fault_after_s=None, duration_s=5)
    assert out.result == "promoted", out.reason
    assert m.shadow_actions[-1][1] is Action.PROMOTE, m.shadow_actions
    cand = out.ticks[-1].stats["candidate"]  # type: ignore[index]
    gw = m.last_gateway["candidate"]  # read by the shadow judge just before Prometheus, at the same look
    # Prometheus sees what was scraped (up to a scrape behind), never more than the gateway served.
    assert 30 < cand.count <= gw.count and cand.count >= gw.count / 2, (cand.count, gw.count)
    assert cand.slow_requests == 0 and cand.cost_per_request is not None


def test_every_dashboard_panel_returns_series_after_real_traffic(stack: dict[str, Any],
                                                                 tmp_path: Path) -> None:
    """Runs after the canaries above (both variants served); streamed answers give TTFT series.

    A second gateway with the example's guardrails joins the scrape job (another instance, as a
    replica would), so the guardrail panels have series too: its answers to an over-cap max_tokens
    are guardrail events (clamped), and it exports breaker states and the degradation level.
    """
    prom: Prometheus = stack["prom"]
    cfg = stack["cfg"]
    assert cfg.guardrails is not None
    board = build_dashboard(cfg)
    with running_sim(EXAMPLE_VARIANTS, "stable") as stable, \
            running_gateway(stable, None, str(tmp_path / "gw"), guardrails=cfg.guardrails, max_output_tokens=400
                            ) as (guarded, _):
        scrape = yaml.safe_load(observability_files(cfg)[SCRAPE])
        scrape["scrape_configs"][0]["static_configs"][0]["targets"].append(guarded.removeprefix("http://"))
        prom.reload(scrape)
        for base in (stack["base"], guarded):
            for _ in range(5):
                with httpx.stream("POST", f"{base}/v1/chat/completions", timeout=10, json={
                        "model": "m", "messages": PROMPTS[0], "stream": True, "max_tokens": 1000}) as resp:
                    assert resp.status_code == 200
                    resp.read()
        prom.wait_two_scrapes_after(time.time(), {b.removeprefix("http://") for b in (stack["base"], guarded)})
        empty = [(title, expr) for title, expr in panel_queries(board)
                 if not prom.query(expr.replace("$__rate_interval", "1m"))]
    assert not empty, f"panels without series: {empty}"
    assert len({t for t, _ in panel_queries(board)}) == sum(len(row) for _, row in panels(cfg))
    assert {"stable", "candidate"} <= {r["metric"].get("variant") for r in prom.query(
        next(e for t, e in panel_queries(board) if t.startswith("Error rate")).replace("$__rate_interval", "1m"))}
    annotation = board["annotations"]["list"][0]["expr"]
    assert prom.query(f"max_over_time(({annotation})[5m:1s])"), "no release annotation for the canaries' shifts"
    rules = {r["name"]: r for r in prom.rules()}
    assert len(rules) == 9 and all(r["health"] == "ok" for r in rules.values()), rules
    assert rules["LaunchgateCanaryRolledBack"]["state"] in ("firing", "pending")  # the degrading canary above


def test_latency_threshold_bucket_is_a_gateway_bucket() -> None:
    # The config's default bucket list must be the gateway's own, or a valid config would judge nothing.
    assert tuple(Observability().latency_buckets_s) == LATENCY_BUCKETS


def test_killed_prometheus_holds_while_the_lease_protects_users(stack: dict[str, Any]) -> None:
    """Last in the module: kills the module's Prometheus mid-canary. HOLD with the reason, never a promotion;
    the weight and the lease are kept meanwhile, and users are served throughout."""
    router = GatewayRouter(stack["base"], stack["token"])
    router.attach_candidate(stack["cand"], "support-bot-good", "v2", "support-bot-prom-kill")
    prom: Prometheus = stack["prom"]
    cfg = JudgeConfig(min_requests=30, looks=9, max_metric_errors=3)
    plan = CanaryPlan(steps=[30], interval_s=1.0, duration_s=8, lease_ttl_s=3, holder="prom-kill")
    metrics = PrometheusMetrics(_obs(prom), SERVICE, cfg.p95_ms)
    weights_during_hold: list[float] = []
    leases_during_hold: list[str | None] = []

    def kill() -> None:
        time.sleep(2.5)
        prom.kill()

    def on_tick(tick: Any, _: float) -> None:
        if tick.action is Action.HOLD:
            state = router.state()
            weights_during_hold.append(state["weights"]["candidate"])
            leases_during_hold.append((state.get("lease") or {}).get("holder"))

    with TrafficGenerator(f"{stack['base']}/v1", "m", PROMPTS, 40) as traffic:
        threading.Thread(target=kill, daemon=True).start()
        out = run_canary(router, metrics, CanaryJudge(cfg), plan, on_tick=on_tick)
    holds = [t for t in out.ticks if t.action is Action.HOLD]
    assert holds, [t.reason for t in out.ticks]
    assert "Prometheus at" in holds[0].reason and "unreachable" in holds[0].reason
    assert "holding the current weight" in holds[0].reason
    assert weights_during_hold and all(w == 30 for w in weights_during_hold)  # held, not stepped or dropped
    assert leases_during_hold and all(h == "prom-kill" for h in leases_during_hold)  # the lease still renewed
    # Never promoted on missing data: after max_metric_errors looks without metrics it rolls back.
    assert out.result == "rolled_back" and out.judgement.phase.value == "error", out.reason
    assert router.weights()["candidate"] == 0
    assert traffic.tally.statuses.get(0, 0) == 0 and set(traffic.tally.statuses) == {200}  # users kept served
    assert tick_row(holds[0])["error"] is not None
