"""S3 faults mid-release: moto_server behind a fault-injecting TCP proxy, boto3 over HTTP.

The proxy stands in for the network between the worker and S3: cutting it is S3 going away
(connection refused, open connections dropped) while moto keeps its objects, so after
``restore()`` we can check that the bundle in the bucket is complete and matches index.json.
Every check reads the bucket directly from moto (not through the proxy or launchgate).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from launchgate.settings import Settings
from launchgate.store import ReleaseBundle, SpoolingStore, open_store
from tests.support.moto import moto_s3_server
from tests.support.tcpproxy import TcpProxy, tcp_proxy

RELEASE = "svc-20261122T000000Z-0123abcd"
BASE = f"lg/svc/releases/{RELEASE}/"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_s3_server() as url:
        yield url


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[TcpProxy]:
    with tcp_proxy(moto_endpoint) as p:
        yield p


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, proxy: TcpProxy) -> dict[str, str]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": proxy.endpoint,
        "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        # Small bounded retries so a fault costs well under a second per call.
        "LAUNCHGATE_S3_MAX_ATTEMPTS": "2", "LAUNCHGATE_S3_CONNECT_TIMEOUT_S": "1",
        "LAUNCHGATE_S3_READ_TIMEOUT_S": "5", "LAUNCHGATE_SPOOL_DIR": str(tmp_path / "spool"),
        "LAUNCHGATE_SPOOL_RETRY_S": "0",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    return env


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    """A client straight to moto: the ground truth, unaffected by the proxy's faults."""
    return boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing-secret")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"lg-faults-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    return name


def open_bundle(bucket: str, **overrides: Any) -> tuple[SpoolingStore, ReleaseBundle]:
    store = open_store(f"s3://{bucket}/lg", Settings(**overrides))
    assert isinstance(store, SpoolingStore)
    return store, ReleaseBundle(store, "svc", RELEASE)


def write_some(bundle: ReleaseBundle, tag: str) -> dict[str, bytes]:
    """Four artifacts of the kinds a release writes; returns name -> the bytes stored."""
    arts = [
        bundle.put_json(f"{tag}/result.json", {"step": tag, "score": 0.91}),
        bundle.put_text(f"{tag}/report.md", f"# {tag}\nall good\n", "text/markdown"),
        bundle.put_jsonl(f"{tag}/rows.jsonl", [{"i": i} for i in range(50)]),
        bundle.put_bytes(f"{tag}/chart.png", os.urandom(200_000), "image/png"),
    ]
    return {bundle.name_of(a): bundle.store.get(a.key) for a in arts}


