"""Router, drill, canary loop and the rollback/status CLI against a real gateway and simulators."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from launchgate.canary.drill import run_drill
from launchgate.canary.judge import CanaryJudge, JudgeConfig
from launchgate.canary.rollout import CanaryPlan, begin_canary, run_canary
from launchgate.canary.traffic import TrafficGenerator, send_requests
from launchgate.cli import main as cli
from launchgate.errors import RouterError
from launchgate.gateway.client import GatewayAdmin
from launchgate.router.base import MetricsSource, TrafficRouter
from launchgate.router.gateway import GatewayRouter
from tests.conftest import EXAMPLE
from tests.support.gateway import running_gateway
from tests.support.sim import EXAMPLE_VARIANTS, running_sim, set_sim_knobs

PROMPTS = [[{"role": "system", "content": "Triage the ticket."},
            {"role": "user", "content": json.dumps({"subject": "refund", "body": "Where is my refund?"})}]]


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, str]]:
    with running_sim(EXAMPLE_VARIANTS, "stable") as stable, running_sim(EXAMPLE_VARIANTS, "good-candidate") as cand:
        yield {"stable": stable, "cand": cand}


@pytest.fixture
def gw(sims: dict[str, str], tmp_path: Path) -> Iterator[dict[str, Any]]:
    set_sim_knobs(sims["cand"], error_rate=None)
    with running_gateway(sims["stable"], None, str(tmp_path / "gw")) as (base, token):
        router = GatewayRouter(base, token)
        router.attach_candidate(sims["cand"], "support-bot-good", "v2", "support-bot-rel-1")
        yield {"base": base, "token": token, "router": router, **sims}


def test_gateway_router_satisfies_both_protocols_and_reads_back(gw: dict[str, Any]) -> None:
    router: GatewayRouter = gw["router"]
    assert isinstance(router, TrafficRouter) and isinstance(router, MetricsSource)
    since = time.time()
    router.set_candidate_weight(30, "test")
    assert router.weights() == {"stable": 70.0, "candidate": 30.0}
    tally = send_requests(f"{gw['base']}/v1", "m", PROMPTS, 60)
    stats = router.window(since)
    assert stats["stable"].count + stats["candidate"].count == tally.sent == 60
    assert stats["candidate"].count == tally.variants["candidate"] > 0
    assert stats["candidate"].p95_ms is not None and stats["candidate"].cost_per_request is not None
    assert stats["candidate"].schema_checked is not None


def test_lease_conflict_and_unreachable_gateway_are_router_errors(gw: dict[str, Any]) -> None:
    router: GatewayRouter = gw["router"]
    router.heartbeat("canary-a", 5)
    with pytest.raises(RouterError, match="409"):
        router.heartbeat("canary-b", 5)
    router.release("canary-a")
    down = GatewayRouter("http://127.0.0.1:9", "x" * 20)
    with pytest.raises(RouterError, match="gateway"):
        down.weights()
    with pytest.raises(RouterError):
        down.window(time.time())


def test_drill_proves_stable_serves_everything(gw: dict[str, Any]) -> None:
    router = gw["router"]
    record = run_drill(router, pct=1, holder="drill-1", ttl_s=5, metrics=router,
                       probe=lambda: send_requests(f"{gw['base']}/v1", "m", PROMPTS, 30))
    assert record.phase.value == "successful", record.reason
    assert record.weights_during["candidate"] == 1 and record.weights_after["candidate"] == 0
    assert record.probe is not None and record.probe.header_variants == {"stable": 30}
    assert record.probe.stats_served == {"stable": 30, "candidate": 0}
    assert "30/30 probe requests were served by stable" in record.reason
    assert GatewayAdmin(gw["base"], gw["token"]).state()["lease"] is None


def test_canary_with_error_jump_rolls_back_within_seconds(gw: dict[str, Any]) -> None:
    router = gw["router"]

    def inject() -> None:
        time.sleep(1.5)
        set_sim_knobs(gw["cand"], error_rate=0.3)

    with TrafficGenerator(f"{gw['base']}/v1", "m", PROMPTS, 60) as traffic:
        threading.Thread(target=inject, daemon=True).start()
        out = run_canary(router, router, CanaryJudge(JudgeConfig(min_requests=30)),
                         CanaryPlan(steps=[50], interval_s=0.5, duration_s=8, lease_ttl_s=3, holder="canary-1"))
    assert out.result == "rolled_back" and out.judgement.phase.value == "failed", out.reason
    assert out.rollback_at_s is not None and out.rollback_at_s < 6
    assert router.weights()["candidate"] == 0
    assert traffic.tally.statuses.get(500, 0) > 0


def test_gateway_returns_to_stable_when_the_orchestrator_stops_heartbeating(gw: dict[str, Any]) -> None:
    router = gw["router"]
    begin_canary(router, CanaryPlan(steps=[40], interval_s=0.5, duration_s=60, lease_ttl_s=1, holder="gone"))
    assert router.weights()["candidate"] == 40
    # No heartbeats: the lease (1 s) lapses and the watchdog (every 0.5 s) reverts, within 1.5 s plus slack.
    stopped = time.monotonic()
    while (state := router.state())["weights"]["candidate"] != 0:
        assert time.monotonic() - stopped < 3.0, f"still on the candidate after 3 s: {state}"
        time.sleep(0.05)
    assert state["lease"] is None
    assert any(e["kind"] == "lease_expired" for e in state["events"])


def test_cli_rollback_and_status(gw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = yaml.safe_load((EXAMPLE / "release.yaml").read_text())
    data["canary"] = {"enabled": True, "gateway_url": gw["base"], "gateway_token_env": "LG_TEST_ADMIN_TOKEN"}
    config = tmp_path / "release.yaml"  # its files are not needed: rollback/status skip file checks
    config.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("LG_TEST_ADMIN_TOKEN", gw["token"])
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    store = tmp_path / "store"
    args = ["--service", "support-bot", "--config", str(config), "--artifacts", str(store)]
    gw["router"].set_candidate_weight(25, "canary in progress")

    result = CliRunner().invoke(cli, ["rollback", *args, "--reason", "pager fired"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["weights_after"] == {"stable": 100.0, "candidate": 0.0}
    stored = json.loads((store / record["key"]).read_text())
    assert stored["reason"] == "pager fired" and stored["service"] == "support-bot"
    events = GatewayAdmin(gw["base"], gw["token"]).state()["events"]
    assert "pager fired (launchgate rollback by" in events[-1]["reason"]

    (store / "support-bot/state").mkdir(parents=True, exist_ok=True)
    (store / "support-bot/state/last_known_good.json").write_text(json.dumps({"release_id": "support-bot-x"}))
    status = CliRunner().invoke(cli, ["status", *args])
    assert status.exit_code == 0, status.output
    out = json.loads(status.stdout)
    assert out["weights"]["candidate"] == 0 and out["lease"] is None
    assert out["last_known_good"]["release_id"] == "support-bot-x"

    wrong = CliRunner().invoke(cli, ["rollback", "--service", "other-bot", "--config", str(config)])
    assert wrong.exit_code == 2 and "not 'other-bot'" in wrong.output
    monkeypatch.delenv("LG_TEST_ADMIN_TOKEN")
    no_token = CliRunner().invoke(cli, ["status", *args])
    assert no_token.exit_code == 2 and "LG_TEST_ADMIN_TOKEN" in no_token.output
