"""Three gateway replicas behind a real HAProxy share their routing state through S3 (moto over HTTP,
behind a fault proxy): one admin call moves all three, the judge's stats are the sum of their
request logs, a degrading candidate is rolled back on all three, and losing the controller or the
store returns all three to stable within the lease ttl + 1 s.

Printed with -s: the measured convergence and revert times.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import yaml
from click.testing import CliRunner

from launchgate.canary.judge import Action, CanaryJudge, JudgeConfig
from launchgate.canary.rollout import CanaryPlan, run_canary
from launchgate.canary.traffic import TrafficGenerator, send_requests
from launchgate.cli import main
from launchgate.config import Canary, Rollback, load_config
from launchgate.config.replicas import Replicas
from launchgate.errors import RouterError
from launchgate.gateway.client import GatewayAdmin
from launchgate.gateway.replicas import replicas_status
from launchgate.metrics.percentiles import percentile
from launchgate.router.gateway import GatewayRouter
from launchgate.settings import Settings
from launchgate.store import layout, open_store
from tests.support.gateway import running_gateway
from tests.support.haproxy import running_haproxy
from tests.support.moto import moto_s3_server
from tests.support.sim import EXAMPLE_VARIANTS, running_sim
from tests.support.tcpproxy import tcp_proxy

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "support-bot"
TTL_S = 2.0
FAST = {"latency_ms": {"median": 3, "p95": 8}, "invalid_json_rate": 0.0, "error_rate": 0.0}
PROMPTS = [[{"role": "user", "content": json.dumps({"subject": f"Refund {i}", "body": "charged twice",
                                                   "customer_tier": "pro"})}] for i in range(20)]
# The lease holder (the release's canary in production) as its own process, so it can be SIGKILLed.
CONTROLLER = """
import sys, time
from launchgate.errors import RouterError
from launchgate.gateway.client import GatewayAdmin
from launchgate.gateway.replicas import replicas_status
admin, ttl = GatewayAdmin(sys.argv[1], sys.argv[2]), float(sys.argv[3])
admin.acquire_lease("controller", ttl)
admin.set_weights(10, "canary step 1/1: 10% to the candidate")
print("holding", flush=True)
while True:
    time.sleep(ttl / 4)
    try:
        admin.acquire_lease("controller", ttl)
    except Exception as exc:
        print("renewal failed:", exc, flush=True)
"""


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, step_s: float = 0.02) -> float:
    """Seconds until ``check()`` held; fails after ``timeout_s``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout_s, f"{what}: not within {timeout_s}s"
        time.sleep(step_s)
    return time.monotonic() - start


RECONCILE_S = 1.0  # every replica applies a change of the shared document within this
OBSERVE_S = 5.0  # how long the test itself may take to see it (three HTTP polls per look on a loaded box)


def reconciled(admins: list[GatewayAdmin], check: Callable[[], bool], what: str) -> float:
    """Once ``check`` holds: the largest lag, by the replicas' own clocks, from the writing of the document
    version each one applied to its applying it; fails above RECONCILE_S. The replicas' timestamps, not the
    test's: on a loaded 2-core machine the test's own polling of three replicas can take longer than the
    reconciliation it watches."""
    wait_until(check, OBSERVE_S, what)
    lags = [sh["applied_at"] - sh["change"]["at"] for sh in (a.state()["shared"] for a in admins)]
    assert max(lags) < RECONCILE_S, f"{what}: a replica applied its version {max(lags):.3f}s after it was written"
    return max(lags)


