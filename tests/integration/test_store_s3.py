"""S3Store against a real moto_server over HTTP (boto3 finds it via AWS_ENDPOINT_URL)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from launchgate.errors import ArtifactExistsError, InputError, StoreError
from launchgate.settings import Settings
from launchgate.store import ReleaseBundle, SpoolingStore, open_store, sha256_bytes
from launchgate.store.s3 import S3Store
from tests.support.moto import free_port, moto_s3_server

SECRET = "dummySecretKeyThatMustNeverLeak0123456789"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_s3_server() as url:
        yield url


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str) -> None:
    # Dummy credentials only, and no real AWS config on this machine may leak into the test.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDUMMYTESTKEY00000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def bucket() -> str:
    name = f"lg-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def fast_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"s3_max_attempts": 2, "s3_connect_timeout_s": 1.0, "s3_read_timeout_s": 5.0}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_put_get_exists_list_with_prefix(bucket: str) -> None:
    store = open_store(f"s3://{bucket}/team/artifacts/", fast_settings())
    # open_store wraps S3 in a SpoolingStore (store/spool.py); LAUNCHGATE_S3_SPOOL=false does not.
    assert isinstance(store, SpoolingStore) and isinstance(store.inner, S3Store)
    assert isinstance(open_store(f"s3://{bucket}", fast_settings(s3_spool=False)), S3Store)
    assert store.uri == f"s3://{bucket}/team/artifacts"

    stored = store.put("svc/releases/r1/manifest.json", b'{"a": 1}', "application/json")
    store.put("svc/releases/r1/eval/scores.json", b"[]", "application/json")
    store.put("svc/releases/r10/x", b"x")
    store.put("svc/state/freeze.json", b"{}")

    assert stored.uri == f"s3://{bucket}/team/artifacts/svc/releases/r1/manifest.json"
    assert stored.uri == store.location("svc/releases/r1/manifest.json")
    assert stored.sha256 == sha256_bytes(b'{"a": 1}') and stored.size == 8
    assert store.get("svc/releases/r1/manifest.json") == b'{"a": 1}'
    assert store.exists("svc/releases/r1/manifest.json")
    assert not store.exists("svc/releases/r1/missing.json")
    assert store.list("svc/releases/r1/") == [
        "svc/releases/r1/eval/scores.json",
        "svc/releases/r1/manifest.json",
    ]
    assert store.list("svc/releases/r1") == [
        "svc/releases/r1/eval/scores.json",
        "svc/releases/r1/manifest.json",
        "svc/releases/r10/x",
    ]

    # The object really lives under the prefix, with the metadata and headers we promise.
    head = boto3.client("s3").head_object(Bucket=bucket, Key="team/artifacts/svc/releases/r1/manifest.json")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "application/json"
    assert head["Metadata"]["sha256"] == sha256_bytes(b'{"a": 1}')


def test_kms_encryption_header(bucket: str) -> None:
    store = S3Store(bucket, "", fast_settings(s3_sse="aws:kms", s3_kms_key_id="alias/launchgate"))
    store.put("k", b"secret evidence")
    head = boto3.client("s3").head_object(Bucket=bucket, Key="k")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith("alias/launchgate")


def test_overwrite_false_refused_and_original_kept(bucket: str) -> None:
    store = S3Store(bucket, "p", fast_settings())
    store.put("svc/releases/r1/decision.json", b"go", overwrite=False)
    with pytest.raises(ArtifactExistsError, match=f"s3://{bucket}/p/svc/releases/r1/decision.json"):
        store.put("svc/releases/r1/decision.json", b"no-go", overwrite=False)
    assert store.get("svc/releases/r1/decision.json") == b"go"
    store.put("svc/releases/r1/decision.json", b"replaced")  # overwrite=True is allowed
    assert store.get("svc/releases/r1/decision.json") == b"replaced"


def test_conditional_put_refuses_even_when_the_existence_check_misses(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulates the race: another writer creates the key between our head_object and put_object.
    store = S3Store(bucket, "", fast_settings())
    store.put("race/key", b"first writer", overwrite=False)
    monkeypatch.setattr(store, "exists", lambda key: False)
    with pytest.raises(ArtifactExistsError):
        store.put("race/key", b"second writer", overwrite=False)
    assert store.get("race/key") == b"first writer"


def test_get_detects_tampering_via_recorded_sha256(bucket: str) -> None:
    store = S3Store(bucket, "", fast_settings())
    store.put("evidence.json", b"original")
    boto3.client("s3").put_object(
        Bucket=bucket, Key="evidence.json", Body=b"tampered", Metadata={"sha256": sha256_bytes(b"original")}
    )
    with pytest.raises(StoreError, match="integrity"):
        store.get("evidence.json")


def test_missing_key_and_missing_bucket_are_store_errors(bucket: str) -> None:
    store = S3Store(bucket, "p", fast_settings())
    with pytest.raises(StoreError, match=f"s3://{bucket}/p/nope.json"):
        store.get("nope.json")
    ghost = S3Store("lg-no-such-bucket", "", fast_settings())
    with pytest.raises(StoreError, match="does not exist") as info:
        ghost.put("a", b"x")
    assert isinstance(info.value.__cause__, Exception)  # original botocore error kept for debugging


def test_bundle_index_sha256_matches_objects(bucket: str) -> None:
    store = open_store(f"s3://{bucket}/lg", fast_settings())
    bundle = ReleaseBundle(store, "svc", "svc-20261122T000000Z-0123abcd")
    bundle.put_json("manifest.json", {"service": "svc", "n": 1})
    bundle.put_text("review.md", "# Release review\n", "text/markdown")
    bundle.put_bytes("load/latencies.bin", bytes(range(256)))
    index_art = bundle.write_index()
    assert index_art.key == "svc/releases/svc-20261122T000000Z-0123abcd/index.json"

    index = json.loads(store.get(index_art.key))
    assert index["release_id"] == "svc-20261122T000000Z-0123abcd"
    assert len(index["artifacts"]) == 3
    for entry in index["artifacts"]:
        body = boto3.client("s3").get_object(Bucket=bucket, Key=f"lg/{entry['key']}")["Body"].read()
        assert entry["sha256"] == sha256_bytes(body)
        assert entry["size"] == len(body)
    with pytest.raises(ArtifactExistsError):
        bundle.put_json("manifest.json", {"service": "svc", "n": 2})


def test_unreachable_endpoint_fails_fast_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    store = S3Store("lg-bucket", "p", fast_settings())
    for call in (lambda: store.put("k", b"x"), lambda: store.get("k"), lambda: store.list("")):
        started = time.monotonic()
        with pytest.raises(StoreError) as info:
            call()
        assert time.monotonic() - started < 5
        message = str(info.value)
        assert "cannot reach" in message and closed in message and "s3://lg-bucket/p" in message
        assert SECRET not in message and "AKIDUMMYTESTKEY00000" not in message


def test_no_credentials_is_a_store_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = S3Store("lg-bucket", "", fast_settings())
    with pytest.raises(StoreError, match="no usable AWS credentials"):
        store.put("k", b"x")


def test_invalid_sse_mode_is_input_error(bucket: str) -> None:
    with pytest.raises(InputError, match="LAUNCHGATE_S3_SSE"):
        S3Store(bucket, "", fast_settings(s3_sse="rot13"))