def assert_bundle_complete(s3: Any, bucket: str, expected: dict[str, bytes]) -> dict[str, Any]:
    """Every expected artifact is in the bucket with its bytes, and index.json's sha256s match."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=BASE).get("Contents", [])
    keys = {o["Key"].removeprefix(BASE) for o in listed}
    assert keys == set(expected) | {"index.json"}
    index = json.loads(s3.get_object(Bucket=bucket, Key=BASE + "index.json")["Body"].read())
    assert {a["name"] for a in index["artifacts"]} == set(expected)
    for art in index["artifacts"]:
        body = s3.get_object(Bucket=bucket, Key=BASE + art["name"])["Body"].read()
        assert body == expected[art["name"]], art["name"]
        assert hashlib.sha256(body).hexdigest() == art["sha256"], art["name"]
        head = s3.head_object(Bucket=bucket, Key=BASE + art["name"])
        assert head["Metadata"]["sha256"] == art["sha256"]
    return index


def flush_cli(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launchgate.cli", "flush-spool"], capture_output=True,
                          text=True, env={**os.environ, **env}, cwd=ROOT, timeout=60)


def test_outage_mid_bundle_spools_then_flushes_before_the_index(
    aws_env: dict[str, str], proxy: TcpProxy, s3: Any, bucket: str
) -> None:
    store, bundle = open_bundle(bucket)
    expected = write_some(bundle, "eval")
    assert bundle.pending == [] and all(a.state == "persisted" for a in bundle.artifacts)

    proxy.cut()  # S3 goes away mid-bundle
    started = time.monotonic()
    expected |= write_some(bundle, "load")  # no exception reaches the caller
    outage_put_s = (time.monotonic() - started) / 4
    spooled = [a for a in bundle.artifacts if a.state == "spooled"]
    assert sorted(bundle.name_of(a) for a in spooled) == sorted(n for n in expected if n.startswith("load/"))
    assert bundle.pending == sorted(n for n in expected if n.startswith("load/"))
    assert outage_put_s < 3.0, f"each put took {outage_put_s:.2f}s during the outage"
    # Reads see spooled bytes; nothing spooled is in the bucket yet.
    assert store.get(bundle.key("load/result.json")) == expected["load/result.json"]
    assert s3.list_objects_v2(Bucket=bucket, Prefix=BASE + "load/").get("KeyCount") == 0

    proxy.restore()
    index_art = bundle.write_index()  # flushes first: the index sees every artifact persisted
    assert index_art.state == "persisted"
    index = assert_bundle_complete(s3, bucket, expected)
    assert index["pending"] == [] and index["listing"] == "complete"
    assert {a["state"] for a in index["artifacts"]} == {"persisted"}
    assert bundle.pending == [] and store.spool.entries() == []


def test_s3_still_down_at_finalize_then_flush_spool_cli(
    aws_env: dict[str, str], proxy: TcpProxy, s3: Any, bucket: str
) -> None:
    store, bundle = open_bundle(bucket)
    expected = write_some(bundle, "eval")
    proxy.cut()
    expected |= write_some(bundle, "canary")
    index_art = bundle.write_index()  # S3 still down: the index itself waits in the spool
    assert index_art.state == "spooled"
    index = json.loads(store.get(index_art.key))
    # The final record names what is pending, and never calls a spooled object persisted.
    assert index["pending"] == sorted(n for n in expected if n.startswith("canary/"))
    assert index["listing"] == "partial"
    states = {a["name"]: a["state"] for a in index["artifacts"]}
    assert states == {n: "spooled" if n.startswith("canary/") else "persisted" for n in expected}
    assert bundle.pending == sorted([*index["pending"], "index.json"])

    down = flush_cli(aws_env)  # still down: exit 1 and a list of what remains
    assert down.returncode == 1, down.stdout + down.stderr
    assert "5 still pending" in down.stdout and "index.json" in down.stdout

    proxy.restore()
    up = flush_cli(aws_env)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "5 flushed, 0 still pending" in up.stdout
    assert_bundle_complete(s3, bucket, expected)
    assert store.spool.entries() == []
    assert "testing-secret" not in down.stdout + down.stderr + up.stdout + up.stderr


def test_5xx_blip_is_absorbed_by_retries_and_a_5xx_outage_is_spooled(
    aws_env: dict[str, str], proxy: TcpProxy, s3: Any, bucket: str
) -> None:
    store, bundle = open_bundle(bucket)
    proxy.fail_503(1)  # one 503: botocore's second attempt succeeds, nothing is spooled
    expected = {"blip.json": bundle.put_json("blip.json", {"ok": True})}
    assert bundle.artifacts[-1].state == "persisted" and proxy.injected_503 == 1

    proxy.fail_503(None)  # S3 answers 503 to everything
    expected |= write_some(bundle, "gonogo")
    assert bundle.pending == sorted(n for n in expected if n.startswith("gonogo/"))
    assert proxy.injected_503 >= 1 + 4 * 2  # 2 attempts per put, bounded

    proxy.heal()
    expected["blip.json"] = store.get(bundle.key("blip.json"))
    expected["decision.json"] = b'{"decision": "go"}'
    bundle.put_bytes("decision.json", expected["decision.json"])  # flushes the spool first
    assert bundle.pending == []
    bundle.write_index()
    assert_bundle_complete(s3, bucket, expected)


@pytest.mark.parametrize("sse", ["AES256", "aws:kms"])
def test_corrupted_upload_is_never_reported_persisted(
    aws_env: dict[str, str], proxy: TcpProxy, s3: Any, bucket: str, sse: str
) -> None:
    # moto stores whatever bytes arrive (it does not check ChecksumSHA256), so the damaged
    # upload lands: only launchgate's own verification (ETag or read-back) can catch it.
    store, bundle = open_bundle(bucket, s3_sse=sse)
    body = os.urandom(4096)
    proxy.corrupt_puts(1)
    art = bundle.put_bytes("evidence.bin", body)
    assert proxy.corrupted == 1
    assert art.state == "spooled" and bundle.pending == ["evidence.bin"]
    damaged = s3.get_object(Bucket=bucket, Key=BASE + "evidence.bin")["Body"].read()
    assert damaged != body and len(damaged) == len(body)

    report = store.flush()  # the key holds our damaged upload: it is replaced, not a conflict
    assert report.flushed == [bundle.key("evidence.bin")] and report.complete
    bundle.write_index()
    assert_bundle_complete(s3, bucket, {"evidence.bin": body})


def test_conflicting_object_stays_pending_and_is_not_lost(
    aws_env: dict[str, str], proxy: TcpProxy, s3: Any, bucket: str
) -> None:
    store, bundle = open_bundle(bucket)
    proxy.cut()
    bundle.put_json("decision.json", {"decision": "go"})
    # While we were cut off, someone else wrote that write-once key.
    s3.put_object(Bucket=bucket, Key=BASE + "decision.json", Body=b"{}")
    proxy.restore()
    report = store.flush()
    assert report.conflicts == [bundle.key("decision.json")] and not report.complete
    assert bundle.pending == ["decision.json"]
    assert json.loads(store.get(bundle.key("decision.json"))) == {"decision": "go"}  # still in the spool
    cli = flush_cli(aws_env)
    assert cli.returncode == 1 and "conflict" in cli.stdout
