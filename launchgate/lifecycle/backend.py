"""What retention needs from a store beyond the ArtifactStore protocol: delete a key, tell whether
object lock holds it, read the bucket's lifecycle rules, and reach the local spool.

The artifact store itself never deletes (evidence is write-once); only the retention deployment
and ``launchgate data delete`` do, through this module. It is the boundary where boto3's errors
become StoreError for these calls.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from launchgate.errors import StoreError
from launchgate.store.base import ArtifactStore
from launchgate.store.local import LocalStore
from launchgate.store.spool import Spool, SpoolingStore

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 20.0
MAX_ATTEMPTS = 4


class Backend(Protocol):
    kind: str

    def delete(self, key: str) -> None: ...

    def retained_until(self, key: str) -> datetime | None:
        """The object-lock retain-until date (or far future under a legal hold) if it holds the key now."""
        ...

    def lifecycle_rules(self) -> list[dict[str, Any]] | None:
        """The bucket's lifecycle rules (None: not an object store, nothing to compare)."""
        ...

    def full_key(self, key: str) -> str: ...


@dataclass
class LocalBackend:
    store: LocalStore
    kind: str = "local"

    def delete(self, key: str) -> None:
        path = Path(self.store.location(key))
        try:
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # an emptied day folder goes too (never a non-empty one)
                path.parent.rmdir()
        except OSError as exc:
            raise StoreError(f"cannot delete {key} under {self.store.root}: {exc.strerror or exc}") from exc

    def retained_until(self, key: str) -> datetime | None:
        return None

    def lifecycle_rules(self) -> list[dict[str, Any]] | None:
        return None

    def full_key(self, key: str) -> str:
        return key


class S3Backend:
    kind = "s3"

    def __init__(self, bucket: str, prefix: str, client: Any | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._client = client or _client()

    def full_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, action: str, key: str | None, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.bucket, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__
            where = f"s3://{self.bucket}/{self.full_key(key)}" if key else f"s3://{self.bucket}"
            raise StoreError(f"cannot {action} {where}: {code}") from exc

    def delete(self, key: str) -> None:
        self._call("delete", key, self._client.delete_object, Key=self.full_key(key))

    def retained_until(self, key: str) -> datetime | None:
        # head_object, not get_object_retention: it carries both the lock date and the legal hold.
        head = self._call("inspect", key, self._client.head_object, Key=self.full_key(key))
        if head.get("ObjectLockLegalHoldStatus") == "ON":
            return datetime.max.replace(tzinfo=UTC)
        until = head.get("ObjectLockRetainUntilDate")
        if isinstance(until, datetime) and until > datetime.now(UTC):
            return until
        return None

    def lifecycle_rules(self) -> list[dict[str, Any]]:
        from botocore.exceptions import ClientError

        try:
            return list(self._client.get_bucket_lifecycle_configuration(Bucket=self.bucket).get("Rules", []))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
                return []
            raise StoreError(f"cannot read the lifecycle rules of s3://{self.bucket}: "
                             f"{exc.response.get('Error', {}).get('Code', '')}") from exc


def _client() -> Any:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
                    retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS})
    return boto3.session.Session().client("s3", config=config)


def open_backend(store: ArtifactStore) -> Backend:
    inner = store.inner if isinstance(store, SpoolingStore) else store
    if isinstance(inner, LocalStore):
        return LocalBackend(inner)
    bucket, prefix = getattr(inner, "bucket", None), getattr(inner, "prefix", None)
    if isinstance(bucket, str) and isinstance(prefix, str):
        return S3Backend(bucket, prefix)
    raise StoreError(f"retention cannot delete from {store.uri}: only local and S3 stores are supported")


def spool_of(store: ArtifactStore) -> Spool | None:
    return store.spool if isinstance(store, SpoolingStore) else None
