"""Kill the release process with SIGKILL mid-canary: the gateway's lease returns traffic to stable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from launchgate.gateway.client import GatewayAdmin
from tests.conftest import EXAMPLE
from tests.support.gateway import running_gateway
from tests.support.sim import running_sim

VARIANTS = EXAMPLE / "variants.yaml"
LEASE_TTL_S = 3.0


def test_sigkill_mid_canary_returns_traffic_within_the_lease(tmp_path: Path) -> None:
    with running_sim(VARIANTS, "stable") as stable, running_sim(VARIANTS, "good-candidate") as cand, \
            running_gateway(stable, None, str(tmp_path / "gw")) as (base, token):
        env = {**os.environ, "LG_TEST_TOKEN": token, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        cmd = [sys.executable, "-m", "launchgate.cli", "release", "--config", str(EXAMPLE / "release.yaml"),
               "--artifacts", str(tmp_path / "store"), "--auto-approve",
               "--set", f"stable.endpoint={stable}", "--set", f"candidate.endpoint={cand}",
               "--set", "load_test.enabled=false", "--set", "canary.enabled=true",
               "--set", f"canary.gateway_url={base}", "--set", "canary.gateway_token_env=LG_TEST_TOKEN",
               "--set", "canary.steps=[]", "--set", "canary.traffic=30", "--set", "canary.interval_s=1",
               "--set", "canary.duration_s=120", "--set", f"canary.lease_ttl_s={LEASE_TTL_S}",
               "--set", "canary.demo_traffic_rps=10"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        admin = GatewayAdmin(base, token)
        try:
            deadline = time.monotonic() + 240
            while True:  # wait until the canary holds the lease and traffic is shifted
                state = admin.state()
                if state["weights"]["candidate"] >= 30 and state["lease"]:
                    break
                assert proc.poll() is None, f"release exited early with {proc.returncode}"
                assert time.monotonic() < deadline, "the canary never started"
                time.sleep(0.2)
            time.sleep(1.5)  # at least one heartbeat renewed the lease
            os.killpg(proc.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            proc.wait(timeout=10)
            while admin.state()["weights"]["candidate"] > 0:
                assert time.monotonic() - killed_at < LEASE_TTL_S + 2, "traffic did not return within the lease"
                time.sleep(0.1)
            returned_after = time.monotonic() - killed_at
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        state = admin.state()
        assert state["weights"] == {"stable": 100.0, "candidate": 0.0}
        assert any(e["kind"] == "lease_expired" for e in state["events"]), state["events"]
        assert returned_after <= LEASE_TTL_S + 2
