"""Row sources: where a subject's rows can be, read and rewritten behind one small interface.

A ``RowSource`` lists its files, reads a file's rows and rewrites a file without the rows a
predicate picks. The JSONL source covers the request log (``logs/requests/``), the handoff and
quality queues and the JSONL artifacts of evidence bundles; a columnar source (Parquet partitions)
plugs in beside it with the same three calls.

A JSONL rewrite keeps every other line byte for byte (so their checksums do not change), goes
through ``ArtifactStore.update`` (local: file lock + atomic rename; S3: If-Match, so a concurrent
writer's version is never silently replaced), and is verified by reading the file back: the stored
sha256 must be the one computed, the row count must be the old count minus the removed rows, and
no removed row may remain. A failed verification raises StoreError.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from launchgate.errors import StoreError
from launchgate.store.base import ArtifactStore, sha256_bytes
from launchgate.store.bundle import JSONL_TYPE

Row = dict[str, Any]
Predicate = Callable[[Row], bool]


@dataclass(frozen=True)
class Rewrite:
    key: str
    rows_before: int
    rows_after: int
    sha256_before: str
    sha256_after: str | None

    @property
    def removed(self) -> int:
        return self.rows_before - self.rows_after


class RowSource(Protocol):
    kind: str

    def files(self) -> list[str]: ...

    def rows(self, key: str) -> Iterator[Row]: ...

    def rewrite(self, key: str, drop: Predicate) -> Rewrite: ...


def _split(data: bytes) -> Iterator[tuple[bytes, Row | None]]:
    for raw in data.splitlines(keepends=True):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            row = None  # a torn or foreign line: never matched, always kept
        yield raw if raw.endswith(b"\n") else raw + b"\n", row if isinstance(row, dict) else None


@dataclass
class JsonlSource:
    store: ArtifactStore
    prefix: str
    kind: str
    suffixes: tuple[str, ...] = (".jsonl",)

    def files(self) -> list[str]:
        return [k for k in self.store.list(self.prefix) if k.endswith(self.suffixes)]

    def rows(self, key: str) -> Iterator[Row]:
        for _, row in _split(self.store.get(key)):
            if row is not None:
                yield row

    def rewrite(self, key: str, drop: Predicate) -> Rewrite:
        seen: dict[str, Any] = {}

        def change(current: bytes | None) -> bytes:
            data = current or b""
            kept, before = [], 0
            for raw, row in _split(data):
                before += 1
                if row is None or not drop(row):
                    kept.append(raw)
            out = b"".join(kept)
            seen.update(before=before, after=len(kept), sha_before=sha256_bytes(data), data=out)
            return out if len(kept) != before else data

        stored = self.store.update(key, change, JSONL_TYPE)
        expected: bytes = seen["data"]
        check = self.store.get(key)
        if sha256_bytes(check) != sha256_bytes(expected) or stored != expected:
            raise StoreError(f"rewrite of {self.store.location(key)} not verified: the stored bytes differ from "
                             "the rewritten file (a concurrent writer?); nothing was lost, rerun the deletion")
        left = list(_split(check))
        if len(left) != seen["after"] or any(row is not None and drop(row) for _, row in left):
            raise StoreError(f"rewrite of {self.store.location(key)} not verified: rows of the subject remain")
        return Rewrite(key=key, rows_before=seen["before"], rows_after=seen["after"],
                       sha256_before=seen["sha_before"], sha256_after=sha256_bytes(check))
