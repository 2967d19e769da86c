"""The scheduled reviews as Prefect flows, on synthetic request logs with known shifts (and without).

The scheduled reviews end to end: a shifted week is flagged, reported (JSON + Markdown + PNG), freezes
releases, and the next `launchgate release` is refused with exit 3 until an authorised person
lifts the freeze; an unshifted week raises no flag; the cost review writes its report and its
Slack summary reaches the stand-in.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from flows.cost_review import cost_review
from flows.drift_review import drift_review
from flows.post_launch_review import post_launch_review
from flows.release import release
from flows.rollback_drill import rollback_drill
from launchgate.budget.ledger import BudgetEvent, BudgetState
from launchgate.cli import main
from launchgate.governance.freeze import read_freeze
from launchgate.requestlog.reader import write_request_lines
from launchgate.reviews.drift import week_bounds
from launchgate.store import LocalStore, layout
from launchgate.store.bundle import to_json_bytes
from tests.conftest import EXAMPLE
from tests.support.bundles import promoted_days_ago
from tests.support.requestlog import synth_requests
from tests.support.slack_standin import slack_standin

CONFIG = str(EXAMPLE / "release.yaml")
SERVICE = "support-bot"
WEEK = "2026-W40"
START, END = week_bounds(WEEK)


def write_weeks(store: LocalStore, **current: Any) -> None:
    """Four reference weeks of ordinary traffic, then the reviewed week with ``current``'s knobs."""
    write_request_lines(store, SERVICE, synth_requests(START - timedelta(weeks=4), days=28, per_day=120, seed=1))
    write_request_lines(store, SERVICE, synth_requests(START, days=7, per_day=120, seed=2, **current))


def review_files(store: Path, week: str) -> set[str]:
    return {p.name for p in (store / SERVICE / "reviews" / "drift" / week).iterdir()}


