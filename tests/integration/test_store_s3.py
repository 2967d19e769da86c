"""S3Store against a real moto_server over HTTP (boto3 finds it via AWS_ENDPOINT_URL)."""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from launchgate.errors import ArtifactExistsError, InputError, StoreConflict, StoreError
from launchgate.release.promotion import write_last_known_good
from launchgate.settings import Settings
from launchgate.store import ReleaseBundle, SpoolingStore, StoreUnavailable, layout, open_store, sha256_bytes
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


def _increment(current: bytes | None) -> bytes:
    count = json.loads(current)["n"] if current is not None else 0
    return json.dumps({"n": count + 1}).encode()


def test_update_creates_then_changes_the_object(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = S3Store(bucket, "p", fast_settings())
    # The answer's MD5 ETag proves the bytes: no extra HEAD per update.
    monkeypatch.setattr(store, "verify", lambda key, data: pytest.fail("update HEADed an object it had proof of"))
    assert store.update("svc/state/n.json", _increment) == b'{"n": 1}'  # If-None-Match: *
    assert store.update("svc/state/n.json", _increment) == b'{"n": 2}'  # If-Match: <etag>
    assert store.get("svc/state/n.json") == b'{"n": 2}'
    head = boto3.client("s3").head_object(Bucket=bucket, Key="p/svc/state/n.json")
    assert head["Metadata"]["sha256"] == sha256_bytes(b'{"n": 2}') and head["ContentType"] == "application/json"
    assert store.conflicts == 0


def test_update_under_kms_checks_the_stored_object_when_the_answer_proves_nothing(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With SSE-KMS the ETag is not the body's MD5, so the update HEADs the object to check it.
    store = S3Store(bucket, "", fast_settings(s3_sse="aws:kms", s3_kms_key_id="alias/launchgate"))
    heads: list[str] = []
    verify = store.verify
    monkeypatch.setattr(store, "verify", lambda key, data: heads.append(key) or verify(key, data))
    assert store.update("n.json", _increment) == b'{"n": 1}'
    assert heads == ["n.json"] and store.get("n.json") == b'{"n": 1}'


def test_update_retries_on_the_newer_object_when_another_writer_wins(bucket: str) -> None:
    store, other = S3Store(bucket, "", fast_settings()), S3Store(bucket, "", fast_settings())
    seen: list[bytes | None] = []

    def change(current: bytes | None) -> bytes:
        seen.append(current)
        if len(seen) == 1:  # another process writes between our read and our write
            other.update("n.json", _increment)
        return _increment(current)

    # Our create lost to other's create of the very same bytes, and still counts once more.
    assert store.update("n.json", change) == b'{"n": 2}'
    assert seen == [None, b'{"n": 1}'] and store.conflicts == 1

    seen.clear()
    assert store.update("n.json", change) == b'{"n": 4}'  # an If-Match lost, then won: both counted
    assert seen == [b'{"n": 2}', b'{"n": 3}'] and store.conflicts == 2
    assert store.get("n.json") == b'{"n": 4}'


def test_update_that_loses_every_attempt_raises_store_conflict_and_writes_nothing(bucket: str) -> None:
    store, other = S3Store(bucket, "", fast_settings(), update_attempts=3), S3Store(bucket, "", fast_settings())

    def change(current: bytes | None) -> bytes:
        other.update("n.json", _increment)
        return b"never stored"

    with pytest.raises(StoreConflict, match="3 attempts") as info:
        store.update("n.json", change)
    assert isinstance(info.value, StoreError)
    assert store.conflicts == 2
    assert store.get("n.json") == b'{"n": 3}'


class LostAnswerS3:
    """An in-memory S3 client whose first conditional write lands but answers 412, which is what
    botocore's retry of a write whose answer was lost on the network gets back."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.lose_next_answer = True

    @staticmethod
    def _etag(body: bytes) -> str:
        return f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'

    @staticmethod
    def _error(code: str, status: int, op: str) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, op)

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        if Key not in self.objects:
            raise self._error("NoSuchKey", 404, "GetObject")
        body, metadata = self.objects[Key]
        return {"Body": io.BytesIO(body), "ETag": self._etag(body), "Metadata": metadata}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, Metadata: dict[str, str],
                   IfMatch: str | None = None, IfNoneMatch: str | None = None, **_: Any) -> dict[str, Any]:
        current = self.objects.get(Key)
        if (IfNoneMatch == "*" and current is not None) or (
                IfMatch is not None and (current is None or self._etag(current[0]) != IfMatch)):
            raise self._error("PreconditionFailed", 412, "PutObject")
        self.objects[Key] = (Body, Metadata)
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise self._error("PreconditionFailed", 412, "PutObject")
        return {"ETag": self._etag(Body)}


def test_update_whose_write_landed_but_answer_was_lost_applies_the_change_once() -> None:
    client = LostAnswerS3()
    store = S3Store("lg-bucket", "", fast_settings(s3_verify_uploads=False), client=client)
    client.objects["log.jsonl"] = (b"first\n", {})
    assert store.update("log.jsonl", lambda current: (current or b"") + b"second\n") == b"first\nsecond\n"
    assert client.objects["log.jsonl"][0] == b"first\nsecond\n"  # not "second" twice
    assert store.conflicts == 1


def test_update_whose_last_attempt_landed_unanswered_is_not_a_conflict() -> None:
    client = LostAnswerS3()
    store = S3Store("lg-bucket", "", fast_settings(s3_verify_uploads=False), client=client, update_attempts=1)
    assert store.update("n.json", _increment) == b'{"n": 1}'
    assert client.objects["n.json"][0] == b'{"n": 1}'


def test_update_needs_conditional_writes(bucket: str) -> None:
    store = S3Store(bucket, "", fast_settings(), conditional_put=False)
    with pytest.raises(StoreError, match="conditional writes"):
        store.update("n.json", _increment)


def test_spooling_store_updates_through_s3_when_it_is_up(bucket: str) -> None:
    store = open_store(f"s3://{bucket}/lg", fast_settings())
    assert isinstance(store, SpoolingStore)
    assert store.update("svc/state/n.json", _increment) == b'{"n": 1}'
    assert store.update("svc/state/n.json", _increment) == b'{"n": 2}'
    assert store.pending() == []


def test_spooling_store_never_spools_a_state_update_while_s3_is_down(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    store = SpoolingStore(S3Store("lg-bucket", "p", fast_settings()), tmp_path / "spool", retry_s=60)
    with pytest.raises(StoreUnavailable, match="cannot reach"):
        store.update("svc/state/n.json", _increment)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):  # known down: refused at once, no second round of retries
        store.update("svc/state/n.json", _increment)
    assert time.monotonic() - started < 0.5
    assert store.pending() == []
    assert store.put("svc/releases/r1/x.json", b"{}").state == "spooled"  # evidence still spools


def test_last_known_good_records_the_release_it_replaced(bucket: str) -> None:
    store = open_store(f"s3://{bucket}/lg", fast_settings())
    write_last_known_good(store, "svc", "svc-r1", {"model": "a"})
    record = write_last_known_good(store, "svc", "svc-r2", {"model": "b"})
    assert record["release_id"] == "svc-r2" and record["previous_release_id"] == "svc-r1"
    assert json.loads(store.get(layout.last_known_good("svc"))) == record


def test_last_known_good_during_an_outage_is_spooled_without_a_previous_release(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The canary has moved the traffic already: the pointer must not be lost with S3 down, so it
    # falls back to the spool (an unconditional write, delivered when S3 is back).
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    store = SpoolingStore(S3Store("lg-bucket", "p", fast_settings()), tmp_path / "spool", retry_s=60)
    record = write_last_known_good(store, "svc", "svc-r2", {"model": "b"})
    assert record["release_id"] == "svc-r2" and record["previous_release_id"] is None
    assert store.pending() == [layout.last_known_good("svc")]
    assert json.loads(store.get(layout.last_known_good("svc"))) == record


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
