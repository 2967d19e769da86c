"""Artifact stores: where every release step leaves its evidence.

``open_store`` turns the configured ``artifacts.uri`` into a store:

- ``s3://bucket/prefix``       -> S3Store (boto3; endpoint from the standard AWS settings), wrapped
                                 in a SpoolingStore unless LAUNCHGATE_S3_SPOOL=false, so an S3
                                 outage spools writes under LAUNCHGATE_SPOOL_DIR instead of losing them
- ``file:///abs/path``         -> LocalStore
- ``some/path`` or ``/abs``    -> LocalStore (relative paths resolve against the cwd, once)
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from launchgate.errors import InputError
from launchgate.settings import Settings
from launchgate.store.base import ArtifactStore, StoredArtifact, StoreUnavailable, sha256_bytes
from launchgate.store.bundle import ReleaseBundle
from launchgate.store.local import LocalStore
from launchgate.store.spool import FlushReport, SpoolingStore

__all__ = [
    "ArtifactStore", "FlushReport", "LocalStore", "ReleaseBundle", "SpoolingStore", "StoreUnavailable",
    "StoredArtifact", "open_store", "sha256_bytes",
]


def open_store(uri: str, settings: Settings | None = None) -> ArtifactStore:
    """Open the store named by ``uri``; an unsupported or malformed URI raises InputError."""
    text = (uri or "").strip()
    if not text:
        raise InputError("artifacts uri is empty: use s3://bucket/prefix, file:///path or a local path")
    if "://" not in text:
        return LocalStore(Path(text))
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "s3":
        if not parts.netloc:
            raise InputError(f"artifacts uri {uri!r} has no bucket: expected s3://bucket/prefix")
        if parts.query or parts.fragment:
            raise InputError(f"artifacts uri {uri!r}: query strings and fragments are not supported")
        # Imported here so a local-only setup never pays for importing boto3.
        from launchgate.store.s3 import S3Store

        settings = settings or Settings()
        s3 = S3Store(parts.netloc, parts.path.strip("/"), settings)
        if not settings.s3_spool:
            return s3
        return SpoolingStore(s3, settings.spool_dir, retry_s=settings.spool_retry_s)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InputError(f"artifacts uri {uri!r}: file URIs must be local (file:///abs/path)")
        if not parts.path:
            raise InputError(f"artifacts uri {uri!r} has no path: expected file:///abs/path")
        return LocalStore(Path(unquote(parts.path)))
    raise InputError(
        f"artifacts uri {uri!r}: unsupported scheme {parts.scheme!r}; use s3://bucket/prefix, "
        "file:///path or a local path"
    )
