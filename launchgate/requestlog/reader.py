"""Reading the gateway's request log back: the data of the drift review, the cost review and the budget guard.

The gateway writes ``<service>/logs/requests/<yyyy-mm-dd>/<hh>-<writer>[-<n>].jsonl`` (UTC; see
launchgate/gateway/logwriter.py). A reader lists one folder per day of the asked range, skips
files whose hour lies outside it, and keeps the lines whose ``ts`` falls in ``[start, end)``.

Bad lines (torn writes, hand edits, a writer bug) are counted with a few examples and never stop
a review: one broken line must not hide a week of traffic. Each record is the line's dict plus
``_at``, its parsed timestamp (a reader-side key, not part of the log contract).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from launchgate.errors import StoreError
from launchgate.store import layout
from launchgate.store.base import ArtifactStore

JSONL_TYPE = "application/x-ndjson"
AT = "_at"
MAX_EXAMPLES = 5
_HOUR_FILE = re.compile(r"^(\d{2})-")


@dataclass
class LogRead:
    """What one read returned: the records, and how much of the log could not be used."""

    records: list[dict[str, Any]] = field(default_factory=list)
    files: int = 0
    lines: int = 0
    bad_lines: int = 0
    unreadable_files: int = 0
    bad_examples: list[str] = field(default_factory=list)

    def bad(self, where: str, why: str) -> None:
        self.bad_lines += 1
        if len(self.bad_examples) < MAX_EXAMPLES:
            self.bad_examples.append(f"{where}: {why}")

    def quality(self) -> dict[str, Any]:
        """The counts a report shows next to its numbers."""
        return {"files": self.files, "lines": self.lines, "records": len(self.records), "bad_lines": self.bad_lines,
                "unreadable_files": self.unreadable_files, "bad_examples": list(self.bad_examples)}


def parse_ts(value: Any) -> datetime | None:
    """``2026-11-05T12:34:56.789Z`` (or any ISO form with an offset) -> aware UTC datetime; else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:  # the contract says UTC; a naive stamp is read as UTC rather than dropped
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def num(record: Mapping[str, Any], name: str) -> float | None:
    """A numeric field as float, or None when absent/null/not a number (bools are not numbers here)."""
    value = record.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)



def days_between(start: datetime, end: datetime) -> list[date]:
    """UTC days touched by ``[start, end)``."""
    first, last = start.astimezone(UTC).date(), (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)] if end > start else []


def log_keys(store: ArtifactStore, service: str, start: datetime, end: datetime) -> list[str]:
    """Log objects that may hold lines of ``[start, end)``, by day folder and hour prefix."""
    keys: list[str] = []
    for day in days_between(start, end):
        prefix = layout.requests_prefix(service, day)
        for key in store.list(prefix):
            m = _HOUR_FILE.match(key[len(prefix):])
            if m and "/" not in key[len(prefix):]:
                hour = datetime(day.year, day.month, day.day, int(m.group(1)), tzinfo=UTC)
                if hour + timedelta(hours=1) <= start or hour >= end:
                    continue
            keys.append(key)
    return keys


def parse_lines(data: bytes, where: str, start: datetime, end: datetime, out: LogRead) -> None:
    for n, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        out.lines += 1
        try:
            record = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            out.bad(f"{where}:{n}", "not JSON")
            continue
        if not isinstance(record, dict):
            out.bad(f"{where}:{n}", "not a JSON object")
            continue
        at = parse_ts(record.get("ts"))
        if at is None:
            out.bad(f"{where}:{n}", "missing or unreadable ts")
            continue
        if start <= at < end:
            record[AT] = at
            out.records.append(record)


def read_requests(store: ArtifactStore, service: str, start: datetime, end: datetime) -> LogRead:
    """Every request of ``service`` with ``start <= ts < end`` (aware datetimes), oldest first."""
    out = LogRead()
    for key in log_keys(store, service, start, end):
        try:
            data = store.get(key)
        except (StoreError, OSError) as exc:
            out.unreadable_files += 1
            out.bad(key, f"unreadable ({type(exc).__name__})")
            continue
        out.files += 1
        parse_lines(data, key.rsplit("/", 1)[-1], start, end, out)
    out.records.sort(key=lambda r: r[AT])
    return out


def write_request_lines(store: ArtifactStore, service: str, records: Iterable[Mapping[str, Any]],
                        writer: str = "synthetic") -> list[str]:
    """Append lines to the log in the gateway's layout (synthetic traffic, replays, backfills).

    Not for the gateway's hot path (it has its own buffered writer): this reads and rewrites each
    touched object, which is fine for tests and benchmarks.
    """
    by_key: dict[str, list[bytes]] = {}
    for record in records:
        at = parse_ts(record.get("ts"))
        if at is None:
            raise ValueError(f"record without a valid ts: {dict(record)!r:.200}")
        key = layout.request_log(service, f"{at:%Y-%m-%d}", f"{at:%H}", writer)
        line = json.dumps({k: v for k, v in record.items() if k != AT}, ensure_ascii=False, separators=(",", ":"))
        by_key.setdefault(key, []).append(line.encode("utf-8") + b"\n")
    for key, lines in by_key.items():
        existing = store.get(key) if store.exists(key) else b""
        store.put(key, existing + b"".join(lines), JSONL_TYPE, overwrite=True)
    return sorted(by_key)
