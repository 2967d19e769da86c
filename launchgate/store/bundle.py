"""A release's evidence bundle: every artifact under ``<service>/releases/<release_id>/``.

Bundles are write-once (``overwrite=False`` on every put), so evidence a person approved
cannot change underneath them. ``write_index`` records the sha256 of each artifact in
``index.json`` for the release review and ``launchgate audit``.

A resumed release (``launchgate release --resume ID``, launchgate/release/resume.py) runs its steps
again as attempt n >= 2: their artifacts go under ``attempts/<n>/`` so the first attempt's
evidence is never overwritten, while the release's own records (``RELEASE_NAMES``: the manifest
of attempt 1, and the decision, review, notifications and index of whichever attempt finishes)
stay at the top, each written once.

On a spooling store (S3 with a local spool, store/spool.py) an artifact may be "spooled"
rather than "persisted": ``pending`` names those, and the index records each artifact's state
as of the moment it was written, after one more flush attempt.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Iterable
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel

from launchgate.store import layout
from launchgate.store.base import ArtifactStore, StoredArtifact, StoreUnavailable, sha256_bytes
from launchgate.store.keys import check_key

INDEX_NAME = "index.json"
JSON_TYPE = "application/json"
JSONL_TYPE = "application/x-ndjson"
TEXT_TYPE = "text/plain; charset=utf-8"
# Written once per release (not per attempt): they never move under attempts/<n>/.
RELEASE_NAMES = frozenset({"manifest.json", "decision.json", "decision.md", "review.json", "review.md",
                           "notifications.jsonl", INDEX_NAME, "report.html"})


def attempt_prefix(attempt: int) -> str:
    """Where attempt ``attempt`` writes its step evidence, relative to the bundle's base."""
    return "" if attempt <= 1 else f"attempts/{attempt}/"


def _json_default(obj: Any) -> Any:
    # Pydantic models nested inside plain dicts/lists still serialise like model_dump(mode="json").
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    return str(obj)


def to_json_bytes(obj: Any) -> bytes:
    """The one JSON encoding of evidence: stable key order, readable, UTF-8, trailing newline."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def to_jsonl_bytes(rows: Iterable[Any]) -> bytes:
    lines = []
    for row in rows:
        if isinstance(row, BaseModel):
            row = row.model_dump(mode="json")
        lines.append(json.dumps(row, sort_keys=True, default=_json_default, ensure_ascii=False))
    return "".join(line + "\n" for line in lines).encode("utf-8")


class ReleaseBundle:
    def __init__(self, store: ArtifactStore, service: str, release_id: str, *, attempt: int = 1) -> None:
        self.store = store
        self.service = service
        self.release_id = release_id
        self.attempt = attempt
        self.base = layout.release_prefix(service, release_id)
        self.prefix = attempt_prefix(attempt)
        self.artifacts: list[StoredArtifact] = []
        self.index: StoredArtifact | None = None

    def key(self, name: str) -> str:
        return self.base + self.path(name)

    def path(self, name: str) -> str:
        """``name`` as it sits in the bundle: under this attempt's prefix unless it is a release record."""
        check_key(name)
        return name if name in RELEASE_NAMES else self.prefix + name

    def exists(self, name: str) -> bool:
        return self.store.exists(self.key(name))

    def location(self, name: str) -> str:
        return self.store.location(self.key(name))

    def put_bytes(
        self, name: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> StoredArtifact:
        stored = self.store.put(self.key(name), data, content_type, overwrite=False)
        self.artifacts.append(stored)
        return stored

    def put_text(self, name: str, text: str, content_type: str = TEXT_TYPE) -> StoredArtifact:
        return self.put_bytes(name, text.encode("utf-8"), content_type)

    def put_json(self, name: str, obj: Any) -> StoredArtifact:
        return self.put_bytes(name, to_json_bytes(obj), JSON_TYPE)

    def put_jsonl(self, name: str, rows: Iterable[Any]) -> StoredArtifact:
        return self.put_bytes(name, to_jsonl_bytes(rows), JSONL_TYPE)

    def name_of(self, artifact: StoredArtifact) -> str:
        return artifact.key.removeprefix(self.base)

    @property
    def pending(self) -> list[str]:
        """Names of this bundle's artifacts still waiting in the spool (empty on other stores)."""
        spooled = getattr(self.store, "pending", None)
        return [key.removeprefix(self.base) for key in spooled(self.base)] if spooled else []

    def flush(self) -> list[str]:
        """Try to upload anything spooled (any release's); return this bundle's names still pending."""
        flush = getattr(self.store, "flush", None)
        if flush is not None:
            flush()
        return self.pending

    def write_index(self, *, include_existing: bool = True) -> StoredArtifact:
        """Write ``index.json`` listing every artifact with its sha256, and return it.

        ``include_existing`` also indexes artifacts this object did not write (steps run as
        separate Prefect tasks, possibly in other processes, each with their own bundle
        object); their sha256 is computed from the stored bytes. index.json never lists
        itself and is not added to ``artifacts``.

        Each entry's ``state`` is "persisted" or "spooled"; ``pending`` lists the spooled names.
        If the store cannot list (S3 down), the index holds what this object wrote and says so
        with ``"listing": "partial"``.
        """
        pending = set(self.flush())
        entries = {a.key: a for a in self.artifacts}
        listing = "complete" if include_existing else "this-writer"
        keys: list[str] = []
        if include_existing:
            try:
                keys = self.store.list(self.base)
            except StoreUnavailable:
                listing = "partial"
                keys = [self.key(name) for name in pending]
            for key in keys:
                if key not in entries and key != self.key(INDEX_NAME):
                    data = self.store.get(key)
                    guessed = mimetypes.guess_type(key)[0] or "application/octet-stream"
                    entries[key] = StoredArtifact(
                        key=key,
                        uri=self.store.location(key),
                        sha256=sha256_bytes(data),
                        size=len(data),
                        content_type=guessed,
                    )
        index = {
            "release_id": self.release_id,
            "service": self.service,
            "created_at": datetime.now(UTC),
            "listing": listing,
            "pending": sorted(self.name_of(a) for a in entries.values() if self.name_of(a) in pending),
            "artifacts": [
                {
                    "name": self.name_of(a),
                    "key": a.key,
                    "sha256": a.sha256,
                    "size": a.size,
                    "content_type": a.content_type,
                    # From the spool, not from the artifact: an early write may have been
                    # spooled and flushed since, and nothing spooled is ever called persisted.
                    "state": "spooled" if self.name_of(a) in pending else "persisted",
                }
                for a in sorted(entries.values(), key=lambda a: a.key)
            ],
        }
        self.index = self.store.put(self.key(INDEX_NAME), to_json_bytes(index), JSON_TYPE, overwrite=False)
        return self.index
