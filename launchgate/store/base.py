"""The artifact store Protocol and the records it returns.

Keys are relative to the store's root (the local folder, or ``s3://bucket/prefix``); release
bundles live under ``<service>/releases/<release_id>/``. Every write returns the sha256 of the
bytes written, which finalize collects into ``index.json``.

Two kinds of write:

* ``put``: evidence. ``overwrite=False`` makes a key write-once: an atomic create (S3
  ``If-None-Match: *``, a hard link locally), so of two racing writers exactly one wins.
* ``update``: service state under ``<service>/state/`` that several processes change (the budget
  day file, the freeze, last_known_good). ``change`` gets the current bytes and returns the new
  ones, and no other write to the key can land in between: S3 writes conditionally (If-Match on
  the ETag it read) and on a conflict calls ``change`` again on the newer bytes; the local store
  holds a file lock across read, change and write. ``change`` must be a pure function of its
  argument, since it may run more than once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from launchgate.errors import StoreError

# "persisted": the store confirmed the bytes (S3: upload verified by checksum).
# "spooled": the bytes wait in the local spool for S3 to come back (see store/spool.py).
ArtifactState = Literal["persisted", "spooled"]
# The new bytes of a state file from its current ones (None: the key does not exist yet).
Change = Callable[[bytes | None], bytes]


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

    def update(self, key: str, change: Change, content_type: str = "application/json") -> bytes:
        """Replace the bytes at ``key`` with ``change(current)`` without losing a concurrent update;
        returns the bytes now stored. If ``change`` returns ``current`` unchanged, nothing is written.

        Raises StoreConflict when other writers kept winning for the store's whole retry (or lock)
        budget, StoreUnavailable when the store cannot be reached (updates are never spooled: the
        current bytes are needed to compute the new ones), and whatever ``change`` raises.
        """
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
