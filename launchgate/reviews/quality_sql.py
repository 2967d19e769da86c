"""reviews/quality.py's numbers as DuckDB queries, beside the ``requests`` view of the review's window.

The review-queue items and the feedback records are read by DuckDB itself (``read_json``): the day
folders' files are copied byte for byte, one file at a time, into one file per kind in the view's
temporary folder (read_json pays ~2 ms per file and a gateway writes one per flush), so no week of
records becomes Python objects. Labels are one small object per labelled item, written by people:
only those of items in the window are read. Feedback is joined to
the request log by request id (the first line of a duplicated id, as the in-memory engine does),
after a semi-join on the feedback's ids, so the join never builds a table of the whole week's ids.
Periods, counts and sums are integers on both engines: the two give equal ``QualityData``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from launchgate.quality.feedback import BAD_SCORE_MAX
from launchgate.requestlog.view import LogView
from launchgate.reviews.drift_sql import ts_sql
from launchgate.reviews.quality import WEEK, QualityData, QualityRow, _days, assemble
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.local import LocalStore

ITEM_COLUMNS = {"id": "VARCHAR", "ts": "VARCHAR", "release_id": "VARCHAR", "variant": "VARCHAR"}
FEEDBACK_COLUMNS = {"ts": "VARCHAR", "request_id": "VARCHAR", "thumbs": "VARCHAR", "score": "BIGINT"}
LABEL_COLUMNS = {"item_id": "VARCHAR", "verdict": "VARCHAR"}


def _concat(store: ArtifactStore, keys: list[str], path: Path) -> list[str]:
    """The files' bytes one after another into ``path`` (one file at a time, never parsed here):
    DuckDB's read_json pays ~2 ms per file, and a gateway writes one small file per flush."""
    if not keys:
        return []
    with path.open("wb") as out:
        for key in keys:
            data = Path(store.location(key)).read_bytes() if isinstance(store, LocalStore) else store.get(key)
            out.write(data)
            if data and not data.endswith(b"\n"):
                out.write(b"\n")
    return [str(path)]


def _labels(store: ArtifactStore, keys: list[str], path: Path) -> list[str]:
    """One line per label object (item id and verdict only): labels are people's work, thousands at most."""
    if not keys:
        return []
    with path.open("w", encoding="utf-8") as out:
        for key in keys:
            try:
                label = json.loads(store.get(key))
            except ValueError:
                continue
            if isinstance(label, dict):
                out.write(json.dumps({"item_id": label.get("item_id"), "verdict": label.get("verdict")}) + "\n")
    return [str(path)]


def _table(con: duckdb.DuckDBPyConnection, name: str, paths: list[str], columns: dict[str, str]) -> None:
    if paths:
        spec = "{" + ", ".join(f"{c}: '{t}'" for c, t in columns.items()) + "}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM read_json({_sql_list(paths)}, "
                    f"format = 'newline_delimited', columns = {spec}, ignore_errors = true)")
    else:
        cols = ", ".join(f"NULL::{t} AS {c}" for c, t in columns.items())
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {cols} WHERE false")


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def load_quality(con: duckdb.DuckDBPyConnection, store: ArtifactStore, service: str, start: datetime,
                 end: datetime, tmp: Path) -> None:
    """Tables q_items, q_labels, q_feedback for [start, end) (the day folders; ts filtered in the queries)."""
    days = _days(start, end)
    items = [k for d in days for k in sorted(store.list(layout.review_queue_day(service, d)))]
    feedback = [k for d in days for k in sorted(store.list(layout.feedback_day(service, d)))]
    _table(con, "q_items", _concat(store, items, tmp / "quality-items.jsonl"), ITEM_COLUMNS)
    _table(con, "q_feedback", _concat(store, feedback, tmp / "quality-feedback.jsonl"), FEEDBACK_COLUMNS)
    prefix = layout.review_label(service, "x").rsplit("/", 1)[0] + "/"
    ids = {r[0] for r in con.execute("SELECT DISTINCT id FROM q_items WHERE id IS NOT NULL").fetchall()}
    labelled = [k for k in store.list(prefix) if k[len(prefix):].removesuffix(".json") in ids]
    _table(con, "q_labels", _labels(store, labelled, tmp / "quality-labels.jsonl"), LABEL_COLUMNS)


def _period(col: str, origin: datetime, span: timedelta) -> str:
    return f"(epoch_us({col}) - epoch_us({ts_sql(origin)})) // {span // timedelta(microseconds=1)}"


def quality_data(con: duckdb.DuckDBPyConnection, origin: datetime, end: datetime,
                 span: timedelta = WEEK) -> QualityData:
    """Per period, release and variant: items and labels, feedback joined to ``requests``; unknown feedback."""
    window = f"t >= {ts_sql(origin)} AND t < {ts_sql(end)}"
    rows: dict[tuple[int, Any, Any], QualityRow] = {}

    def row(p: int, release: Any, variant: Any) -> QualityRow:
        return rows.setdefault((int(p), release, variant), QualityRow(period=int(p), week_of="", release_id=release,
                                                                      variant=variant))

    for p, release, variant, sampled, labelled, good in con.execute(f"""
            SELECT {_period('t', origin, span)} AS p, release_id, variant, count(*),
                   count_if(l.verdict IN ('good', 'bad')), count_if(l.verdict = 'good')
            FROM (SELECT *, TRY_CAST(replace(ts, 'Z', '') AS TIMESTAMP) AS t FROM q_items) i
            LEFT JOIN q_labels l ON l.item_id = i.id
            WHERE {window} GROUP BY ALL""").fetchall():
        r = row(p, release, variant)
        r.sampled, r.labelled, r.good = int(sampled), int(labelled), int(good)
    unknown: dict[int, int] = {}
    for p, known, release, variant, n, thumbs, up, scores, score_sum, bad in con.execute(f"""
            WITH f AS (SELECT *, TRY_CAST(replace(ts, 'Z', '') AS TIMESTAMP) AS t FROM q_feedback),
                 req AS (SELECT request_id, arg_min({{'r': release_id, 'v': variant}}, ts) AS rv FROM requests
                         WHERE request_id IN (SELECT request_id FROM f) GROUP BY request_id)
            SELECT {_period('t', origin, span)} AS p, req.request_id IS NOT NULL AS known, rv.r, rv.v, count(*),
                   count_if(thumbs IN ('up', 'down')), count_if(thumbs = 'up'), count(score),
                   coalesce(sum(score), 0), count_if(thumbs = 'down' OR score <= {BAD_SCORE_MAX})
            FROM f LEFT JOIN req USING (request_id)
            WHERE {window} GROUP BY ALL""").fetchall():
        if not known:
            unknown[int(p)] = unknown.get(int(p), 0) + int(n)
            continue
        r = row(p, release, variant)
        r.feedback, r.thumbs, r.thumbs_up = int(n), int(thumbs), int(up)
        r.scores, r.score_sum, r.bad_feedback = int(scores), int(score_sum), int(bad)
    return assemble(origin, rows.values(), unknown, span)


def quality_numbers(view: LogView, origin: datetime, end: datetime, span: timedelta = WEEK) -> QualityData:
    """Load the window's queue items, labels and feedback beside ``view``'s requests and count them."""
    load_quality(view.con, view.store, view.service, origin, end, view.tmp)
    return quality_data(view.con, origin, end, span)
