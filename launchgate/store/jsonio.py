"""The one JSON reader of stored objects, with one error policy.

``get_json`` raises: a missing key is ``StoreError`` (as ``store.get`` raises it) and an object
that is not valid UTF-8 JSON is ``MalformedObjectError`` naming the key. ``find_json`` is the
same read for objects that may legitimately be absent: None when missing, the same errors otherwise.
Callers that must never fail (a chart, a summary line) catch ``StoreError`` themselves and say so.
"""

from __future__ import annotations

import json
from typing import Any

from launchgate.errors import MalformedObjectError
from launchgate.store.base import ArtifactStore


def parse_json(data: bytes, key: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedObjectError(f"{key} is not valid JSON ({exc}): restore it from the bucket's versions "
                                   f"or remove it") from exc


def get_json(store: ArtifactStore, key: str) -> Any:
    """The parsed object at ``key``; StoreError when it is missing or malformed."""
    return parse_json(store.get(key), key)


def find_json(store: ArtifactStore, key: str) -> Any | None:
    """The parsed object at ``key``, or None when there is none; a malformed object still raises."""
    if not store.exists(key):
        return None
    return get_json(store, key)


def get_object(store: ArtifactStore, key: str) -> dict[str, Any]:
    """``get_json`` for objects that must be a JSON object (every state file and record)."""
    data = get_json(store, key)
    if not isinstance(data, dict):
        raise MalformedObjectError(f"{key} holds a JSON {type(data).__name__}, not an object: restore it from "
                                   f"the bucket's versions or remove it")
    return data


def find_object(store: ArtifactStore, key: str) -> dict[str, Any] | None:
    return get_object(store, key) if store.exists(key) else None


def read_jsonl(store: ArtifactStore, key: str) -> list[dict[str, Any]]:
    """The JSON objects of the JSONL object at ``key``, one per line. A line that is not a JSON object is
    skipped, not fatal: a writer that died mid-flush leaves a torn last line, and the rest still counts."""
    out: list[dict[str, Any]] = []
    for line in store.get(key).decode("utf-8", "replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out
