"""Retention deletes exactly what expired, on the local store and on moto_server (boto3 over HTTP),
keeps promoted releases' bundles for the audit period, respects object lock and says so, and
compares the bucket's lifecycle rules with the policy. On the same moto_server: a subject's rows
rewritten out of S3 log objects (conditional writes)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from launchgate.config import ReleaseConfig, load_config
from launchgate.lifecycle.erasure import verify_index
from launchgate.lifecycle.retention import run_retention
from launchgate.settings import Settings
from launchgate.store import LocalStore, ReleaseBundle, layout
from launchgate.store.base import ArtifactStore
from launchgate.store.s3 import S3Store
from tests.conftest import EXAMPLE
from tests.support.moto import moto_s3_server

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SVC = "support-bot"
OLD = f"{SVC}-20251101T000000Z-aaaaaaaa"  # > 365 days: the whole bundle expires
PROMOTED = f"{SVC}-20251102T000000Z-bbbbbbbb"  # as old, but promoted: kept for the audit period
RECENT = f"{SVC}-20261001T000000Z-cccccccc"  # 60 days: its shadow pairs expire (30), its evidence not

EXPIRED = [
    f"{SVC}/logs/requests/2026-10-30/23-w1.jsonl",
    f"{SVC}/logs/requests/2026-10-31/11-w1.jsonl",  # ends 12:00 + 30 days = exactly now: expired
    layout.requests_parquet_part(SVC, "2026-10-01", 5),
    layout.compaction_record(SVC, "2026-10-01", 5),
    f"{SVC}/handoff/2026-08-01/items.jsonl",
    f"{SVC}/quality/feedback/2026-08-15/feedback.jsonl",
    f"{SVC}/releases/{OLD}/manifest.json",
    f"{SVC}/releases/{OLD}/shadow/pairs.jsonl",
    f"{SVC}/releases/{OLD}/index.json",
    f"{SVC}/releases/{RECENT}/shadow/pairs.jsonl",
    layout.replica(SVC, "gone"),  # last seen 8 days ago (replicas_days 7)
]
KEPT = [
    f"{SVC}/logs/requests/2026-10-31/12-w1.jsonl",  # ends 13:00: one hour short of expiring
    layout.requests_parquet_part(SVC, "2026-11-29", 5),
    f"{SVC}/handoff/2026-11-01/items.jsonl",
    f"{SVC}/handoff/undated.jsonl",  # the layout cannot date it: never deleted, only counted
    f"{SVC}/releases/{PROMOTED}/manifest.json",
    f"{SVC}/releases/{PROMOTED}/shadow/pairs.jsonl",
    f"{SVC}/releases/{RECENT}/manifest.json",
    f"{SVC}/state/freeze.json",
    layout.replica(SVC, "live"),  # published a minute ago
    f"{SVC}/state/promotions/{PROMOTED}.json",
    "other-svc/logs/requests/2020-01-01/00-w1.jsonl",  # another service's data is not ours to expire
]


def _config() -> ReleaseConfig:
    return load_config(EXAMPLE / "release.yaml", {"data.retention.request_logs_days": 30,
                                                  "data.retention.queues_days": 90, "data.retention.replicas_days": 7,
                                                  "data.retention.shadow_pairs_days": 30,
                                                  "data.retention.evidence_days": 365,
                                                  "data.retention.audit_days": 2555}, check_files=False)


def _fill(store: ArtifactStore) -> None:
    for key in EXPIRED + KEPT:
        if key.endswith("index.json") or key.endswith("manifest.json") and RECENT in key:
            continue
        seen = {"seen_at": (NOW - timedelta(days=8 if "gone" in key else 0, minutes=1)).timestamp()}
        body = seen if "/state/replicas/" in key else {"k": key}
        store.put(key, json.dumps(body).encode() + b"\n", "application/json")
    ReleaseBundle(store, SVC, OLD).write_index()
    bundle = ReleaseBundle(store, SVC, RECENT)
    bundle.put_json("manifest.json", {"release_id": RECENT})
    bundle.write_index()


def _check(store: ArtifactStore) -> dict[str, object]:
    result = run_retention(store, _config(), now=NOW)
    left = set(store.list(""))
    assert not [k for k in EXPIRED if k in left], "an expired key survived"
    assert all(k in left for k in KEPT), f"a kept key was deleted: {sorted(set(KEPT) - left)}"
    assert all(k in left for k in (f"{SVC}/releases/{PROMOTED}/manifest.json",))
    assert result.verdicts[0].check == "retention" and result.verdicts[0].value == len(EXPIRED)
    record = json.loads(store.get(result.evidence[0]))
    kinds = record["kinds"]
    assert kinds["request_logs"]["deleted"] == 4 and kinds["queues"]["deleted"] == 2
    assert kinds["evidence"]["deleted"] == 3 and kinds["shadow_pairs"]["deleted"] == 1
    assert kinds["replicas"]["deleted"] == 1 and kinds["replicas"]["first_key"] == layout.replica(SVC, "gone")
    logs = sorted(k for k in EXPIRED if "/logs/" in k)
    assert (kinds["request_logs"]["first_key"], kinds["request_logs"]["last_key"]) == (logs[0], logs[-1])
    assert kinds["evidence"]["kept_promoted"] == 1 and kinds["shadow_pairs"]["kept_promoted"] == 1
    assert record["undated_keys"] == 1
    assert '"k"' not in store.get(result.evidence[0]).decode()  # counts and keys, no content
    # The recent bundle lost its shadow pairs, yet its index still verifies through the erasure record.
    check = verify_index(store, layout.release_prefix(SVC, RECENT))
    assert check["ok"] and check["erased"] == 1, check
    return record


def test_retention_on_the_local_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    _fill(store)
    record = _check(store)
    assert record["lifecycle"] == []  # no bucket, no rules to compare
    # A second run finds nothing more to delete.
    again = run_retention(store, _config(), now=NOW + timedelta(seconds=1))
    assert again.verdicts[0].value == 0


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_s3_server() as url:
        yield url


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIDUMMYTESTKEY00000", "AWS_SECRET_ACCESS_KEY": "dummy-secret",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
                        "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "n"),
                        "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)


def test_retention_on_s3_with_object_lock_and_lifecycle_rules(aws: None) -> None:
    bucket = f"lg-ret-{uuid.uuid4().hex[:10]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    # One rule as infra/terraform writes it (the whole prefix, 400 days): logs and queues are not covered.
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "evidence-retention", "Status": "Enabled", "Filter": {"Prefix": "lg/"}, "Expiration": {"Days": 400}},
        {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": f"lg/{SVC}/logs/"}, "Expiration": {"Days": 30}}]})
    store = S3Store(bucket, "lg", Settings(s3_max_attempts=2))
    _fill(store)
    locked = f"{SVC}/logs/requests/2026-09-01/00-w1.jsonl"  # expired, but under object lock for a day more
    s3.put_object(Bucket=bucket, Key=f"lg/{locked}", Body=b"{}\n", ObjectLockMode="GOVERNANCE",
                  ObjectLockRetainUntilDate=datetime.now(UTC) + timedelta(days=1))
    record = _check(store)
    assert locked in store.list("")
    assert record["kinds"]["request_logs"]["kept_object_lock"] == 1
    assert [x["key"] for x in record["object_lock"]] == [locked] and "object lock" in record["object_lock_note"]
    by_check = {v["check"]: v for v in record["lifecycle"]}
    assert by_check["s3_lifecycle:request_logs"]["phase"] == "successful"
    missing = by_check["s3_lifecycle:handoff_queue"]
    assert missing["phase"] == "failed" and f"Filter.Prefix='lg/{SVC}/handoff/'" in missing["reason"]
    # 400 days < the 2555-day audit period: the rule would delete promoted releases' bundles early.
    assert by_check["s3_lifecycle:evidence"]["phase"] == "failed"


def test_subject_deletion_rewrites_log_files_on_s3(aws: None) -> None:
    """Beside retention, the other way data leaves the bucket: one subject's rows, conditional rewrites."""
    from launchgate.lifecycle.subjects import delete_subject

    bucket = f"lg-del-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    store = S3Store(bucket, "lg", Settings(s3_max_attempts=2))
    rows = [{"ts": f"2025-11-24T0{h}:00:00Z", "request_id": f"r{h}{i}",
             "subject_hmac": "a" * 64 if i == 0 else "b" * 64} for h in range(3) for i in range(3)]
    keys = []
    for h in range(3):
        key = layout.request_log(SVC, "2025-11-24", f"0{h}", "gw1")
        store.put(key, b"".join(json.dumps(r).encode() + b"\n" for r in rows if r["ts"][11:13] == f"0{h}"))
        keys.append(key)
    key, receipt = delete_subject(store, _config(), "a" * 64, by="carol", reason="erasure", now=NOW)
    assert receipt["rows_removed"] == 3 and len(receipt["files"]) == 3
    left = [json.loads(x) for k in keys for x in store.get(k).splitlines()]
    assert len(left) == 6 and all(r["subject_hmac"] == "b" * 64 for r in left)
    assert "a" * 64 not in store.get(key).decode() and receipt["object_lock_note"]
