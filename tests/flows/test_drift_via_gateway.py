"""Drift review on traffic that really went through the release gateway.

Phase 1 sends ordinary golden-set traffic through a gateway and replays its request log into
the four previous weeks (the reference window). Phase 2 sends traffic with a known shift
(answers ~2.4x longer) through a gateway into this week. The weekly review must flag the output
length, write its report and freeze releases.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flows.drift_review import drift_review
from launchgate.canary.traffic import golden_prompts, send_requests
from launchgate.governance.freeze import read_freeze
from launchgate.requestlog.reader import AT, read_requests, write_request_lines
from launchgate.store import LocalStore
from tests.conftest import EXAMPLE
from tests.support.gateway import running_gateway
from tests.support.sim import running_sim

CONFIG = str(EXAMPLE / "release.yaml")
VARIANTS = EXAMPLE / "variants.yaml"
SERVICE = "support-bot"
N = 300


def _prompts() -> list:
    from launchgate.eval.golden import load_golden_set

    return golden_prompts([c.input for c in load_golden_set(EXAMPLE / "golden.jsonl")])


def _drive(store: Path, **knobs: object) -> None:
    with running_sim(VARIANTS, "stable", **knobs) as stable, \
            running_gateway(stable, None, str(store), log_flush_s=0.5) as (base, _token):
        tally = send_requests(f"{base}/v1", "support-bot-stable", _prompts(), N, concurrency=16)
        assert tally.as_dict()["ok"] >= N * 0.98, tally.as_dict()
    # leaving running_gateway flushed the request log


def test_known_shift_through_the_gateway_is_flagged_and_freezes(tmp_path: Path) -> None:
    history, store = tmp_path / "history", tmp_path / "store"
    day_ago = datetime.now(UTC) - timedelta(days=1)
    _drive(history)
    replay = read_requests(LocalStore(history), SERVICE, day_ago, datetime.now(UTC) + timedelta(minutes=1))
    assert len(replay.records) == N
    rng = random.Random(7)
    shifted_back = []
    for rec in replay.records:
        when = rec[AT]
        moved = when - timedelta(days=rng.uniform(7.5, 33))
        shifted_back.append({**{k: v for k, v in rec.items() if k != AT},
                             "ts": moved.isoformat().replace("+00:00", "Z")})
    write_request_lines(LocalStore(store), SERVICE, shifted_back, writer="replay")

    _drive(store, output_tokens={"mean": 220, "sd": 30})  # the known shift, live through the gateway
    now = read_requests(LocalStore(store), SERVICE, day_ago, datetime.now(UTC) + timedelta(minutes=1))
    assert len(now.records) == N
    year, week, _ = datetime.now(UTC).isocalendar()
    label = f"{year}-W{week:02d}"

    result = drift_review(config=CONFIG, week=label, artifacts=str(store))
    assert result["significant"] and result["frozen"], result["reasons"]
    assert any("Output length (tokens) shifted" in r for r in result["reasons"]), result["reasons"]
    report_dir = store / SERVICE / "reviews" / "drift" / label
    assert {"report.json", "report.md", "drift.png"} <= {p.name for p in report_dir.iterdir()}
    freeze = read_freeze(LocalStore(store), SERVICE)
    assert freeze is not None and freeze.active and freeze.source == "drift_review"
