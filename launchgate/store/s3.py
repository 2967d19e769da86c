"""The production artifact store: an S3 bucket (optionally under a prefix) via boto3.

This module is the one boundary where botocore errors become StoreError. Messages name the
bucket/key and the likely fix, and are built from our own templates plus error codes, so a
secret key or session token never reaches a log, a Slack message or the evidence.

Every upload is checked after the fact (``verify``): the object's ChecksumSHA256 (real S3
computes it from the bytes it received), else a plain-MD5 ETag, else a read-back, plus the
hex sha256 we store as ``x-amz-meta-sha256``. Transient failures (unreachable, 5xx,
throttling, timeouts, a failed verification) raise StoreUnavailable, which SpoolingStore
turns into a local spool entry instead of a lost artifact.

State files (``update``) are changed with optimistic concurrency: read the object and its ETag,
compute the new bytes, ``put_object`` with ``IfMatch=<etag>`` (or ``IfNoneMatch="*"`` when the key
did not exist). If another writer got there first, S3 answers 412 (or 409 while a concurrent
conditional write is in flight, or 404 when the key vanished) and the whole read-change-write
runs again after a short random pause, up to ``update_attempts`` times, then StoreConflict.

The endpoint is whatever boto3 resolves on its own (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_S3``, profile ``endpoint_url``), which is how moto_server and MinIO are
targeted; launchgate adds no variable of its own for it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import time
import uuid
from typing import Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from launchgate.errors import ArtifactExistsError, InputError, StoreConflict, StoreError
from launchgate.settings import Settings
from launchgate.store.base import Change, StoredArtifact, StoreUnavailable, UploadVerificationError, sha256_bytes
from launchgate.store.keys import check_key, check_prefix

_SSE_MODES = {"AES256", "aws:kms", "aws:kms:dsse"}
_NO_SSE = {"", "none", "off"}
# Codes S3 uses when a conditional write loses: 412 = the key exists (IfNoneMatch) or has another
# ETag (IfMatch), 409 = a concurrent conditional write to the same key is still in flight.
# Either way, someone else won.
_EXISTS_CODES = {"PreconditionFailed", "ConditionalRequestConflict"}
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
# An update's IfMatch also loses when the object was deleted since it was read.
_UPDATE_LOST_CODES = _EXISTS_CODES | _NOT_FOUND_CODES
# Attempts of one update, and the random pause before each retry (full jitter, doubling up to the
# cap). Writers that update now and then almost never meet; two writers rewriting one key in a
# tight loop (tests/integration/test_state_two_writers.py) mostly alternate, but a writer that
# loses once tends to keep losing: about 1 update in 200 needed 10 or more retries there, and each
# further retry lost about 3 times in 4. 50 attempts make exhausting them unlikely even then
# (~1e-7 per update), and the pauses bound a hopeless fight to about 10 s.
UPDATE_ATTEMPTS = 50
_BACKOFF_FIRST_S = 0.01
_BACKOFF_CAP_S = 0.2
_SHA256_META = "sha256"
# A random id per update write: after a lost answer, it tells our own landed write apart from
# another writer's object that happens to hold the same bytes.
_WRITE_ID_META = "write-id"
# Error codes that mean "try again later" rather than "your request is wrong". BadDigest and
# XAmzContentSHA256Mismatch: the body was damaged in transit, so S3 refused it.
_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeoutException",
    "ServiceUnavailable", "InternalError", "BadDigest", "XAmzContentSHA256Mismatch",
}
# What verify() can say about the object at a key, compared with the bytes we hold.
VERIFY_OK, VERIFY_ABSENT, VERIFY_FOREIGN, VERIFY_CORRUPT = "ok", "absent", "foreign", "corrupt"


class _Object(NamedTuple):
    data: bytes | None
    etag: str | None
    write_id: str | None


class S3Store:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        settings: Settings | None = None,
        *,
        conditional_put: bool = True,
        update_attempts: int = UPDATE_ATTEMPTS,
        client: Any | None = None,
    ) -> None:
        """``conditional_put=False`` is for S3-compatible servers without conditional writes: the
        head_object check still refuses overwrites, just not atomically, and ``update`` refuses
        to run (it cannot be made safe without If-Match)."""
        settings = settings or Settings()
        if len(bucket) < 3 or "/" in bucket:
            raise InputError(f"invalid S3 bucket name {bucket!r} (need 3-63 characters, no '/')")
        self.bucket = bucket
        self.prefix = check_prefix(prefix.strip("/"))
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.conditional_put = conditional_put
        if update_attempts < 1:
            raise InputError(f"update_attempts must be at least 1, got {update_attempts}")
        self.update_attempts = update_attempts
        self.conflicts = 0  # updates retried because another writer won (for tests and diagnostics)
        self.max_attempts = settings.s3_max_attempts
        self.verify_uploads = settings.s3_verify_uploads
        self._sse_args = _sse_args(settings)
        self._client = client if client is not None else self._make_client(settings)

    def _make_client(self, settings: Settings) -> Any:
        config = Config(
            retries={"mode": "standard", "max_attempts": settings.s3_max_attempts},
            connect_timeout=settings.s3_connect_timeout_s,
            read_timeout=settings.s3_read_timeout_s,
        )
        try:
            return boto3.session.Session().client("s3", config=config)
        except BotoCoreError as exc:
            raise self._translate(exc, "connect to", None) from exc

    # -- keys -------------------------------------------------------------------------

    def _full(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, full_key: str) -> str:
        return full_key[len(self.prefix) + 1 :] if self.prefix else full_key

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    # -- operations -------------------------------------------------------------------

    def put(
        self, key: str, data: bytes, content_type: str = "application/octet-stream", *, overwrite: bool = True
    ) -> StoredArtifact:
        full = self._full(key)
        if not overwrite and self.exists(key):
            # Cheap early refusal; the conditional put below is what makes it race-free.
            raise self._exists_error(key)
        digest = hashlib.sha256(data)
        condition = {"IfNoneMatch": "*"} if not overwrite and self.conditional_put else {}
        try:
            response = self._put_object(full, data, content_type, condition)
        except ClientError as exc:
            if _code(exc) not in _EXISTS_CODES:
                raise self._translate(exc, "write", full) from exc
            # The key was absent a moment ago. If it now holds exactly our bytes, botocore
            # retried an attempt whose response was lost (or a twin wrote the same bytes):
            # the write happened once, which is all write-once promises.
            if self.verify(key, data) != VERIFY_OK:
                raise self._exists_error(key) from exc
            response = {"verified": True}
        except BotoCoreError as exc:
            raise self._translate(exc, "write", full) from exc
        self._verify_put(response, data, full)
        if self.verify_uploads and not response.get("verified"):
            outcome = self.verify(key, data)
            if outcome != VERIFY_OK:
                raise UploadVerificationError(
                    f"upload of s3://{self.bucket}/{full} did not verify ({outcome}): the stored object "
                    "does not match the sha256 of the bytes sent"
                )
        return StoredArtifact(
            key=key,
            uri=self.location(key),
            sha256=digest.hexdigest(),
            size=len(data),
            content_type=content_type,
        )

    def update(self, key: str, change: Change, content_type: str = "application/json") -> bytes:
        full = self._full(key)
        if not self.conditional_put:
            raise StoreError(f"cannot update {self.location(key)} safely: this store was opened without "
                             "conditional writes (If-Match), so a concurrent update could be lost")
        sent: str | None = None  # write id of our last attempt that failed its condition
        for attempt in range(self.update_attempts):
            if attempt:
                self.conflicts += 1
                time.sleep(random.uniform(0, min(_BACKOFF_CAP_S, _BACKOFF_FIRST_S * 2 ** attempt)))
            current = self._read(full)
            if sent is not None and current.write_id == sent:
                # Our last write did land: botocore retried it after its answer was lost, and the
                # retry failed its condition on our own write. Running change again would apply it twice.
                # (If another writer has already written on top of it, this cannot be told and change
                # runs again: the changes here are idempotent or append a timestamped event.)
                assert current.data is not None
                return current.data
            data = change(current.data)
            if data == current.data:
                return data
            if current.data is None:
                condition = {"IfNoneMatch": "*"}
            elif current.etag:
                condition = {"IfMatch": current.etag}
            else:
                raise StoreError(f"cannot update {self.location(key)} safely: the store sent no ETag for it")
            write_id = uuid.uuid4().hex
            try:
                response = self._put_object(full, data, content_type, condition, write_id)
            except ClientError as exc:
                if _code(exc) not in _UPDATE_LOST_CODES:
                    raise self._translate(exc, "update", full) from exc
                sent = write_id
                continue
            except BotoCoreError as exc:
                raise self._translate(exc, "update", full) from exc
            # An update is rewritten whole every few seconds, so it is checked on the answer alone
            # when the answer carries a checksum or an MD5 ETag; HEAD only when it carries neither.
            # A later writer may have replaced our object by then (VERIFY_FOREIGN): that is an
            # update after ours, not a failed upload. Only bytes that claim to be ours and are not count.
            proved = self._verify_put(response, data, full)
            if self.verify_uploads and not proved and self.verify(key, data) == VERIFY_CORRUPT:
                raise UploadVerificationError(
                    f"update of s3://{self.bucket}/{full} did not verify: the stored object does not "
                    "match the sha256 of the bytes sent"
                )
            return data
        if sent is not None and (last := self._read(full)).write_id == sent and last.data is not None:
            return last.data  # the last attempt landed after all, only its answer was lost
        raise StoreConflict(
            f"cannot update {self.location(key)}: another writer changed it first on each of "
            f"{self.update_attempts} attempts; nothing was written, try again"
        )

    def _put_object(self, full: str, data: bytes, content_type: str, condition: dict[str, str],
                    write_id: str | None = None) -> dict[str, Any]:
        """One PutObject with our checksums; botocore errors pass through for the caller to read."""
        digest = hashlib.sha256(data)
        metadata = {_SHA256_META: digest.hexdigest()}
        if write_id is not None:
            metadata[_WRITE_ID_META] = write_id
        response: dict[str, Any] = self._client.put_object(
            Bucket=self.bucket,
            Key=full,
            Body=data,
            ContentType=content_type,
            # S3 recomputes this and rejects the upload (BadDigest) if the bytes were mangled.
            ChecksumSHA256=base64.b64encode(digest.digest()).decode("ascii"),
            # Hex copy readable by people and by get(), independent of the checksum feature.
            Metadata=metadata,
            **self._sse_args,
            **condition,
        )
        return response

    def _read(self, full: str, *, missing_ok: bool = True) -> _Object:
        """The object at ``full``; all None for a missing key if ``missing_ok``, else StoreError.
        Checks the bytes against the sha256 recorded at write time."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=full)
            data: bytes = response["Body"].read()
        except ClientError as exc:
            if missing_ok and _code(exc) in _NOT_FOUND_CODES:
                return _Object(None, None, None)
            raise self._translate(exc, "read", full) from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "read", full) from exc
        metadata = response.get("Metadata") or {}
        expected = metadata.get(_SHA256_META)
        if expected and expected != sha256_bytes(data):
            raise StoreError(
                f"integrity check failed reading s3://{self.bucket}/{full}: "
                "content does not match the sha256 recorded at write time"
            )
        return _Object(data, str(response.get("ETag") or "") or None, metadata.get(_WRITE_ID_META))

    def _verify_put(self, response: dict[str, Any], data: bytes, full: str) -> bool:
        """True when the response itself proved the bytes (an echoed checksum or a plain-MD5 ETag)."""
        # Belt and braces on top of ChecksumSHA256: if S3 echoes a checksum, or the ETag is
        # a plain MD5 (single-part upload, SSE-S3 or no SSE), compare it with what we sent.
        echoed = response.get("ChecksumSHA256")
        if echoed and echoed != base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"):
            raise UploadVerificationError(f"integrity check failed for s3://{self.bucket}/{full}: sha256 mismatch")
        etag = str(response.get("ETag", "")).strip('"')
        md5_etag = self._etag_is_md5(etag)
        if md5_etag and etag != hashlib.md5(data, usedforsecurity=False).hexdigest():
            raise UploadVerificationError(
                f"integrity check failed for s3://{self.bucket}/{full}: ETag does not match the bytes"
            )
        return bool(echoed) or md5_etag

    def _etag_is_md5(self, etag: str) -> bool:
        # S3 ETags are the body's MD5 only for single-part uploads without SSE-KMS.
        return self._sse_args.get("ServerSideEncryption", "AES256") == "AES256" and len(etag) == 32

    def verify(self, key: str, data: bytes) -> str:
        """Compare the object at ``key`` with ``data``: VERIFY_OK, _ABSENT, _FOREIGN (another
        writer's object: its recorded sha256 differs) or _CORRUPT (claims our sha256, holds other
        bytes). Network trouble raises StoreUnavailable like any other call."""
        full = self._full(key)
        digest = hashlib.sha256(data)
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=full, ChecksumMode="ENABLED")
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND_CODES:
                return VERIFY_ABSENT
            raise self._translate(exc, "verify", full) from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "verify", full) from exc
        if (head.get("Metadata") or {}).get(_SHA256_META) != digest.hexdigest():
            return VERIFY_FOREIGN
        if head.get("ContentLength") != len(data):
            return VERIFY_CORRUPT
        checksum = head.get("ChecksumSHA256")
        if checksum:  # computed by S3 from the bytes it stored: the strongest evidence
            return VERIFY_OK if checksum == base64.b64encode(digest.digest()).decode("ascii") else VERIFY_CORRUPT
        etag = str(head.get("ETag", "")).strip('"')
        if len(etag) == 32 and etag == hashlib.md5(data, usedforsecurity=False).hexdigest():
            return VERIFY_OK
        if self._etag_is_md5(etag):
            return VERIFY_CORRUPT
        # No checksum and no usable ETag (an S3-compatible server under SSE-KMS): read it back.
        try:
            stored = self._client.get_object(Bucket=self.bucket, Key=full)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, "verify", full) from exc
        return VERIFY_OK if sha256_bytes(stored) == digest.hexdigest() else VERIFY_CORRUPT

    def get(self, key: str) -> bytes:
        data = self._read(self._full(key), missing_ok=False).data
        assert data is not None  # missing_ok=False raised instead
        return data

    def exists(self, key: str) -> bool:
        full = self._full(key)
        try:
            self._client.head_object(Bucket=self.bucket, Key=full)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND_CODES:
                return False
            raise self._translate(exc, "check", full) from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "check", full) from exc
        return True

    def list(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        full_prefix = f"{self.prefix}/{prefix}" if self.prefix else prefix
        keys: list[str] = []
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
                keys.extend(self._relative(item["Key"]) for item in page.get("Contents", []))
        except ClientError as exc:
            raise self._translate(exc, "list", full_prefix + "*") from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "list", full_prefix + "*") from exc
        return sorted(keys)

    # -- errors -----------------------------------------------------------------------

    def _exists_error(self, key: str) -> ArtifactExistsError:
        return ArtifactExistsError(f"{self.location(key)} already exists; release artifacts are write-once")

    def _translate(self, exc: Exception, action: str, full_key: str | None) -> StoreError:
        message = self._describe(exc, action, full_key)
        return StoreUnavailable(message) if _transient(exc) else StoreError(message)

    def _describe(self, exc: Exception, action: str, full_key: str | None) -> str:
        where = f"s3://{self.bucket}/{full_key}" if full_key is not None else f"s3://{self.bucket}"
        endpoint = _endpoint(self)
        if isinstance(exc, ClientError):
            code = _code(exc)
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
            if code == "NoSuchBucket":
                hint = f"bucket {self.bucket!r} does not exist: create it or fix artifacts.uri"
            elif code in _NOT_FOUND_CODES:
                hint = "no such object"
            elif code in {"AccessDenied", "403", "AllAccessDisabled"}:
                hint = "access denied: check the IAM policy for this bucket/prefix and the active AWS profile"
            elif code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}:
                hint = f"AWS credentials rejected ({code}): refresh them (aws sso login / new keys)"
            elif code in {"KMS.NotFoundException", "KMS.DisabledException", "AccessDeniedException"}:
                hint = f"KMS key unusable ({code}): check LAUNCHGATE_S3_KMS_KEY_ID and the key policy"
            else:
                hint = f"{code or 'error'} (HTTP {status})"
            message = f"S3 {action} {where} failed: {hint}"
        elif isinstance(exc, NoCredentialsError | PartialCredentialsError):
            message = (
                f"S3 {action} {where} failed: no usable AWS credentials; set AWS_PROFILE or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use a local artifacts.uri"
            )
        elif isinstance(exc, NoRegionError):
            message = f"S3 {action} {where} failed: no AWS region; set AWS_REGION or AWS_DEFAULT_REGION"
        elif isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError):
            message = (
                f"S3 {action} {where} failed: cannot reach {endpoint} after {self.max_attempts} attempt(s) "
                f"({type(exc).__name__}); check the network and AWS_ENDPOINT_URL"
            )
        elif isinstance(exc, ReadTimeoutError):
            message = (
                f"S3 {action} {where} failed: {endpoint} did not answer in time after "
                f"{self.max_attempts} attempt(s); raise LAUNCHGATE_S3_READ_TIMEOUT_S or check the endpoint"
            )
        elif isinstance(exc, HTTPClientError | BotoConnectionError):
            message = (
                f"S3 {action} {where} failed: the connection to {endpoint} broke after {self.max_attempts} "
                f"attempt(s) ({type(exc).__name__})"
            )
        else:
            message = f"S3 {action} {where} failed: {type(exc).__name__}: {exc}"
        return _scrub(message)

    def __repr__(self) -> str:
        return f"S3Store({self.uri!r})"


