"""Readiness 'shadow evaluation' and 'replay production failures' read from a real local store: the
shadow step's summary in the release bundle and the report `launchgate replay` stores (gather + check)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from launchgate.config import load_config
from launchgate.readiness.checks import CHECKS
from launchgate.readiness.gather import gather
from launchgate.readiness.models import Status
from launchgate.replay.report import write
from launchgate.settings import Settings
from launchgate.store import layout
from launchgate.store.local import LocalStore
from tests.conftest import EXAMPLE

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
REPLAY = {"service": "support-bot", "from_log": "2026-11-20..2026-11-27", "filter": "errors", "against": "candidate",
          "summary": {"requests": 3, "compared": 2, "fields": {"category": 1}, "field_delta_rate": {"category": 0.5},
                      "served": {"candidate": 3, "stable": 3}, "schema_valid": {"candidate": 3, "stable": 2}}}


def test_shadow_summary_and_replay_report_in_the_store_verify_both_items(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE / "release.yaml", {"canary.strategy": "shadow_then_canary"}, check_files=False)
    store = LocalStore(tmp_path / "store")

    def judge() -> dict[str, Status]:
        ev = gather(store, cfg, now=NOW, settings=Settings(), probe=False, cases=[])
        return {name: CHECKS[name](ev).status for name in ("shadow_evaluation", "replay_failures")}

    assert judge() == {"shadow_evaluation": Status.MISSING, "replay_failures": Status.MISSING}
    key = layout.release_key(cfg.service, "support-bot-20261129T100000Z-aaaa", "shadow/shadow_summary.json")
    summary = {"decision": "worse", "phase": "failed", "reason": "stable wins", "test": {"pairs": 300}}
    store.put(key, json.dumps(summary).encode(), "application/json")
    write(store, REPLAY, NOW - timedelta(days=40))  # outside the 28-day window: still missing
    assert judge() == {"shadow_evaluation": Status.FAILED, "replay_failures": Status.MISSING}
    store.put(key, json.dumps({**summary, "decision": "not_worse", "phase": "successful"}).encode(), "application/json")
    write(store, REPLAY, NOW - timedelta(days=2))
    assert judge() == {"shadow_evaluation": Status.VERIFIED, "replay_failures": Status.VERIFIED}