def test_shifted_week_freezes_releases_until_an_authorised_lift(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    write_weeks(store, output_tokens_mean=220)  # answers ~80% longer than the weeks before
    result = drift_review(config=CONFIG, week=WEEK, artifacts=str(tmp_path))
    assert result["significant"] and result["frozen"]
    assert any("Output length (tokens) shifted" in r for r in result["reasons"])
    assert review_files(tmp_path, WEEK) >= {"report.json", "report.md", "drift.png", "notifications.jsonl"}
    report = json.loads((tmp_path / SERVICE / "reviews" / "drift" / WEEK / "report.json").read_text())
    assert report["expectations"]["evaluated"] > 10 and report["log_quality"]["current"]["records"] == 840
    assert (tmp_path / SERVICE / "reviews" / "drift" / WEEK / "drift.png").read_bytes()[:4] == b"\x89PNG"
    freeze = read_freeze(store, SERVICE)
    assert freeze is not None and freeze.active and freeze.source == "drift_review"
    assert freeze.evidence == f"{SERVICE}/reviews/drift/{WEEK}/report.json"

    # The next release is refused with exit 3 before any model is called (the endpoints do not exist).
    runner = CliRunner()
    out = runner.invoke(main, ["release", "--config", CONFIG, "--artifacts", str(tmp_path),
                               "--set", "load_test.enabled=false", "--set", "canary.enabled=false"])
    assert out.exit_code == 3, out.output
    last = json.loads(out.stdout.strip().splitlines()[-1])
    assert last["decision"] == "blocked" and any("frozen" in r for r in last["reasons"])
    bundle = tmp_path / SERVICE / "releases" / last["release_id"]
    decision = json.loads((bundle / "decision.json").read_text())
    checks = {v["check"]: v["phase"] for v in decision["verdicts"]}
    assert checks["release_freeze"] == "failed" and "eval_score" not in checks
    assert json.loads((bundle / "preflight/release_freeze.json").read_text())["freeze"]["active"] is True

    # An unlisted name cannot lift it; an approver can, and the release gets past the freeze gate.
    base = ["freeze", "lift", "--service", SERVICE, "--config", CONFIG, "--artifacts", str(tmp_path)]
    assert runner.invoke(main, [*base, "--as", "mallory", "--reason", "ship it"]).exit_code == 3
    assert runner.invoke(main, [*base, "--as", "alice", "--reason", "prompt v2 caps answers"]).exit_code == 0
    # A pipeline budget smaller than the eval's cap stops it at the same gate: cheap proof the freeze passed.
    again = release(config=CONFIG, artifacts=str(tmp_path), overrides={
        "load_test.enabled": False, "canary.enabled": False, "budget.pipeline_daily_usd": 0.5})
    phases = {v["check"]: v["phase"] for v in again["verdicts"]}
    assert again["exit_code"] == 3
    assert phases["release_freeze"] == "successful" and phases["pipeline_budget"] == "failed"


def test_unshifted_week_raises_no_flag(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    write_weeks(store)
    result = drift_review(config=CONFIG, week=WEEK, artifacts=str(tmp_path))
    assert not result["significant"] and not result["frozen"] and result["reasons"] == []
    assert read_freeze(store, SERVICE) is None
    md = (tmp_path / SERVICE / "reviews" / "drift" / WEEK / "report.md").read_text()
    assert "No significant drift" in md and "Log expectations (Great Expectations): pass" in md


def test_cost_review_writes_its_report_and_tells_the_budget_owner(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(tmp_path)
    month_start = datetime(2026, 9, 1, tzinfo=UTC)
    write_request_lines(store, SERVICE, synth_requests(month_start, days=30, per_day=300, seed=3))
    # A runaway day: 20x the traffic on Sep 17 ($1+ against ~$0.15 on a normal day).
    write_request_lines(store, SERVICE, synth_requests(datetime(2026, 9, 17, tzinfo=UTC), days=1, per_day=6000,
                                                       seed=4), writer="burst")
    with slack_standin() as (url, slack):
        monkeypatch.setenv("LAUNCHGATE_NOTIFIER", "slack")
        monkeypatch.setenv("LAUNCHGATE_SLACK_TOKEN", "xoxb-test")
        monkeypatch.setenv("LAUNCHGATE_SLACK_BASE_URL", url)
        result = cost_review(config=CONFIG, month="2026-09", artifacts=str(tmp_path))
        posts = slack.posts()
    folder = tmp_path / SERVICE / "reviews" / "cost" / "2026-09"
    assert {p.name for p in folder.iterdir()} >= {"report.json", "report.md", "daily_spend.png"}
    report = json.loads((folder / "report.json").read_text())
    assert report["requests"] == 30 * 300 + 6000 and len(report["days"]) == 30
    assert report["forecast"]["month"] == "2026-10" and report["forecast"]["buffer_pct"] == 15
    assert result["spike"] and result["frozen"] and [s["when"] for s in report["spikes"] if s["kind"] == "day"] == \
        ["2026-09-17"]
    assert read_freeze(store, SERVICE).source == "cost_review"  # type: ignore[union-attr]
    channels = {p.body["channel"] for p in posts}
    assert "#support-bot-finops" in channels and any("Cost review 2026-09" in str(p.body.get("text")) for p in posts)


def test_post_launch_review_lands_in_the_bundle_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    rid, promoted = promoted_days_ago(store, SERVICE, 8)
    write_request_lines(store, SERVICE, synth_requests(promoted - timedelta(days=7), days=7, per_day=100, seed=5))
    write_request_lines(store, SERVICE, synth_requests(promoted, days=7, per_day=100, seed=6, output_tokens_mean=180))
    day = (promoted + timedelta(days=2)).date()
    state = BudgetState(service=SERVICE, day=day, daily_usd=50, alert_usd=45, pipeline_daily_usd=10, events=[
        BudgetEvent(kind="alert", at=datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=15),
                    spend_usd=45.2, threshold_usd=45)])
    store.put(layout.budget_day(SERVICE, day), to_json_bytes(state), "application/json")

    results = post_launch_review(config=CONFIG, artifacts=str(tmp_path))
    assert [r["status"] for r in results] == ["reviewed"] and results[0]["drift_significant"]
    review = json.loads((tmp_path / SERVICE / "releases" / rid / "post_launch" / "review.json").read_text())
    assert [i["kind"] for i in review["incidents"]] == ["budget_alert"]
    assert 15 < review["cost_per_request_change_pct"] < 25  # 50% longer answers: +19% per request
    assert (tmp_path / SERVICE / "releases" / rid / "post_launch" / "review.md").is_file()
    assert post_launch_review(config=CONFIG, artifacts=str(tmp_path)) == []  # reviewed once


def test_rollback_drill_says_when_it_is_not_configured(tmp_path: Path) -> None:
    data = yaml.safe_load(Path(CONFIG).read_text())
    data["canary"] = {**(data.get("canary") or {}), "enabled": False}
    config = tmp_path / "release.yaml"  # the review loads it without its files: paths need not resolve
    config.write_text(yaml.safe_dump(data))
    result = rollback_drill(config=str(config), artifacts=str(tmp_path))
    assert result["status"] == "not_configured" and "canary.enabled is false" in result["reason"]
