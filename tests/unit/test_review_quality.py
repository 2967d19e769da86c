"""Labels and feedback in the reviews: the in-memory engine and the DuckDB engine give the same figures,
feedback is joined to its request's release by request id (unknown ids counted), and a quality drop
is a drift verdict with its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from launchgate.requestlog.compaction import compact
from launchgate.requestlog.reader import read_requests, write_request_lines
from launchgate.requestlog.view import LogView
from launchgate.reviews.config import DriftReviewConfig
from launchgate.reviews.quality import (
    quality_features,
    quality_from_records,
    quality_markdown,
    quality_summary,
    read_quality_records,
)
from launchgate.reviews.quality_sql import quality_numbers
from launchgate.store import LocalStore
from launchgate.verdicts import Phase
from tests.support.quality import write_quality
from tests.support.requestlog import synth_requests

SERVICE = "support-bot"
REF = datetime(2026, 9, 28, tzinfo=UTC)  # a Monday: two reference weeks, then the reviewed week
CUR = REF + timedelta(weeks=2)
END = CUR + timedelta(weeks=1)


class Remote:
    """Any store but a local one (S3): the view copies the files it reads into its own folder."""

    def __init__(self, inner: LocalStore) -> None:
        self.inner, self.uri = inner, "remote://test"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    s = LocalStore(tmp_path_factory.mktemp("quality"))
    ref = synth_requests(REF, days=14, per_day=150, seed=1, release_id="r1")
    stable = synth_requests(CUR, days=7, per_day=120, seed=2, release_id="r2")
    cand = synth_requests(CUR, days=7, per_day=60, seed=3, release_id="r2", variant="candidate")
    for lines in (ref, stable, cand):
        write_request_lines(s, SERVICE, lines)
    write_quality(s, ref, bad_share=0.08, down_share=0.10, seed=11)
    write_quality(s, stable, bad_share=0.08, down_share=0.10, seed=12, unknown=3)
    write_quality(s, cand, bad_share=0.45, down_share=0.50, seed=13)
    compact(s, SERVICE, END + timedelta(hours=2), lookback=timedelta(days=3))  # Parquet and JSONL at once
    return s


def test_both_engines_give_the_same_quality_figures(store: LocalStore) -> None:
    requests = read_requests(store, SERVICE, REF, END).records
    items, labels, feedback = read_quality_records(store, SERVICE, REF, END)
    mem = quality_from_records(requests, items, labels, feedback, REF, END)
    with LogView.open(store, SERVICE, REF, END) as view:
        sql = quality_numbers(view, REF, END)
    with LogView.open(Remote(store), SERVICE, REF, END) as view:  # type: ignore[arg-type]
        copied = quality_numbers(view, REF, END)
        three = quality_numbers(view, REF, END, timedelta(days=3))  # a post-launch review of 3 days
    assert sql == mem == copied
    assert three == quality_from_records(requests, items, labels, feedback, REF, END, timedelta(days=3))
    assert len({r.period for r in three.rows}) == 7 and three.rows[1].week_of == "2026-10-01"
    assert [(r.week_of, r.release_id, r.variant) for r in sql.rows] == [
        ("2026-09-28", "r1", "stable"), ("2026-10-05", "r1", "stable"),
        ("2026-10-12", "r2", "candidate"), ("2026-10-12", "r2", "stable")]
    assert sql.unknown_feedback == {2: 3}
    assert sum(r.sampled for r in sql.rows) == len(items) and sum(r.labelled for r in sql.rows) == len(labels)
    assert sum(r.feedback for r in sql.rows) + 3 == len(feedback)  # every feedback joined or counted unknown


def test_a_quality_drop_is_drift_with_a_reason(store: LocalStore) -> None:
    with LogView.open(store, SERVICE, REF, END) as view:
        data = quality_numbers(view, REF, END)
    features, notes = quality_features(data, 2, DriftReviewConfig())
    by = {f.name: f for f in features}
    assert by["quality_rate"].phase is Phase.FAILED and by["bad_feedback_rate"].phase is Phase.FAILED
    assert by["quality_rate"].reason.startswith("Quality rate (labelled good) fell: ")
    assert "review-queue list" in by["quality_rate"].reason
    assert any("3 feedback record(s)" in n for n in notes)
    # per release/variant of the reviewed week: the candidate is the one that fell
    assert by["quality_rate:r2:candidate"].phase is Phase.FAILED
    assert by["quality_rate:r2:candidate"].reason.startswith("Quality rate of r2 (candidate) fell: ")
    assert by["quality_rate:r2:stable"].phase is Phase.SUCCESSFUL
    cand = next(r for r in data.rows if r.variant == "candidate")
    q = cand.quality()
    assert q["low"] < q["rate"] < q["high"] and 0.4 < 1 - q["rate"] < 0.6  # type: ignore[operator]
    md = "\n".join(quality_markdown(quality_summary(data)))
    assert "| 2026-10-12 | r2 | candidate |" in md and "unknown request id | | | | | 3 |" in md
    # The same numbers without the candidate's week: nothing moved, nothing flagged.
    calm, _ = quality_features(data.model_copy(update={"rows": [r for r in data.rows if r.variant == "stable"]}),
                               2, DriftReviewConfig())
    assert all(f.phase is Phase.SUCCESSFUL for f in calm)
