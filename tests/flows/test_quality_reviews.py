"""The drift review and the post-launch review read labels and user feedback: a candidate whose answers
people label bad and users rate down is a quality drop, per release and variant, week over week."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from flows.drift_review import drift_review
from flows.post_launch_review import post_launch_review
from launchgate.governance.freeze import read_freeze
from launchgate.requestlog.reader import write_request_lines
from launchgate.reviews.drift import week_bounds
from launchgate.store import LocalStore
from tests.conftest import EXAMPLE
from tests.support.bundles import promoted_days_ago
from tests.support.quality import write_quality
from tests.support.requestlog import synth_requests

CONFIG = str(EXAMPLE / "release.yaml")
SERVICE = "support-bot"


def write_traffic(store: LocalStore, start: datetime, before_days: int) -> None:
    """``before_days`` of release r1 (labelled mostly good), then a week of r2 whose candidate is labelled bad."""
    before = synth_requests(start - timedelta(days=before_days), days=before_days, per_day=60, seed=1,
                            release_id="r1")
    stable = synth_requests(start, days=7, per_day=60, seed=2, release_id="r2")
    cand = synth_requests(start, days=7, per_day=40, seed=3, release_id="r2", variant="candidate")
    for lines in (before, stable, cand):
        write_request_lines(store, SERVICE, lines, writer=f"gw{lines[0]['request_id'][0]}")
    write_quality(store, before, bad_share=0.08, down_share=0.10, seed=11)
    write_quality(store, stable, bad_share=0.08, down_share=0.10, seed=12, unknown=2)
    write_quality(store, cand, bad_share=0.70, down_share=0.50, seed=13)


def test_drift_review_flags_a_quality_drop_per_release(tmp_path: Path) -> None:
    week = "2026-W40"
    start, _ = week_bounds(week)
    store = LocalStore(tmp_path)
    write_traffic(store, start, before_days=7)  # one of the 4 reference weeks holds traffic: enough
    result = drift_review(config=CONFIG, week=week, artifacts=str(tmp_path))
    assert result["significant"] and result["frozen"]
    assert {r.split(":")[0] for r in result["reasons"]} == {
        "Quality rate (labelled good) fell", "Bad user feedback rate rose", "Quality rate of r2 (candidate) fell",
        "Bad user feedback rate of r2 (candidate) rose"}  # the total, and the variant that moved it
    folder = tmp_path / SERVICE / "reviews" / "drift" / week
    report = json.loads((folder / "report.json").read_text())
    rows = {(r["week_of"], r["release_id"], r["variant"]): r for r in report["quality"]["rows"]}
    assert len(rows) == 3 and report["quality"]["unknown_feedback"] == {"2026-09-28": 2}
    cand = rows[("2026-09-28", "r2", "candidate")]
    assert cand["quality"]["rate"] < 0.7 < rows[("2026-09-28", "r2", "stable")]["quality"]["rate"]
    assert cand["quality"]["low"] < cand["quality"]["rate"] < cand["quality"]["high"]
    assert (folder / "quality.png").read_bytes()[:4] == b"\x89PNG"
    md = (folder / "report.md").read_text()
    assert "## Quality: labels and user feedback" in md and "![quality.png](quality.png)" in md
    assert read_freeze(store, SERVICE).source == "drift_review"  # type: ignore[union-attr]


def test_post_launch_review_shows_quality_before_and_after(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    rid, promoted = promoted_days_ago(store, SERVICE, 8)
    write_traffic(store, promoted, before_days=7)
    [result] = post_launch_review(config=CONFIG, artifacts=str(tmp_path))
    assert result["quality_significant"] and not result["drift_significant"]
    folder = tmp_path / SERVICE / "releases" / rid / "post_launch"
    review = json.loads((folder / "review.json").read_text())
    weeks = {(r["week_of"], r["release_id"], r["variant"]) for r in review["quality"]["rows"]}
    before, after = f"{promoted - timedelta(days=7):%Y-%m-%d}", f"{promoted:%Y-%m-%d}"
    assert weeks == {(before, "r1", "stable"), (after, "r2", "stable"), (after, "r2", "candidate")}
    assert "Quality rate (labelled good) fell" in review["summary"]
    assert sum(review["quality"]["unknown_feedback"].values()) == 2
    md = (folder / "review.md").read_text()
    assert "| r2 | candidate |" in md and "![quality week over week](quality.png)" in md
    assert (folder / "quality.png").read_bytes()[:4] == b"\x89PNG"
