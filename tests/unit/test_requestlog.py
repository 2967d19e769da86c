"""Reading the request log back: time ranges by day/hour keys, and bad lines counted, never fatal."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from launchgate.requestlog.reader import AT, log_keys, parse_ts, read_requests, write_request_lines
from launchgate.store import LocalStore

SERVICE = "support-bot"


def at(text: str) -> datetime:
    ts = parse_ts(text)
    assert ts is not None
    return ts


def test_range_is_half_open_and_spans_days(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    stamps = ["2026-11-04T23:59:59.999Z", "2026-11-05T00:00:00.000Z", "2026-11-05T13:30:00.000Z",
              "2026-11-06T00:00:00.000Z"]
    write_request_lines(store, SERVICE, [{"ts": s, "request_id": str(i), "cost_usd": 0.1}
                                         for i, s in enumerate(stamps)], writer="gw")
    read = read_requests(store, SERVICE, at("2026-11-05T00:00:00Z"), at("2026-11-06T00:00:00Z"))
    assert [r["request_id"] for r in read.records] == ["1", "2"] and read.bad_lines == 0
    assert read.records[0][AT] == datetime(2026, 11, 5, tzinfo=UTC)
    # Hour files outside the range are not even opened.
    keys = log_keys(store, SERVICE, at("2026-11-05T13:00:00Z"), at("2026-11-05T14:00:00Z"))
    assert keys == [f"{SERVICE}/logs/requests/2026-11-05/13-gw.jsonl"]


def test_bad_lines_are_counted_with_examples_and_the_rest_is_read(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    key = f"{SERVICE}/logs/requests/2026-11-05/10-gw.jsonl"
    store.put(key, b'{"ts": "2026-11-05T10:00:01Z", "request_id": "a"}\n'
                   b'{"ts": "2026-11-05T10:00:02Z", "request_id": "b"\n'  # torn write
                   b'[1, 2]\n'
                   b'{"request_id": "no-ts"}\n'
                   b'\n'
                   b'{"ts": "2026-11-05T10:00:05+00:00", "request_id": "c"}\n', "application/x-ndjson")
    read = read_requests(store, SERVICE, at("2026-11-05T00:00:00Z"), at("2026-11-06T00:00:00Z"))
    assert [r["request_id"] for r in read.records] == ["a", "c"]
    assert read.lines == 5 and read.bad_lines == 3 and read.files == 1
    assert [e.split(": ", 1)[1] for e in read.bad_examples] == ["not JSON", "not a JSON object",
                                                                "missing or unreadable ts"]
    assert read.quality()["bad_lines"] == 3


def test_appending_keeps_earlier_lines(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for i in range(3):
        write_request_lines(store, SERVICE, [{"ts": f"2026-11-05T10:00:0{i}Z", "request_id": str(i)}])
    read = read_requests(store, SERVICE, at("2026-11-05T10:00:00Z"), at("2026-11-05T11:00:00Z"))
    assert [r["request_id"] for r in read.records] == ["0", "1", "2"]
