"""One service's request log as a DuckDB view named ``requests``: Parquet where compacted, JSONL for the rest.

    with LogView.open(store, service, start, end) as view:
        view.con.execute("SELECT count(*) FROM requests").fetchone()

Which files make the view (``plan``): for each hour of the window, the Parquet part its compaction
record names, plus every JSONL file of that hour the record does not list (the open hour, a late
writer, an hour not compacted yet). JSONL is parsed one file at a time with the compaction's rules
(columns.py) and written out in batches of ``JSONL_BATCH_ROWS`` as temporary Parquet files, so
the view has one schema and memory stays bounded by a batch (plus the largest single file).

Stores: a local store's Parquet files are read in place. For S3 the view would read through
DuckDB's httpfs, but this build cannot load httpfs offline (it is downloaded on first use), so
the part files of the window are copied through the store's own boto3 client into the view's
temporary folder (one hour's file at a time; a week at 2 M requests is ~100 MB of Parquet). The
ts filter of the window is part of the view; the partition columns ``date`` and ``hour`` are text.

``read_only=True`` (``launchgate logs query``) locks the connection after the view is built: file
access only to the view's own files, no extension loading, no configuration changes
(DuckDB's ``enable_external_access``/``allowed_paths``/``lock_configuration``); sqlguard.py then
admits only a single SELECT (or EXPLAIN) by the statement type DuckDB's parser reports.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from launchgate.errors import StoreError
from launchgate.requestlog.columns import SCHEMA, Parsed, parse_jsonl
from launchgate.requestlog.compaction import CompactionRecord, read_record
from launchgate.requestlog.reader import days_between
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.local import LocalStore

MEMORY_LIMIT = "1GB"
JSONL_BATCH_ROWS = 50_000  # parsed JSONL rows held before they are written out: bounds the view's memory
Progress = Callable[[str, int, int], None]


@dataclass
class HourFiles:
    """What holds one hour of the log: its Parquet part (through its record) and JSONL not in that record."""

    day: str
    hour: str | None  # None: a JSONL file not named <hh>-...; always read
    part: str | None = None
    record: CompactionRecord | None = None
    jsonl: list[str] = field(default_factory=list)


def _overlaps(day: str, hour: str | None, start: datetime | None, end: datetime | None) -> bool:
    if hour is None or not hour.isdigit():
        return True
    begin = datetime.fromisoformat(day).replace(hour=int(hour), tzinfo=UTC)
    return (start is None or begin + timedelta(hours=1) > start) and (end is None or begin < end)


def _days(store: ArtifactStore, service: str, start: datetime | None, end: datetime | None) -> list[str]:
    if start is not None and end is not None:
        return [f"{d:%Y-%m-%d}" for d in days_between(start, end)]
    found: set[str] = set()
    for prefix in (layout.requests_prefix(service), layout.compaction_prefix(service)):
        found |= {k[len(prefix):].split("/", 1)[0] for k in store.list(prefix) if "/" in k[len(prefix):]}
    days = sorted(found)
    return [d for d in days if (start is None or d >= f"{start:%Y-%m-%d}") and (end is None or d <= f"{end:%Y-%m-%d}")]


def plan(store: ArtifactStore, service: str, start: datetime | None = None,
         end: datetime | None = None) -> list[HourFiles]:
    """The files holding ``[start, end)`` (None = unbounded), oldest hour first. Issue-18 API: see docs/logs.md."""
    out: list[HourFiles] = []
    for day in _days(store, service, start, end):
        hours: dict[str | None, HourFiles] = {}
        rec_prefix = layout.compaction_prefix(service, day)
        for key in store.list(rec_prefix):
            name = key[len(rec_prefix):]
            if not name.endswith(".json") or not name[:2].isdigit():
                continue
            h = name[:2]
            if not _overlaps(day, h, start, end):
                continue
            try:
                record = read_record(store, service, day, h)
            except (StoreError, ValueError):
                record = None  # unreadable record: that hour is read from its JSONL
            if record is not None:
                hours[h] = HourFiles(day, h, part=record.part, record=record)
        covered = {f.key for hf in hours.values() if hf.record for f in hf.record.sources}
        prefix = layout.requests_prefix(service, day)
        for key in store.list(prefix):
            name = key[len(prefix):]
            if "/" in name or not name.endswith(".jsonl") or key in covered:
                continue
            h = name[:2] if name[:2].isdigit() and name[2:3] == "-" else None
            if _overlaps(day, h, start, end):
                hours.setdefault(h, HourFiles(day, h)).jsonl.append(key)
        out += sorted(hours.values(), key=lambda hf: hf.hour or "")
    return out


_DUCK_TYPES = {pa.timestamp("us"): "TIMESTAMP", pa.string(): "VARCHAR", pa.float64(): "DOUBLE", pa.int64(): "BIGINT",
               pa.bool_(): "BOOLEAN", pa.int32(): "INTEGER"}
# The view's columns even when no file matches (SQL, not a registered Arrow table: that imports pandas).
_EMPTY = ("SELECT " + ", ".join(f"NULL::{_DUCK_TYPES[f.type]} AS {f.name}" for f in SCHEMA)
          + ", NULL::VARCHAR AS date, NULL::VARCHAR AS hour WHERE false")


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _ts(at: datetime) -> str:
    return f"TIMESTAMP '{at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' ')}'"


class LogView:
    """A DuckDB connection holding the ``requests`` view; close it (or use ``open``) to drop its temp files."""

    def __init__(self, store: ArtifactStore, service: str, start: datetime | None = None,
                 end: datetime | None = None, *, read_only: bool = False, bounded: bool = True,
                 memory_limit: str = MEMORY_LIMIT, on_progress: Progress | None = None) -> None:
        """``bounded=False``: the window picks the hour files, but lines are not filtered by their own ts."""
        self.store, self.service, self.start, self.end = store, service, start, end
        self.bounded = bounded
        self.tmp = Path(tempfile.mkdtemp(prefix="launchgate-log-"))
        self.hours = plan(store, service, start, end)
        self.files: list[str] = []  # Parquet parts (Hive paths: date/hour from the folder names)
        self.jsonl_files: list[str] = []  # temporary Parquet of the parsed JSONL (date/hour as columns)
        self.parsed: dict[int, Parsed] = {}  # per hour index: counts of the JSONL parsed into this view
        self.con = duckdb.connect(":memory:", config={"memory_limit": memory_limit, "threads": 2,
                                                      "preserve_insertion_order": False,
                                                      "temp_directory": str(self.tmp / "spill")})
        try:
            self._gather(on_progress)
            self._create_view()
            if read_only:
                self._lock()
        except BaseException:
            self.close()
            raise

    @classmethod
    @contextmanager
    def open(cls, store: ArtifactStore, service: str, start: datetime | None = None, end: datetime | None = None,
             **kw: Any) -> Iterator[LogView]:
        view = cls(store, service, start, end, **kw)
        try:
            yield view
        finally:
            view.close()

    # --------------------------------------------------------------------------------- files

    def _local_copy(self, hf: HourFiles, name: str) -> Path:
        folder = self.tmp / f"date={hf.day}" / f"hour={hf.hour or 'NA'}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def _gather(self, on_progress: Progress | None) -> None:
        total = sum((1 if hf.part else 0) + len(hf.jsonl) for hf in self.hours)
        done = 0
        pending: list[pa.Table] = []  # parsed JSONL waiting to be written as one temporary file
        for n, hf in enumerate(self.hours):
            if hf.part:
                if isinstance(self.store, LocalStore):
                    self.files.append(self.store.location(hf.part))
                else:
                    path = self._local_copy(hf, "part-0.parquet")
                    path.write_bytes(self.store.get(hf.part))
                    self.files.append(str(path))
                done += 1
                if on_progress:
                    on_progress("log", done, total)
            for key in hf.jsonl:
                one = parse_jsonl(self.store.get(key), key)
                counts = self.parsed.setdefault(n, Parsed())
                counts.lines += one.lines
                counts.bad_lines += one.bad_lines
                counts.bad_examples += one.bad_examples[:max(0, 5 - len(counts.bad_examples))]
                if one.rows:
                    rows = one.rows
                    pending.append(one.table().append_column("date", pa.array([hf.day] * rows))
                                   .append_column("hour", pa.array([hf.hour or "NA"] * rows)))
                if sum(t.num_rows for t in pending) >= JSONL_BATCH_ROWS:
                    self._spill(pending)
                done += 1
                if on_progress:
                    on_progress("log", done, total)
        self._spill(pending)

    def _spill(self, tables: list[pa.Table]) -> None:
        """Many small JSONL files -> one temporary Parquet file (DuckDB pays per file and query)."""
        if tables:
            path = self.tmp / f"jsonl-{len(self.jsonl_files)}.parquet"
            pq.write_table(pa.concat_tables(tables), path, compression="zstd")
            self.jsonl_files.append(str(path))
            tables.clear()

    def _create_view(self) -> None:
        where = []
        if self.start is not None and self.bounded:
            where.append(f"ts >= {_ts(self.start)}")
        if self.end is not None and self.bounded:
            where.append(f"ts < {_ts(self.end)}")
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        parts = [_EMPTY]
        if self.files:
            # Every file carries columns.SCHEMA, so no union_by_name (it costs a schema read per file per query).
            parts.append(f"SELECT * FROM read_parquet({_sql_list(self.files)}, hive_partitioning = true, "
                         f"hive_types_autocast = false)")
        if self.jsonl_files:
            parts.append(f"SELECT * FROM read_parquet({_sql_list(self.jsonl_files)})")
        self.con.execute(f"CREATE VIEW requests AS SELECT * FROM ({' UNION ALL '.join(parts)}){cond}")

    def _lock(self) -> None:
        self.con.execute(f"SET allowed_paths = {_sql_list(self.files + self.jsonl_files)}")
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET autoinstall_known_extensions = false")
        self.con.execute("SET autoload_known_extensions = false")
        self.con.execute("SET lock_configuration = true")

    # ------------------------------------------------------------------------------ reporting

    def quality(self, start: datetime | None = None, end: datetime | None = None,
                records: int | None = None) -> dict[str, Any]:
        """The counts a report shows next to its numbers (reader.LogRead.quality()'s shape), for the
        view or for a part of its window (``records``: the count, when the caller has it already).
        Lines and bad lines are counted per hour file."""
        start, end = start or self.start, end or self.end
        if records is None:
            cond = [f"ts >= {_ts(start)}"] if start else []
            cond += [f"ts < {_ts(end)}"] if end else []
            sql = "SELECT count(*) FROM requests" + (" WHERE " + " AND ".join(cond) if cond else "")
            records = int(self.con.execute(sql).fetchone()[0])  # type: ignore[index]
        rows = records
        files = lines = bad = 0
        examples: list[str] = []
        for n, hf in enumerate(self.hours):
            if not _overlaps(hf.day, hf.hour, start, end):
                continue
            if hf.record:
                files += len(hf.record.sources)
                lines += hf.record.rows + hf.record.bad_lines - hf.record.null_ts_rows
                bad += hf.record.bad_lines
            if n in self.parsed:
                p = self.parsed[n]
                files, lines, bad = files + len(hf.jsonl), lines + p.lines, bad + p.bad_lines
                examples += p.bad_examples[:max(0, 5 - len(examples))]
        return {"files": files, "lines": lines, "records": int(rows), "bad_lines": bad, "unreadable_files": 0,
                "bad_examples": examples}

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
