"""canary.strategy shadow_then_canary in the release flow, against a real gateway and simulators.

The candidate is the stable simulator itself (it passes the eval gate in non-inferiority mode); once the shadow step has
turned shadow mode on, it starts answering another category on 30% of requests. The shadow judge
must block the release before any traffic is shifted: no rollback drill (its 1% waits for the shadow's
pass too), no canary, candidate weight 0 throughout.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from flows.release import planned_steps, release
from launchgate.shadow.client import ShadowAdmin
from tests.conftest import EXAMPLE
from tests.support.gateway import running_gateway
from tests.support.readiness import sign_example
from tests.support.sim import running_sim, set_sim_knobs

CONFIG = str(EXAMPLE / "release.yaml")
VARIANTS = EXAMPLE / "variants.yaml"
TOKEN_ENV = "LAUNCHGATE_TEST_GATEWAY_TOKEN"


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with ExitStack() as stack:
        stable = stack.enter_context(running_sim(VARIANTS, "stable", invalid_json_rate=0.0))
        cand = stack.enter_context(running_sim(VARIANTS, "stable", invalid_json_rate=0.0))
        base, token = stack.enter_context(running_gateway(stable, None, str(tmp_path / "gw-store")))
        monkeypatch.setenv(TOKEN_ENV, token)
        overrides = {
            "stable.endpoint": stable, "candidate.endpoint": cand, "candidate.model": "support-bot-stable",
            "canary.enabled": True, "canary.strategy": "shadow_then_canary", "canary.gateway_url": base,
            "canary.gateway_token_env": TOKEN_ENV, "canary.traffic": 50, "canary.steps": [],
            "canary.interval_s": 0.5, "canary.duration_s": 4, "canary.min_requests": 40, "canary.lease_ttl_s": 3,
            "canary.demo_traffic_rps": 60, "canary.drill_requests": 20,
            "shadow.sample": 1.0, "shadow.interval_s": 0.5, "shadow.duration_s": 20,
            "load_test.enabled": False,
            # a like-for-like migration: the eval gate asks "not worse", the shadow then checks live answers
            "evaluation.mode": "non_inferiority",
        }
        sign_example(tmp_path / "store")
        yield {"cand": cand, "base": base, "token": token, "overrides": overrides, "store": tmp_path / "store"}


def test_shadow_then_canary_blocks_before_any_traffic_shifts(setup: dict[str, Any]) -> None:
    admin = ShadowAdmin(setup["base"], setup["token"])
    weights: list[float] = []
    stop = threading.Event()

    def watch() -> None:  # the candidate turns bad once the shadow is on; the weight must stay 0 throughout
        flipped = False
        while not stop.is_set():
            weights.append(admin.state()["weights"]["candidate"])
            if not flipped and admin.shadow()["enabled"]:
                set_sim_knobs(setup["cand"], category_flip_rate=0.3)
                flipped = True
            time.sleep(0.05)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        result = release(config=CONFIG, artifacts=str(setup["store"]), overrides=setup["overrides"],
                         auto_approve=True)
    finally:
        stop.set()
        t.join(timeout=5)
    assert result["decision"] == "blocked", result["reasons"]
    checks = {v["check"]: v["phase"] for v in result["verdicts"]}
    assert checks["shadow_quality"] == "failed" and not any(c.startswith("canary_") for c in checks)
    assert "rollback_tested" not in checks
    assert weights and max(weights) == 0
    d = setup["store"] / "support-bot" / "releases" / result["release_id"]
    for name in ("shadow/pairs.jsonl", "shadow/shadow_summary.json", "shadow/shadow_summary.md", "shadow/shadow.png"):
        assert (d / name).is_file(), name
    summary = json.loads((d / "shadow/shadow_summary.json").read_text())
    assert summary["decision"] == "worse" and summary["disagreements"].get("category", 0) > 0
    gonogo = json.loads((d / "gonogo.json").read_text())
    assert "shadow_quality" in gonogo["failed_items"]
    assert admin.shadow()["enabled"] is False
    admin.close()


def test_planned_steps_per_strategy() -> None:
    base = {"canary.enabled": True, "load_test.enabled": False}
    assert "shadow" not in planned_steps(base, CONFIG)
    steps = planned_steps({**base, "canary.strategy": "shadow"}, CONFIG)
    assert "shadow" in steps and "canary" not in steps and "rollback_drill" not in steps
    steps = planned_steps({**base, "canary.strategy": "shadow_then_canary"}, CONFIG)
    assert steps.index("shadow") < steps.index("rollback_drill") < steps.index("go_no_go") < steps.index("canary")
