"""Compaction: closed hours of the JSONL request log -> one verified Parquet file per hour.

For one hour of one service (every writer's ``<hh>-<writer>[-<n>].jsonl`` of that day folder):

1. read the JSONL objects, parse them with the reader's rules (columns.py), sort by ``ts``;
2. write ``date=<day>/hour=<hh>/part-0.parquet`` (zstd, row-group statistics, a Bloom filter on
   ``request_id``) in one put: atomic on both stores, and the fixed name means a rerun replaces it;
3. read the stored file back and verify it: row count and a checksum of the request ids equal to
   the JSONL's valid lines; a mismatch writes no record and raises CompactionError;
4. write the hour's commit record ``logs/compaction/<day>/<hh>.json``: the sources (key, size,
   sha256), rows, bad lines, checksum, the part file.

The record is the commit point. Readers use the Parquet file of an hour only through its record,
and read any JSONL of that hour the record does not list (a late writer) as JSONL, so a crash at
any step leaves the log readable with every line exactly once, and a rerun finishes the job:
an hour whose record lists exactly the current sources with the same bytes is skipped.

The JSONL stays where it is. Deleting it is retention's job, which must only delete sources a
verified record lists (``record.verified``) and older than the retention period (docs/logs.md).
If retention removed some of an hour's sources and a late file appears, the rerun merges the
existing Parquet rows with the new file rather than losing the deleted sources' rows.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from launchgate.errors import LaunchgateError, StoreError
from launchgate.requestlog.columns import SCHEMA, Parsed, parse_jsonl, table_checksum
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import JSON_TYPE
from launchgate.store.jsonio import find_object
from launchgate.verdicts import Phase, StepResult, Verdict

PARQUET_TYPE = "application/vnd.apache.parquet"
ROW_GROUP_ROWS = 128 * 1024
_HOUR_FILE = re.compile(r"^(\d{2})-[^/]*\.jsonl$")


class CompactionError(LaunchgateError):
    """A written Parquet file did not match its JSONL: nothing was recorded, the JSONL is untouched."""


class SourceFile(BaseModel):
    key: str
    size: int
    sha256: str


class CompactionRecord(BaseModel):
    """What one compacted hour holds; readers trust the part file only through this record."""

    service: str
    day: str
    hour: str
    part: str = Field(description="store key of the hour's Parquet file")
    part_sha256: str
    rows: int
    bad_lines: int
    null_ts_rows: int = Field(default=0, description="rows kept without a readable ts (also among bad_lines)")
    request_id_sha256: str = Field(description="sha256 of the sorted request ids (columns.request_id_checksum)")
    sources: list[SourceFile]
    merged_rows: int = Field(default=0, description="rows carried over from an earlier part whose JSONL was deleted")
    verified: bool
    compacted_at: datetime
    rewrites: list[dict[str, str]] = Field(default_factory=list, description="partition rewrites (who, why, when)")


@dataclass
class HourOutcome:
    day: str
    hour: str
    status: Literal["compacted", "unchanged", "empty"]
    rows: int = 0
    bad_lines: int = 0
    sources: int = 0


def hour_files(store: ArtifactStore, service: str, day: date | str) -> dict[str, list[str]]:
    """``hh`` -> the day's JSONL keys of that hour (files not named ``<hh>-...`` are left to the readers)."""
    prefix = layout.requests_prefix(service, day)
    out: dict[str, list[str]] = {}
    for key in store.list(prefix):
        m = _HOUR_FILE.match(key[len(prefix):])
        if m:
            out.setdefault(m.group(1), []).append(key)
    return out


def read_record(store: ArtifactStore, service: str, day: date | str, hour: str | int) -> CompactionRecord | None:
    data = find_object(store, layout.compaction_record(service, day, hour))
    return None if data is None else CompactionRecord.model_validate(data)


def parquet_bytes(table: pa.Table) -> bytes:
    """zstd, statistics on, a Bloom filter on request_id: ``launchgate audit`` skips files by it."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", write_statistics=True, row_group_size=ROW_GROUP_ROWS,
                   bloom_filter_options={"request_id": {"ndv": max(table.num_rows, 1), "fpp": 0.01}})
    return sink.getvalue()


def _sources(store: ArtifactStore, keys: list[str]) -> tuple[list[SourceFile], list[bytes]]:
    files, blobs = [], []
    for key in sorted(keys):
        data = store.get(key)
        files.append(SourceFile(key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest()))
        blobs.append(data)
    return files, blobs


def write_part(store: ArtifactStore, key: str, table: pa.Table) -> str:
    """Put the table at ``key`` and read it back: rows and request-id checksum must match; returns its sha256."""
    data = parquet_bytes(table)
    store.put(key, data, PARQUET_TYPE, overwrite=True)
    stored = store.get(key)
    back = pq.read_table(io.BytesIO(stored))
    want, got = table_checksum(table), table_checksum(back)
    if back.num_rows != table.num_rows or want != got:
        raise CompactionError(f"{store.location(key)} does not match what was written: {back.num_rows} rows "
                              f"(want {table.num_rows}), request-id checksum {got[:12]} (want {want[:12]}); "
                              f"no record written, the JSONL is untouched: rerun the compaction")
    return hashlib.sha256(stored).hexdigest()


def compact_hour(store: ArtifactStore, service: str, day: date | str, hour: str | int,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> HourOutcome:
    """Compact one hour (idempotent: an hour already compacted from the same bytes is left alone)."""
    d, h = (f"{day:%Y-%m-%d}" if isinstance(day, date) else day), f"{int(hour):02d}"
    keys = hour_files(store, service, d).get(h, [])
    record = read_record(store, service, d, h)
    files, blobs = _sources(store, keys)
    if record is not None and {(f.key, f.sha256) for f in files} <= \
            {(f.key, f.sha256) for f in record.sources} and store.exists(record.part):
        return HourOutcome(d, h, "unchanged", record.rows, record.bad_lines, len(files))
    parsed = Parsed()
    carried: pa.Table | None = None
    if record is not None and store.exists(record.part):
        gone = {f.key for f in record.sources} - set(keys)
        if gone:  # retention deleted some sources: their rows live only in the part file now
            old = pq.read_table(io.BytesIO(store.get(record.part)))
            carried = old.filter(pa.compute.is_in(old.column("source_key"), pa.array(sorted(gone))))
    for f, data in zip(files, blobs, strict=True):
        parse_jsonl(data, f.key, parsed)
    del blobs
    table = parsed.table()
    if carried is not None and carried.num_rows:
        table = pa.concat_tables([carried.cast(SCHEMA), table])
    if not table.num_rows and not files:
        return HourOutcome(d, h, "empty")
    table = table.sort_by("ts")
    part = layout.requests_parquet_part(service, d, h)
    part_sha = write_part(store, part, table)
    new = CompactionRecord(service=service, day=d, hour=h, part=part, part_sha256=part_sha, rows=table.num_rows,
                           bad_lines=parsed.bad_lines + (record.bad_lines if carried is not None else 0),
                           null_ts_rows=table.column("ts").null_count,
                           request_id_sha256=table_checksum(table), sources=files,
                           merged_rows=0 if carried is None else carried.num_rows, verified=True,
                           compacted_at=now(), rewrites=record.rewrites if record else [])
    store.put(layout.compaction_record(service, d, h), new.model_dump_json(indent=1).encode(), JSON_TYPE,
              overwrite=True)
    return HourOutcome(d, h, "compacted", new.rows, new.bad_lines, len(files))


def pending_hours(store: ArtifactStore, service: str, now: datetime, *, grace: timedelta,
                  lookback: timedelta) -> list[tuple[str, str]]:
    """Closed hours (ended ``grace`` ago) within ``lookback`` with a JSONL file their record does not list."""
    cutoff = now - grace
    out: list[tuple[str, str]] = []
    day = (now - lookback).date()
    while day <= cutoff.date():
        for h, keys in sorted(hour_files(store, service, day).items()):
            end = datetime(day.year, day.month, day.day, int(h), tzinfo=UTC) + timedelta(hours=1)
            if end > cutoff:
                continue
            try:
                record = read_record(store, service, day, h)
            except (StoreError, ValueError):
                record = None  # an unreadable record is rewritten by compacting again
            if record is None or not set(keys) <= {f.key for f in record.sources}:
                out.append((f"{day:%Y-%m-%d}", h))
        day += timedelta(days=1)
    return out


def compact(store: ArtifactStore, service: str, now: datetime, *, grace: timedelta = timedelta(minutes=30),
            lookback: timedelta = timedelta(days=7),
            on_progress: Callable[[int, int], None] | None = None) -> list[HourOutcome]:
    """Compact every pending closed hour, oldest first; returns what each hour did."""
    hours = pending_hours(store, service, now, grace=grace, lookback=lookback)
    out = []
    for i, (d, h) in enumerate(hours, start=1):
        out.append(compact_hour(store, service, d, h))
        if on_progress:
            on_progress(i, len(hours))
    return out


def compaction_step(store: ArtifactStore, service: str, now: datetime, *, grace: timedelta = timedelta(minutes=30),
                    lookback: timedelta = timedelta(days=7),
                    on_progress: Callable[[int, int], None] | None = None) -> StepResult:
    """The scheduled compaction as a step: every pending closed hour, one verdict, a table per hour.

    A failed hour (unreadable source, a part that did not verify) is an error verdict naming it;
    the other hours still compact, and the next run retries the failed one.
    """
    hours = pending_hours(store, service, now, grace=grace, lookback=lookback)
    done: list[HourOutcome] = []
    failed: list[str] = []
    for i, (d, h) in enumerate(hours, start=1):
        try:
            done.append(compact_hour(store, service, d, h))
        except (CompactionError, StoreError) as exc:
            failed.append(f"{d} {h}:00: {exc}")
        if on_progress:
            on_progress(i, len(hours))
    rows = sum(o.rows for o in done if o.status == "compacted")
    if failed:
        verdict = Verdict(check="log_compaction", phase=Phase.ERROR, value=len(failed), threshold=0,
                          reason=f"{len(failed)} of {len(hours)} closed hours of {service}'s request log did not "
                                 f"compact ({failed[0]}); their JSONL is untouched and the next run retries them.")
    else:
        verdict = Verdict(check="log_compaction", phase=Phase.SUCCESSFUL, value=len(done), threshold=0,
                          reason=f"{len(done)} closed hours of {service}'s request log compacted to Parquet "
                                 f"({rows} rows), each verified by row count and request-id checksum.")
    table = [{"day": o.day, "hour": o.hour, "status": o.status, "rows": o.rows, "bad_lines": o.bad_lines,
              "sources": o.sources} for o in done]
    return StepResult(step="compact_logs", verdicts=[verdict], summary=verdict.reason,
                      markdown=f"# Request log compaction {service}\n\n{verdict.reason}\n" +
                               "".join(f"\n- failed: {f}" for f in failed),
                      tables={"hours": table})
