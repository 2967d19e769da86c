"""Key hygiene shared by every store implementation.

A key is a relative, '/'-separated path. Both stores reject the same keys so that a bundle
that works against the local directory cannot fail later against S3 (or escape the local
root through ``..``).
"""

from __future__ import annotations

from launchgate.errors import StoreError


def check_key(key: str) -> str:
    """Return ``key`` unchanged if it is a safe relative key, else raise StoreError."""
    if not isinstance(key, str) or not key:
        raise StoreError(f"invalid artifact key {key!r}: expected a non-empty relative path")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise StoreError(f"invalid artifact key {key!r}: use a relative path with '/' separators")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise StoreError(f"invalid artifact key {key!r}: empty, '.' or '..' path segments are not allowed")
    return key


def check_prefix(prefix: str) -> str:
    """A list prefix may be empty or end in '/', but must not climb out of the root."""
    if prefix == "":
        return prefix
    check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix
