"""Compaction of the JSONL request log into Parquet, and the DuckDB view that reads both (local store)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from launchgate.requestlog.columns import request_id_checksum
from launchgate.requestlog.compaction import CompactionError, compact, compact_hour, read_record, write_part
from launchgate.requestlog.reader import read_requests, write_request_lines
from launchgate.requestlog.view import LogView, plan
from launchgate.store import LocalStore, layout
from tests.support.requestlog import synth_requests

SERVICE = "support-bot"
DAY = datetime(2026, 11, 5, tzinfo=UTC)
NOW = DAY + timedelta(days=1, hours=2)


def ids(store: LocalStore, start: datetime, end: datetime) -> list[str]:
    with LogView.open(store, SERVICE, start, end) as view:
        return [r[0] for r in view.con.execute("SELECT request_id FROM requests ORDER BY ts").fetchall()]


def test_hours_become_verified_parquet_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    lines = synth_requests(DAY, days=1, per_day=480, seed=1)
    write_request_lines(store, SERVICE, lines[:300], writer="gw-1")
    write_request_lines(store, SERVICE, lines[300:], writer="gw-2")
    key = layout.request_log(SERVICE, "2026-11-05", "03", "gw-1")
    store.put(key, store.get(key) + b'{"torn\n[1,2]\n{"request_id":"no-ts"}\n', overwrite=True)

    out = compact(store, SERVICE, NOW, lookback=timedelta(days=2))
    assert len(out) == 24 and {o.status for o in out} == {"compacted"}
    record = read_record(store, SERVICE, "2026-11-05", "03")
    assert record is not None and record.verified and len(record.sources) == 1
    assert record.bad_lines == 3 and record.null_ts_rows == 1
    table = pq.read_table(io.BytesIO(store.get(record.part)))
    assert table.num_rows == record.rows and request_id_checksum(table.column("request_id").to_pylist()) == \
        record.request_id_sha256
    assert record.part == f"{SERVICE}/logs/requests-parquet/date=2026-11-05/hour=03/part-0.parquet"

    # The view reads Parquet for every compacted hour: the same requests as the JSONL reader, once each.
    old = read_requests(store, SERVICE, DAY, DAY + timedelta(days=1))
    assert ids(store, DAY, DAY + timedelta(days=1)) == [r["request_id"] for r in old.records]
    assert all(hf.part and not hf.jsonl for hf in plan(store, SERVICE, DAY, DAY + timedelta(days=1)))
    with LogView.open(store, SERVICE, DAY, DAY + timedelta(days=1)) as view:
        q = view.quality()
    assert q["records"] == len(old.records) and q["bad_lines"] == old.bad_lines == 3 and q["lines"] == old.lines

    assert compact(store, SERVICE, NOW, lookback=timedelta(days=2)) == []  # nothing pending
    assert compact_hour(store, SERVICE, "2026-11-05", "03").status == "unchanged"


def test_open_hours_and_late_files_are_read_from_jsonl_then_compacted(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    write_request_lines(store, SERVICE, synth_requests(DAY, days=1, per_day=240, seed=1))
    compact(store, SERVICE, DAY + timedelta(hours=12, minutes=40), lookback=timedelta(days=1))
    hours = plan(store, SERVICE, DAY, DAY + timedelta(days=1))
    assert [hf.hour for hf in hours if hf.part] == [f"{h:02d}" for h in range(12)]
    assert all(hf.jsonl and not hf.part for hf in hours if int(hf.hour or 0) >= 12)

    # A late writer's file for an hour already compacted: read as JSONL until the next run takes it in.
    late = synth_requests(DAY + timedelta(hours=5), days=1 / 24, per_day=240, seed=9)
    write_request_lines(store, SERVICE, late, writer="late")
    want = sorted(r["request_id"] for r in read_requests(store, SERVICE, DAY, DAY + timedelta(days=1)).records)
    assert sorted(ids(store, DAY, DAY + timedelta(days=1))) == want
    out = compact(store, SERVICE, NOW, lookback=timedelta(days=2))
    assert ("2026-11-05", "05") in {(o.day, o.hour) for o in out}
    assert sorted(ids(store, DAY, DAY + timedelta(days=1))) == want
    assert all(hf.part and not hf.jsonl for hf in plan(store, SERVICE, DAY, DAY + timedelta(days=1)))


def test_deleted_sources_keep_their_rows_when_a_late_file_arrives(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    write_request_lines(store, SERVICE, synth_requests(DAY + timedelta(hours=7), days=1 / 24, per_day=960, seed=1))
    compact_hour(store, SERVICE, "2026-11-05", "07")
    before = ids(store, DAY, DAY + timedelta(days=1))
    Path(store.location(layout.request_log(SERVICE, "2026-11-05", "07", "synthetic"))).unlink()  # retention
    assert ids(store, DAY, DAY + timedelta(days=1)) == before  # the Parquet alone holds the hour now
    late = synth_requests(DAY + timedelta(hours=7), days=1 / 24, per_day=240, seed=2)
    write_request_lines(store, SERVICE, late, writer="late")
    outcome = compact_hour(store, SERVICE, "2026-11-05", "07")
    assert outcome.status == "compacted" and outcome.rows == len(before) + len(late)
    record = read_record(store, SERVICE, "2026-11-05", "07")
    assert record is not None and record.merged_rows == len(before)
    assert sorted(ids(store, DAY, DAY + timedelta(days=1))) == sorted(before + [r["request_id"] for r in late])


class _Truncating(LocalStore):
    """A store that loses the end of every Parquet object it is given (a torn upload)."""

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream", *,
            overwrite: bool = True):  # type: ignore[no-untyped-def]
        if key.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(data))
            sink = io.BytesIO()
            pq.write_table(table.slice(0, table.num_rows - 1), sink)
            data = sink.getvalue()
        return super().put(key, data, content_type, overwrite=overwrite)


def test_a_part_that_does_not_verify_writes_no_record(tmp_path: Path) -> None:
    store = _Truncating(tmp_path)
    write_request_lines(store, SERVICE, synth_requests(DAY, days=1 / 24, per_day=480, seed=1))
    with pytest.raises(CompactionError, match="rows"):
        compact_hour(store, SERVICE, "2026-11-05", "00")
    assert read_record(store, SERVICE, "2026-11-05", "00") is None
    # Without a record the view ignores the stray part and reads the JSONL: nothing lost, nothing twice.
    assert len(ids(store, DAY, DAY + timedelta(hours=1))) == 20


def test_a_part_written_before_a_crash_is_ignored_until_its_record_exists(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    write_request_lines(store, SERVICE, synth_requests(DAY, days=1 / 24, per_day=480, seed=1))
    with LogView.open(store, SERVICE, DAY, DAY + timedelta(hours=1)) as view:
        table = view.con.sql("SELECT * EXCLUDE (date, hour) FROM requests").to_arrow_table()
    write_part(store, layout.requests_parquet_part(SERVICE, "2026-11-05", "00"), table)  # then "crash"
    assert len(ids(store, DAY, DAY + timedelta(hours=1))) == 20
    assert compact_hour(store, SERVICE, "2026-11-05", "00").status == "compacted"
    got = ids(store, DAY, DAY + timedelta(hours=1))
    assert len(got) == len(set(got)) == 20