def _sse_args(settings: Settings) -> dict[str, str]:
    mode = (settings.s3_sse or "").strip()
    if mode.lower() in _NO_SSE:
        return {}
    if mode not in _SSE_MODES:
        raise InputError(
            f"LAUNCHGATE_S3_SSE={mode!r} is not supported: use AES256, aws:kms, aws:kms:dsse or none"
        )
    args = {"ServerSideEncryption": mode}
    if mode.startswith("aws:kms") and settings.s3_kms_key_id:
        args["SSEKMSKeyId"] = settings.s3_kms_key_id
    return args


def _transient(exc: Exception) -> bool:
    """True when a later attempt may succeed: network trouble, a 5xx, throttling, a damaged body."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return int(status) >= 500 or int(status) == 429 or _code(exc) in _TRANSIENT_CODES
    # EndpointConnectionError and ConnectTimeoutError are ConnectionErrors; read timeouts and
    # dropped connections are HTTPClientErrors. Credentials/region errors are neither.
    # A TLS failure is configuration (certificates), not an outage: fail loudly.
    return isinstance(exc, BotoConnectionError | HTTPClientError) and not isinstance(exc, SSLError)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _endpoint(store: S3Store) -> str:
    client = getattr(store, "_client", None)
    url = getattr(getattr(client, "meta", None), "endpoint_url", None) or "the S3 endpoint"
    # Drop any user:password@ an endpoint URL might carry.
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url


def _scrub(message: str) -> str:
    # Defence in depth: no template above includes secrets, but a botocore message might.
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        secret = os.environ.get(name)
        if secret and len(secret) >= 4:
            message = message.replace(secret, "***")
    return message
