"""Questions asked of the request log through DuckDB (view.py): one request, a day's spend, a search.

Each opens a ``LogView`` over just the window it needs and answers with a few rows, never the
window's lines as Python objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from launchgate.errors import InputError
from launchgate.requestlog.columns import to_record
from launchgate.requestlog.view import LogView, _days
from launchgate.store.base import ArtifactStore
from launchgate.store.local import LocalStore

SEARCH_DAYS = 7  # audit: days per view, newest first, so a recent request is found without reading old days
STATUS_CLASS = re.compile(r"^([1-5])xx$")
DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def day_spend(store: ArtifactStore, service: str, day: date) -> tuple[float, int]:
    """The day's logged spend (sum of cost_usd) and request count: the budget guard's restart recovery."""
    start = datetime.combine(day, datetime.min.time(), UTC)
    with LogView.open(store, service, start, start + timedelta(days=1)) as view:
        usd, n = view.con.execute("SELECT fsum(coalesce(cost_usd, 0.0)), count(*) FROM requests").fetchone()  # type: ignore[misc]
    return round(float(usd or 0.0), 8), int(n)


def window_cost(view: LogView) -> tuple[int, float]:
    """(requests, usd) of the view's window."""
    n, usd = view.con.execute("SELECT count(*), fsum(coalesce(cost_usd, 0.0)) FROM requests").fetchone()  # type: ignore[misc]
    return int(n), float(usd or 0.0)


def _rows(view: LogView, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = view.con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def find_request(store: ArtifactStore, service: str, request_id: str, *, day: str | None = None
                 ) -> tuple[str, int, dict[str, Any]] | None:
    """(source JSONL key, 1-based line, record) of the request; the newest line if it was logged twice."""
    if day is not None:
        try:
            first = datetime.fromisoformat(day).replace(tzinfo=UTC)
        except ValueError:
            raise InputError(f"--date {day!r}: expected YYYY-MM-DD") from None
        windows: list[tuple[datetime | None, datetime | None]] = [(first, first + timedelta(days=1))]
    elif isinstance(store, LocalStore):  # files read in place: one query, the Bloom filters skip the rest
        windows = [(None, None)]
    else:  # S3: parts are copied to read them, so read a week at a time, newest first
        days = _days(store, service, None, None)
        windows = []
        for i in range(len(days), 0, -SEARCH_DAYS):
            chunk = days[max(0, i - SEARCH_DAYS):i]
            start = datetime.fromisoformat(chunk[0]).replace(tzinfo=UTC)
            windows.append((start, datetime.fromisoformat(chunk[-1]).replace(tzinfo=UTC) + timedelta(days=1)))
    for start, end in windows:  # type: ignore[assignment]
        # The hour partitions decide the files; a line whose ts strays outside its file's hour still counts.
        with LogView.open(store, service, start, end, bounded=False) as view:
            rows = _rows(view, "SELECT * FROM requests WHERE request_id = ? ORDER BY date DESC, hour DESC, "
                               "source_key DESC, source_line DESC LIMIT 1", [request_id])
        if rows:
            row = rows[0]
            return str(row["source_key"]), int(row["source_line"]), to_record(row)
    return None


def parse_since(text: str, now: datetime) -> datetime:
    """``1h``/``30m``/``2d``/``1w`` before now, or an ISO timestamp (UTC when it has no zone)."""
    m = DURATION.match(text.strip())
    if m:
        return now - timedelta(**{_UNIT[m.group(2)]: int(m.group(1))})
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--since {text!r}: expected a duration like 1h, 30m, 2d or an ISO time "
                         f"like 2026-11-05T12:00:00Z") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@dataclass
class Search:
    request_id: str | None = None
    release: str | None = None
    status: str | None = None  # 500, 5xx
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100

    def where(self) -> tuple[str, list[Any]]:
        cond, params = ["TRUE"], []
        if self.request_id:
            cond.append("request_id = ?")
            params.append(self.request_id)
        if self.release:
            cond.append("(release_id = ? OR stable_release_id = ?)")
            params += [self.release, self.release]
        if self.status:
            m = STATUS_CLASS.match(self.status.strip().lower())
            if m:
                cond.append("status BETWEEN ? AND ?")
                params += [int(m.group(1)) * 100, int(m.group(1)) * 100 + 99]
            elif self.status.strip().isdigit():
                cond.append("status = ?")
                params.append(int(self.status))
            else:
                raise InputError(f"--status {self.status!r}: expected a code like 502 or a class like 5xx")
        return " AND ".join(cond), params


SEARCH_COLUMNS = ("ts", "request_id", "release_id", "variant", "model", "prompt_version", "status", "error_code",
                  "latency_ms", "input_tokens", "output_tokens", "cost_usd", "source_key", "source_line")


def search(store: ArtifactStore, service: str, q: Search) -> list[dict[str, Any]]:
    """Matching lines, newest first, at most ``q.limit``."""
    where, params = q.where()
    cols = ", ".join(SEARCH_COLUMNS)
    with LogView.open(store, service, q.since, q.until) as view:
        return _rows(view, f"SELECT {cols} FROM requests WHERE {where} ORDER BY ts DESC LIMIT {int(q.limit)}", params)
