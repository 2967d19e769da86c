"""A resumed attempt against a real gateway's lease: it waits for a dead attempt's lease to lapse,
and refuses to shift anything while an earlier attempt still renews it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from launchgate.errors import ReleaseStateError
from launchgate.release.resume import wait_for_lapsed_lease
from launchgate.router.gateway import GatewayRouter
from tests.conftest import EXAMPLE
from tests.support.gateway import running_gateway
from tests.support.sim import running_sim

VARIANTS = EXAMPLE / "variants.yaml"


def test_resume_waits_out_a_dead_attempts_lease_then_an_alive_one_stops_it(tmp_path: Path) -> None:
    with running_sim(VARIANTS, "stable") as stable, running_sim(VARIANTS, "good-candidate") as cand, \
            running_gateway(stable, cand, str(tmp_path / "gw"), initial_candidate_pct=20) as (base, token):
        router = GatewayRouter(base, token)
        router.heartbeat("canary-r1", 1.0)  # attempt 1 took the lease, then died
        said = wait_for_lapsed_lease(lambda: router.state().get("lease"), "r1", "canary-r1-attempt-2")
        assert said is not None and said.startswith("waited ")
        assert router.weights()["candidate"] == 0.0  # the lapse itself reverted the traffic
        router.heartbeat("canary-r1-attempt-2", 1.0)  # and the new attempt can take the lease
        router.release("canary-r1-attempt-2")

        stop = threading.Event()

        def alive() -> None:  # attempt 1 is still running and renews its lease
            while not stop.is_set():
                router.heartbeat("canary-r1", 1.0)
                stop.wait(0.3)

        renewer = threading.Thread(target=alive, daemon=True)
        renewer.start()
        try:
            # The resume must meet a held lease: wait until the renewer's first heartbeat landed, else the
            # resume could read the released lease first and rightly find nothing to wait for.
            deadline = time.monotonic() + 5
            while (router.state().get("lease") or {}).get("holder") != "canary-r1":
                assert time.monotonic() < deadline, "the renewer never took the lease"
                time.sleep(0.02)
            with pytest.raises(ReleaseStateError, match="still renews the gateway's lease"):
                wait_for_lapsed_lease(lambda: router.state().get("lease"), "r1", "canary-r1-attempt-2")
        finally:
            stop.set()
            renewer.join(timeout=5)
