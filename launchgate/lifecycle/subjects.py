"""Export and deletion of one end user's data ("subject"), found by the HMAC of their id.

The request log holds ``subject_hmac`` (privacy/logpolicy.py). A subject's rows are the log lines
with that HMAC, and the queue items, feedback and bundle rows that carry the HMAC or the
``request_id`` of one of those lines. The subject's id itself is never stored or written anywhere:
callers pass its HMAC.

Deletion rewrites each affected file without those rows (lifecycle/rows.py: atomic, verified,
every other line byte-identical). Files of the last ``OPEN_HOURS`` hours are still being appended
to by the gateway and are left for a later run: the receipt lists them as deferred.

Evidence bundles are write-once and indexed: a bundle artifact holding the subject's rows is
rewritten like a log file, ``index.json`` is left as approved, and an erasure record
(lifecycle/erasure.py) maps each indexed sha256 to the new one, so ``verify_index`` still proves
the bundle untampered. Under S3 object lock the previous version stays until its lock ends; the
receipt says so.

The receipt (``state/data_requests/<stamp>-delete.json``) holds who, why, when, a short reference of
the HMAC, and per file the row counts and sha256 before and after: no row, no id.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from launchgate.config import ReleaseConfig
from launchgate.config.datapolicy import SUBJECT_FIELD
from launchgate.errors import LaunchgateError, StoreError
from launchgate.lifecycle.columnar import parquet_sources
from launchgate.lifecycle.erasure import ErasedArtifact, ErasureRecord, write_erasure
from launchgate.lifecycle.retention import key_end
from launchgate.lifecycle.rows import JsonlSource, Rewrite, Row, RowSource
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import JSON_TYPE, to_json_bytes
from launchgate.store.jsonio import find_object

OPEN_HOURS = 2  # the gateway's writer keeps the current and the previous hour open (gateway/logwriter.py)
REF_CHARS = 16


def log_sources(store: ArtifactStore, service: str) -> list[RowSource]:
    """The request log first (JSONL hours, then columnar partitions): its rows give the request ids that
    find the rest."""
    return [JsonlSource(store, layout.requests_prefix(service), "request_log"), *parquet_sources(store, service)]


def other_sources(store: ArtifactStore, service: str) -> list[RowSource]:
    return [JsonlSource(store, layout.handoff_prefix(service), "handoff"),
            JsonlSource(store, layout.quality_prefix(service), "quality"),
            JsonlSource(store, layout.releases_prefix(service), "bundle")]


@dataclass
class Matcher:
    """Rows of the subject: their HMAC, or a request id of one of their logged requests."""

    digest: str
    request_ids: set[str] = field(default_factory=set)

    def __call__(self, row: Row) -> bool:
        return row.get(SUBJECT_FIELD) == self.digest or (
            isinstance(row.get("request_id"), str) and row["request_id"] in self.request_ids)


def find(store: ArtifactStore, service: str, match: Matcher) -> Iterator[tuple[RowSource, str, Row]]:
    """Every row of the subject: (source, key, row), the request log first (its rows add their ids to
    ``match``, which then finds the queue, feedback and bundle rows of those requests)."""
    for source in log_sources(store, service) + other_sources(store, service):
        for key in source.files():
            for row in source.rows(key):
                if match(row):
                    if row.get(SUBJECT_FIELD) == match.digest and isinstance(row.get("request_id"), str):
                        match.request_ids.add(row["request_id"])
                    yield source, key, row


def export_subject(store: ArtifactStore, service: str, digest: str, out: Path) -> dict[str, int]:
    """Write the subject's rows to ``out`` as JSONL (``_source`` and ``_kind`` added), atomically; counts per kind."""
    counts: dict[str, int] = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".export-", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            seen: set[str] = set()  # a compacted hour's lines are in its JSONL and its Parquet part: once
            for source, key, row in find(store, service, Matcher(digest)):
                rid = row.get("request_id")
                if source.kind == "request_log" and isinstance(rid, str):
                    if rid in seen:
                        continue
                    seen.add(rid)
                fh.write(json.dumps({**row, "_kind": source.kind, "_source": key}, ensure_ascii=False) + "\n")
                counts[source.kind] = counts.get(source.kind, 0) + 1
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return counts


def _is_open(key: str, now: datetime) -> bool:
    ends = key_end(key)
    return ends is not None and ends > now - timedelta(hours=OPEN_HOURS - 1) and "/requests/" in key


def delete_subject(store: ArtifactStore, config: ReleaseConfig, digest: str, *, by: str, reason: str,
                   now: datetime | None = None) -> tuple[str, dict[str, Any]]:
    """Rewrite every affected file without the subject's rows; returns the receipt's key and the receipt."""
    now = now or datetime.now(UTC)
    service = config.service
    match = Matcher(digest)
    rewrites: list[tuple[str, Rewrite]] = []
    deferred: list[str] = []
    # Ids first (they find the queue and bundle rows), then every file that holds a matching row.
    hits: dict[str, RowSource] = {}
    for source, key, _ in find(store, service, match):
        hits.setdefault(key, source)
    erased: dict[str, list[ErasedArtifact]] = {}
    receipt_key = layout.data_receipt(service, now, "delete")
    lock_note = ("S3 object lock or versioning keeps each file's previous version until its lock or the bucket's "
                 "noncurrent-version rule ends it" if not store.uri.startswith("file:") else None)
    failure: str | None = None
    for key, source in hits.items():
        if _is_open(key, now):
            deferred.append(key)
            continue
        try:
            result = source.rewrite(key, match)
        except LaunchgateError as exc:  # the files done so far stay done; the receipt says where it stopped
            failure = f"{key}: {exc}"
            break
        rewrites.append((source.kind, result))
        if source.kind == "bundle":
            bundle = _bundle_base(service, key)
            before = _indexed(store, bundle, key)
            if before is not None:
                erased.setdefault(bundle, []).append(ErasedArtifact(
                    name=key[len(bundle):], sha256_before=before, sha256_after=result.sha256_after,
                    rows_removed=result.removed))
    for bundle, artifacts in erased.items():
        write_erasure(store, bundle, ErasureRecord(at=now, why="subject_deletion", authorised_by=by,
                                                   receipt=receipt_key, object_lock=lock_note, artifacts=artifacts))
    receipt = {
        "action": "delete", "service": service, "at": now.isoformat(), "by": by, "reason": reason,
        "subject_ref": digest[:REF_CHARS], "verified": failure is None, "stopped_at": failure,
        "rows_removed": sum(r.removed for _, r in rewrites),
        "files": [{"kind": kind, "key": r.key, "rows_before": r.rows_before, "rows_after": r.rows_after,
                   "sha256_before": r.sha256_before, "sha256_after": r.sha256_after} for kind, r in rewrites],
        "deferred_open_files": deferred, "bundles_with_erasure_records": sorted(erased),
        "object_lock_note": lock_note,
    }
    store.put(receipt_key, to_json_bytes(receipt), JSON_TYPE, overwrite=False)
    if failure is not None:
        raise StoreError(f"deletion stopped at {failure}; {len(rewrites)} file(s) done and listed in "
                         f"{store.location(receipt_key)}. Rerun the same command: done files have no rows to remove")
    return receipt_key, receipt


def _bundle_base(service: str, key: str) -> str:
    base = layout.releases_prefix(service)
    return base + key[len(base):].split("/", 1)[0] + "/"


def _indexed(store: ArtifactStore, bundle: str, key: str) -> str | None:
    for entry in (find_object(store, bundle + "index.json") or {}).get("artifacts", []):
        if entry.get("key") == key:
            return str(entry.get("sha256"))
    return None
