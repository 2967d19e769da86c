"""Readiness 'user feedback collected' and 'human review queue' on real evidence: `launchgate readiness`
probes a real gateway's POST /v1/feedback and reads what it stored; labels come through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import yaml
from click.testing import CliRunner

from launchgate.cli import main
from tests.conftest import EXAMPLE
from tests.support.gateway import running_gateway
from tests.support.sim import EXAMPLE_VARIANTS, admin_url, running_sim

CONFIG = str(EXAMPLE / "release.yaml")
ITEMS = ("user-feedback", "human-review-queue")
DEAD = "canary.gateway_url=http://127.0.0.1:9"  # nothing listens: the probe cannot decide


def readiness(store: Path, *sets: str) -> dict[str, dict[str, Any]]:
    out = CliRunner().invoke(main, ["readiness", "--config", CONFIG, "--artifacts", str(store), "--json",
                                    *(x for s in sets for x in ("--set", s))])
    assert out.exit_code in (0, 3), out.output
    return {i["id"]: i for i in json.loads(out.output.splitlines()[-1])["items"] if i["id"] in ITEMS}


def test_feedback_and_review_queue_items_are_checked_from_the_gateway_and_the_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with running_sim(EXAMPLE_VARIANTS, "stable") as sim:
        # Something on loopback that does not serve feedback (the model server itself): failed, not missing.
        got = readiness(store, f"canary.gateway_url={admin_url(sim)}")
        assert got["user-feedback"]["status"] == "failed" and "answered 404" in got["user-feedback"]["reason"]
        assert got["human-review-queue"]["status"] == "missing" and "quality.sample is 0" in \
            got["human-review-queue"]["reason"]
        with running_gateway(sim, None, str(store), release_id="r-1", review_sample=1.0) as (base, _token):
            body = {"model": "support-bot", "messages": [{"role": "user", "content": "Where is my parcel?"}]}
            rid = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=10).headers["X-Request-ID"]
            # (the probe below sends one more, over-cap request: this unguarded gateway serves and samples it)
            served = readiness(store, f"canary.gateway_url={base}")["user-feedback"]
            assert served["status"] == "verified" and "refused the probe's rating-less body with 400" in \
                served["reason"]
            assert httpx.post(f"{base}/v1/feedback", json={"request_id": rid, "thumbs": "up"}).status_code == 200
    # The gateway is gone (nothing answers the probe): the stored feedback and queue are the evidence.
    got = readiness(store, "quality.sample=0.5", DEAD)
    assert got["user-feedback"]["status"] == "verified" and "stored on 1 of the last 28 days" in \
        got["user-feedback"]["reason"]
    assert got["human-review-queue"]["status"] == "failed" and "none labelled" in got["human-review-queue"]["reason"]
    data = yaml.safe_load((EXAMPLE / "release.yaml").read_text())
    data["artifacts"]["uri"] = str(store)
    cfg = tmp_path / "release.yaml"
    cfg.write_text(yaml.safe_dump(data))
    listed = CliRunner().invoke(main, ["review-queue", "list", "--config", str(cfg), "--json"])
    item = json.loads(listed.output.splitlines()[0])["id"]
    labelled = CliRunner().invoke(main, ["review-queue", "label", item, "--config", str(cfg), "--as", "ana",
                                         "--verdict", "good"])
    assert labelled.exit_code == 0, labelled.output
    got = readiness(store, DEAD)
    assert got["human-review-queue"]["status"] == "verified" and "1 of the newest 2 labelled" in \
        got["human-review-queue"]["reason"]
