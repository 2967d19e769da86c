"""Two processes book spend on the same budget day file at the same time, and no booking is lost.

Each writer is its own Python process (as the gateway and a release worker are) and books 500
pipeline spends on ``<service>/state/budget/<day>.json`` as fast as it can, on the local store and
on S3 (moto over HTTP, through open_store like production). Afterwards the file must hold all 1000
bookings and their exact sum. A read-modify-write without a condition loses some of them.

The S3 side runs moto's server one request at a time. moto_server as its CLI starts it (one thread
per request) checks If-Match and stores the object in two steps, so two conditional PUTs on the
same ETag can both pass: measured with these two writers, 36 doubly-passed preconditions in one
run on a versioned bucket, about one lost booking in ten runs on a plain one. S3 evaluates the
condition and the write atomically; serving one request at a time gives moto the same guarantee.
The bucket is versioned, so the test also sees that each booking was exactly one write.

Run one writer by hand: ``python -m tests.integration.test_state_two_writers URI WRITER COUNT SYNC_DIR``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from launchgate.budget.ledger import read_state, record_pipeline_spend
from launchgate.config import Budget
from launchgate.settings import Settings
from launchgate.store import ArtifactStore, layout, open_store
from tests.support.moto import moto_s3_server

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "support-bot"
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
BUDGET = Budget(daily_usd=50.0, alert_usd=45.0, pipeline_daily_usd=1000.0)
BOOKINGS = 500
# Binary-exact amounts, so the expected total is exact rather than approximately right.
AMOUNT = {"a": 0.5, "b": 0.25}
START_TIMEOUT_S = 60.0
# moto answers each request on a new connection and takes tens of ms per 150 kB object: the S3 run
# needs about a minute on an idle machine.
RUN_TIMEOUT_S = 540.0


def _conflicts(store: ArtifactStore) -> int:
    inner = getattr(store, "inner", store)  # open_store wraps S3 in a SpoolingStore
    return int(getattr(inner, "conflicts", 0))


def book(uri: str, writer: str, count: int, sync: Path) -> dict[str, Any]:
    """One writer: open the store, wait for the other writer, then book ``count`` spends."""
    store = open_store(uri, Settings())
    (sync / f"ready-{writer}").touch()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (sync / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"writer {writer}: no go signal in {sync}")
        time.sleep(0.005)
    started = time.perf_counter()
    for i in range(count):
        record_pipeline_spend(store, SERVICE, BUDGET, usd=AMOUNT[writer], release_id=f"release-{writer}",
                              step=f"step-{i:04d}", now=NOW)
    return {"writer": writer, "booked": count, "seconds": round(time.perf_counter() - started, 2),
            "conflicts": _conflicts(store)}


def run_writers(uri: str, sync: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """Start writers a and b as separate processes, release them together, return their reports."""
    sync.mkdir(parents=True, exist_ok=True)
    procs = [
        subprocess.Popen([sys.executable, "-m", "tests.integration.test_state_two_writers", uri, writer,
                          str(BOOKINGS), str(sync)],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for writer in AMOUNT
    ]
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all((sync / f"ready-{w}").exists() for w in AMOUNT):
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                raise AssertionError("a writer did not start: " + "; ".join(
                    (p.stderr.read() if p.stderr and p.poll() is not None else "") for p in procs))
            time.sleep(0.01)
        (sync / "go").touch()
        reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
            assert proc.returncode == 0, err[-3000:]
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def check_ledger(store: ArtifactStore, reports: list[dict[str, Any]], where: str) -> None:
    state = read_state(store, SERVICE, NOW.date())
    assert state is not None
    per_writer = {w: sum(1 for p in state.pipeline if p.release_id == f"release-{w}") for w in AMOUNT}
    expected_total = sum(amount * BOOKINGS for amount in AMOUNT.values())
    # Shown with -s: the numbers behind "nothing was lost".
    print(f"\n{where}: {len(state.pipeline)} bookings, total ${state.pipeline_spend_usd}, "
          f"writers {json.dumps(reports)}")
    assert per_writer == {w: BOOKINGS for w in AMOUNT}, per_writer
    assert len(state.pipeline) == BOOKINGS * len(AMOUNT)
    assert state.pipeline_spend_usd == expected_total


def test_two_processes_on_the_local_store_lose_no_booking(tmp_path: Path) -> None:
    root = tmp_path / "store"
    env = {**os.environ, "LAUNCHGATE_SPOOL_DIR": str(tmp_path / "spool")}
    reports = run_writers(str(root), tmp_path / "sync", env)
    check_ledger(open_store(str(root)), reports, "local store")


@pytest.fixture
def s3_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    with moto_s3_server(serial=True) as endpoint:
        aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
               "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
               "AWS_EC2_METADATA_DISABLED": "true", "LAUNCHGATE_SPOOL_DIR": str(tmp_path / "spool")}
        env = {k: v for k, v in os.environ.items()
               if k not in {"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_REGION"}}
        yield env | aws


@pytest.mark.timeout(600)
def test_two_processes_on_s3_lose_no_booking(s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    bucket = f"lg-two-writers-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    uri = f"s3://{bucket}/lg"
    reports = run_writers(uri, Path(s3_env["LAUNCHGATE_SPOOL_DIR"]).parent / "sync", s3_env)
    store = open_store(uri, Settings(s3_spool=False))
    check_ledger(store, reports, "S3 (moto, one request at a time)")
    # One stored version per booking: no write was lost, and none was applied twice.
    key = f"lg/{layout.budget_day(SERVICE, NOW.date())}"
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
    assert sum(len(page.get("Versions", [])) for page in pages) == BOOKINGS * len(AMOUNT)


def main(argv: list[str]) -> None:
    uri, writer, count, sync = argv
    print(json.dumps(book(uri, writer, int(count), Path(sync))))


if __name__ == "__main__":
    main(sys.argv[1:])
