"""The artifact store Protocol and the records it returns.

Keys are relative to the store's root (the local folder, or ``s3://bucket/prefix``); release
bundles live under ``<service>/releases/<release_id>/``. Every write returns the sha256 of the
bytes written, which finalize collects into ``index.json``.
"""

from __future__ import annotations

import hashlib
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from launchgate.errors import StoreError

# "persisted": the store confirmed the bytes (S3: upload verified by checksum).
# "spooled": the bytes wait in the local spool for S3 to come back (see store/spool.py).
ArtifactState = Literal["persisted", "spooled"]


class StoredArtifact(BaseModel):
    key: str
    uri: str
    sha256: str
    size: int
    content_type: str
    state: ArtifactState = "persisted"


class StoreUnavailable(StoreError):
    """The store could not take the write *now* (unreachable, 5xx, throttled, timed out) after
    the client's bounded retries; the same write may succeed later. SpoolingStore spools on it."""


class UploadVerificationError(StoreUnavailable):
    """The upload went through but the stored object does not match the bytes sent (checksum,
    ETag or read-back mismatch). Retrying later is the remedy, so it is also 'unavailable'."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@runtime_checkable
class ArtifactStore(Protocol):
    uri: str

    def put(
        self, key: str, data: bytes, content_type: str = "application/octet-stream", *, overwrite: bool = True
    ) -> StoredArtifact:
        """Write ``data`` at ``key``. With ``overwrite=False`` an existing key raises ArtifactExistsError."""
        ...

    def get(self, key: str) -> bytes:
        """Read ``key``; a missing key raises StoreError (subclass KeyNotFound semantics via message)."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (relative to the store root), sorted."""
        ...

    def location(self, key: str) -> str:
        """A URI a person can open for ``key`` (file path or s3:// URI)."""
        ...
