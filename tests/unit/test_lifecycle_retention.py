"""Retention's pure parts (dating keys, the plan) and the spool kind, on a spooling local store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from launchgate.config import load_config
from launchgate.config.datapolicy import Retention
from launchgate.lifecycle.retention import classify, key_end, plan, run_retention
from launchgate.store import LocalStore, SpoolingStore, layout
from tests.conftest import EXAMPLE

SVC = "support-bot"
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def test_keys_are_dated_by_their_place_in_the_layout() -> None:
    assert key_end("requests/2026-11-05/13-w1.jsonl") == datetime(2026, 11, 5, 14, tzinfo=UTC)
    assert key_end(layout.requests_parquet_part(SVC, "2026-11-05", 7)) == datetime(2026, 11, 5, 8, tzinfo=UTC)
    assert key_end("handoff/2026-11-05/batch.jsonl") == datetime(2026, 11, 6, tzinfo=UTC)
    assert key_end("handoff/notes.jsonl") is None


def test_a_bundle_expires_whole_and_a_promoted_one_not_before_the_audit_period() -> None:
    old, promoted = f"{SVC}-20240101T000000Z-aaaaaaaa", f"{SVC}-20240101T000000Z-bbbbbbbb"
    keys = [f"{SVC}/releases/{rid}/{name}" for rid in (old, promoted)
            for name in ("manifest.json", "eval/report.json", "shadow/pairs.jsonl")]
    items, undated = classify(SVC, keys + [f"{SVC}/releases/not-an-id/x.json"], {promoted})
    assert undated == [f"{SVC}/releases/not-an-id/x.json"]
    retention = Retention(evidence_days=365, audit_days=2555, shadow_pairs_days=30)
    todo = plan(items, retention, NOW)
    assert sorted(i.key for i in todo.expired) == sorted(k for k in keys if old in k)
    assert todo.kept_promoted == {"evidence": 2, "shadow_pairs": 1}
    # Once the audit period has passed too, the promoted bundle goes.
    later = plan(items, retention, datetime(2031, 1, 2, tzinfo=UTC))
    assert len(later.expired) == len(keys)


def test_spooled_writes_past_spool_days_are_dropped_and_counted(tmp_path: Path) -> None:
    store = SpoolingStore(LocalStore(tmp_path / "store"), tmp_path / "spool")
    old = store.spool.add(f"{SVC}/state/x.json", b"{}", "application/json", True, "S3 down")
    store.spool.add(f"{SVC}/state/y.json", b"{}", "application/json", True, "S3 down")
    store.spool.add("other-svc/state/z.json", b"{}", "application/json", True, "S3 down")
    store.spool.update(old.model_copy(update={"spooled_at": NOW - timedelta(days=8)}))
    config = load_config(EXAMPLE / "release.yaml", {"data.retention.spool_days": 7}, check_files=False)
    result = run_retention(store, config, now=NOW)
    # The expired write was dropped; the others reached the store when the record's write flushed the spool.
    assert not store.inner.exists(f"{SVC}/state/x.json") and store.inner.exists(f"{SVC}/state/y.json")
    assert result.tables["retention"][-1] | {} == {"kind": "spool", "deleted": 1, "first_key": f"{SVC}/state/x.json",
                                                   "last_key": f"{SVC}/state/x.json", "kept_object_lock": 0,
                                                   "kept_promoted": 0, "errors": 0}