def candidate_pcts(admins: list[GatewayAdmin]) -> list[float]:
    return [float(a.state()["weights"]["candidate"]) for a in admins]


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    """A bucket on moto_server behind a fault proxy; yields (store uri, proxy)."""
    with moto_s3_server(serial=True) as endpoint, tcp_proxy(endpoint) as proxy:
        env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": proxy.endpoint,
               "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
               "AWS_EC2_METADATA_DISABLED": "true", "LAUNCHGATE_SPOOL_DIR": str(tmp_path / "spool"),
               "LAUNCHGATE_S3_CONNECT_TIMEOUT_S": "1", "LAUNCHGATE_S3_READ_TIMEOUT_S": "2",
               "LAUNCHGATE_S3_MAX_ATTEMPTS": "2"}
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_REGION"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        bucket = f"lg-replicas-{uuid.uuid4().hex[:8]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        yield f"s3://{bucket}/lg", proxy


def request_log(uri: str) -> list[dict[str, Any]]:
    """Every logged request, with the replica that logged it (the writer in the key: <hh>-<writer>.jsonl)."""
    store = open_store(uri, Settings(s3_spool=False))
    return [{**json.loads(line), "_writer": key.rsplit("/", 1)[-1][3:].removesuffix(".jsonl")}
            for key in store.list(f"{SERVICE}/logs/requests/") if key.endswith(".jsonl")
            for line in store.get(key).decode().splitlines() if line.strip()]


def test_three_replicas_behind_haproxy_agree_and_fail_safe(s3: tuple[str, Any], tmp_path: Path) -> None:
    uri, proxy = s3
    shared = {"poll_s": 0.25, "publish_s": 0.5, "stale_s": TTL_S}
    figures: dict[str, Any] = {}
    phase_t: list[float] = []
    with ExitStack() as stack:
        stable = stack.enter_context(running_sim(EXAMPLE_VARIANTS, "stable", **FAST))
        good = stack.enter_context(running_sim(EXAMPLE_VARIANTS, "good-candidate", **FAST))
        bad = stack.enter_context(running_sim(EXAMPLE_VARIANTS, "good-candidate", **{**FAST, "error_rate": 0.6}))
        gws = [stack.enter_context(running_gateway(stable, good, uri, log_writer=f"r{i}", log_flush_s=0.5,
                                                   replicas=Replicas(shared_state=True, name=f"r{i}", **shared)))
               for i in range(3)]
        admins = [GatewayAdmin(base, token) for base, token in gws]
        hap = stack.enter_context(running_haproxy([base.removeprefix("http://") for base, _ in gws],
                                                  tmp_path / "haproxy"))

        phase_t.append(time.monotonic())
        # 1. One admin call (on replica 0) moves all three; each routes 10% of what HAProxy gives it.
        since = time.time()
        admins[0].set_weights(10, "canary at 10% through one replica")
        figures["converged_s"] = round(reconciled(admins, lambda: candidate_pcts(admins) == [10.0] * 3,
                                                  "all replicas at 10%"), 3)
        n = 900
        tally = send_requests(f"{hap.url}/v1", SERVICE, PROMPTS, n, concurrency=16, timeout_s=10)
        assert tally.ok == n, tally.as_dict()
        wait_until(lambda: len(request_log(uri)) == n, 5.0, "every answer in the request log", step_s=0.2)
        lines = request_log(uri)
        served = hap.served()
        assert all(v >= n // 3 - 5 for v in served.values()), served  # round robin: about a third each
        shares = {}
        for i in range(3):
            mine = [x for x in lines if x["_writer"] == f"r{i}"]
            k = sum(1 for x in mine if x["variant"] == "candidate")
            sigma = math.sqrt(0.1 * 0.9 / len(mine))
            shares[f"r{i}"] = round(k / len(mine), 3)
            assert abs(k / len(mine) - 0.10) <= 4 * sigma, (i, k, len(mine))  # 10% +- sampling error
        figures["candidate_share_per_replica"] = shares

        phase_t.append(time.monotonic())
        # 2. The judge's window (GET /admin/stats on replica 1) is the sum of the three request logs.
        time.sleep(2 * shared["publish_s"])
        router = GatewayRouter(gws[1][0], gws[1][1])
        window = router.window(since)
        logged = {v: sum(1 for x in lines if x["variant"] == v) for v in ("stable", "candidate")}
        assert {v: window[v].count for v in logged} == logged, (window, logged)
        assert {r["replica"] for r in router.last_look["replicas"]} == {"r0", "r1", "r2"}  # type: ignore[index]
        for v in logged:  # merged p95 = the nearest-rank p95 of all logged latencies, to the histogram's 0.5%
            p95 = percentile([float(x["latency_ms"]) for x in lines if x["variant"] == v], 95)
            assert p95 is not None and window[v].p95_ms == pytest.approx(p95, rel=0.006), (v, window[v], p95)
        figures["judge_counts"] = logged

        # A replica that stopped publishing (its heartbeat froze 3 s ago, inside the window) is named,
        # and the judge holds the look rather than judging a sum without its requests.
        store = open_store(uri, Settings(s3_spool=False))
        frozen = {"replica": "r9", "seen_at": time.time() - 3, "publish_s": shared["publish_s"], "windows": {}}
        store.put(layout.replica(SERVICE, "r9"), json.dumps(frozen).encode(), "application/json")
        with pytest.raises(RouterError, match="r9") as missing:
            router.window(since)
        held = CanaryJudge(JudgeConfig.from_config(Canary(), Rollback())).judge(None, at_s=1, error=str(missing.value))
        assert held.action is Action.HOLD and "r9" in held.reason, held.reason
        assert [r["status"] for r in router.last_look["replicas"] if r["replica"] == "r9"] == ["missing"]  # type: ignore[index]
        status = replicas_status(store, SERVICE)
        assert status is not None and status["document"]["candidate_pct"] == 10.0
        assert {r["replica"]: r["state"] for r in status["replicas"]} == {"r0": "live", "r1": "live", "r2": "live",
                                                                         "r9": "not publishing"}
        assert all(r["version"] == status["document"]["version"] for r in status["replicas"] if r["replica"] != "r9")
        store.put(layout.replica(SERVICE, "r9"), json.dumps({**frozen, "seen_at": 0}).encode(), "application/json")

        phase_t.append(time.monotonic())
        # 3. A degrading candidate: the canary (driving replica 2, judging the sum) rolls back all three.
        admins[2].set_weights(0, "between phases")
        GatewayAdmin(*gws[2]).set_candidate(bad, "support-bot-bad", "v3", "rel-bad")
        canary = Canary(interval_s=0.5, duration_s=20, lease_ttl_s=TTL_S, min_requests=20)
        with TrafficGenerator(f"{hap.url}/v1", SERVICE, PROMPTS, rps=150):
            outcome = run_canary(GatewayRouter(*gws[2]), GatewayRouter(*gws[2]),
                                 CanaryJudge(JudgeConfig.from_config(canary, Rollback())),
                                 CanaryPlan(steps=[10.0], interval_s=0.5, duration_s=20, lease_ttl_s=TTL_S,
                                            holder="canary-test"))
            figures["rollback_all_s"] = round(reconciled(admins, lambda: candidate_pcts(admins) == [0.0] * 3,
                                                         "rollback on all replicas"), 3)
        assert outcome.result == "rolled_back" and not outcome.reverted_by_router, outcome.reason  # the judge did
        figures["rollback_reason"] = outcome.reason[:120]

        phase_t.append(time.monotonic())
        # 4. SIGKILL of the lease holder: all three back to stable within the ttl + 1 s.
        GatewayAdmin(*gws[0]).set_candidate(good, "support-bot-good", "v2", "rel-good")
        figures["controller_killed_revert_s"] = kill_controller_revert(gws[0], admins)

        phase_t.append(time.monotonic())
        # 5. The store goes away mid-canary: all three back to stable within the ttl + 1 s; back afterwards.
        controller = start_controller(gws[0])
        try:
            wait_until(lambda: candidate_pcts(admins) == [10.0] * 3, 2.0, "controller's 10% on all replicas")
            proxy.cut()
            cut = time.monotonic()
            wait_until(lambda: candidate_pcts(admins) == [0.0] * 3, TTL_S + 1.0, "stable without the store")
            figures["store_lost_revert_s"] = round(time.monotonic() - cut, 3)
            # The lease expired (no renewal could be written) and the state went unreadable: either rule.
            figures["store_lost_events"] = sorted({e["kind"] for a in admins for e in a.state()["events"][-2:]})
            proxy.restore()
            back = time.monotonic()
            wait_until(lambda: all(a.state()["shared"]["store_error"] is None
                                   and a.state()["shared"]["read_at"] > time.time() - 1 for a in admins),
                       5.0, "replicas reading the state again", step_s=0.1)
            figures["store_back_read_s"] = round(time.monotonic() - back, 3)
            admins[1].set_weights(10, "canary again after the store came back")
            figures["recovered_s"] = round(reconciled(admins, lambda: candidate_pcts(admins) == [10.0] * 3,
                                                      "10% again on all replicas"), 3)
        finally:
            controller.kill()
            controller.wait()

        # 6. Without a lease (weights set by hand), the unreadable state alone returns all three to stable.
        admins[2].release_lease("controller")
        reconciled(admins, lambda: all(a.state()["lease"] is None for a in admins), "lease released everywhere")
        assert candidate_pcts(admins) == [10.0] * 3
        proxy.cut()
        cut = time.monotonic()
        wait_until(lambda: candidate_pcts(admins) == [0.0] * 3, shared["stale_s"] + 1.0, "stable, no lease")
        figures["store_lost_no_lease_revert_s"] = round(time.monotonic() - cut, 3)
        assert [a.state()["events"][-1]["kind"] for a in admins] == ["state_unreachable"] * 3
        proxy.restore()
    phase_t.append(time.monotonic())
    figures["phase_s"] = [round(b - a, 1) for a, b in zip(phase_t, phase_t[1:], strict=False)]
    print("\n" + json.dumps(figures))


def start_controller(gw: tuple[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", CONTROLLER, gw[0], gw[1], str(TTL_S)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding", proc.stderr
    return proc


def kill_controller_revert(gw: tuple[str, str], admins: list[GatewayAdmin]) -> float:
    proc = start_controller(gw)
    try:
        reconciled(admins, lambda: candidate_pcts(admins) == [10.0] * 3, "controller's 10% on all replicas")
        first = admins[1].state()["lease"]["expires_at"]
        wait_until(lambda: admins[1].state()["lease"]["expires_at"] > first, TTL_S, "a renewal reaching replica 1")
        os.killpg(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        proc.wait()
        wait_until(lambda: candidate_pcts(admins) == [0.0] * 3, TTL_S + 1.0, "stable after the controller died")
        return round(time.monotonic() - killed, 3)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_runbook_commands_through_one_replica_reach_the_other(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`traffic degrade`, `launchgate rollback` and `launchgate status` against replica 0 (the only
    one the config names) change and show both replicas; the local store is enough here."""
    rails = load_config(ROOT / "examples" / "support-bot" / "release.yaml").guardrails
    store = tmp_path / "store"
    runner = CliRunner()
    with ExitStack() as stack:
        stable = stack.enter_context(running_sim(EXAMPLE_VARIANTS, "stable", **FAST))
        cand = stack.enter_context(running_sim(EXAMPLE_VARIANTS, "good-candidate", **FAST))
        gws = [stack.enter_context(running_gateway(stable, cand, str(store), guardrails=rails, log_writer=f"r{i}",
                                                   replicas=Replicas(shared_state=True, name=f"r{i}")))
               for i in range(2)]
        admins = [GatewayAdmin(base, token) for base, token in gws]
        data = yaml.safe_load((ROOT / "examples" / "support-bot" / "release.yaml").read_text())
        data["canary"].update(gateway_url=gws[0][0], gateway_token_env="LG_TEST_GATEWAY_TOKEN")
        data["artifacts"]["uri"] = str(store)
        data.setdefault("gateway", {})["replicas"] = {"shared_state": True}
        config = tmp_path / "release.yaml"
        config.write_text(yaml.safe_dump(data))
        monkeypatch.setenv("LG_TEST_GATEWAY_TOKEN", gws[0][1])

        degraded = runner.invoke(main, ["traffic", "degrade", "--config", str(config), "--level", "reduced",
                                        "--reason", "INC-7 model overloaded", "--as", "alice"])
        assert degraded.exit_code == 0, degraded.output
        reconciled(admins, lambda: admins[1].guard()["level"] == "reduced", "replica 1 degraded")
        answer = httpx.post(f"{gws[1][0]}/v1/chat/completions", json={"model": SERVICE, "messages": PROMPTS[0]},
                            timeout=10)
        assert answer.headers.get("X-LG-Degraded") == "reduced"

        admins[1].set_weights(30, "canary through replica 1")
        reconciled(admins, lambda: candidate_pcts(admins) == [30.0, 30.0], "both at 30%")
        rolled = runner.invoke(main, ["rollback", "--service", SERVICE, "--config", str(config),
                                      "--reason", "INC-7"])
        assert rolled.exit_code == 0, rolled.output
        reconciled(admins, lambda: candidate_pcts(admins) == [0.0, 0.0], "both rolled back")

        status = runner.invoke(main, ["status", "--service", SERVICE, "--config", str(config)])
        assert status.exit_code == 0, status.output
        table = json.loads(status.stdout)["replicas"]
        assert table["document"]["candidate_pct"] == 0 and table["document"]["degradation"]["level"] == "reduced"
        assert sorted(r["replica"] for r in table["replicas"]) == ["r0", "r1"]
        assert all(r["state"] == "live" and r["last_seen_s_ago"] < 3 for r in table["replicas"]), table
