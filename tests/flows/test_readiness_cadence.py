"""The two scheduled readiness deployments under Prefect's harness: the weekly readiness review and the
monthly extended evaluation, each writing its report under <service>/reviews/ and telling the owners."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flows.extended_eval import extended_eval
from flows.readiness_review import readiness_review
from launchgate.config import load_config
from launchgate.readiness.attestations import attest
from launchgate.readiness.catalogue import load_catalogue
from launchgate.store import layout, open_store
from tests.conftest import EXAMPLE
from tests.support.sim import running_sim

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def example_copy(tmp_path: Path, *, golden_cases: int | None = None, timeout_s: int | None = None) -> Path:
    root = tmp_path / "svc"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("*.py", ".launchgate"))
    if golden_cases is not None:
        lines = (root / "golden.jsonl").read_text().splitlines()[:golden_cases]
        (root / "golden.jsonl").write_text("\n".join(lines) + "\n")
    if timeout_s is not None:
        text = (root / "release.yaml").read_text().replace("timeout_s: 10", f"timeout_s: {timeout_s}", 1)
        (root / "release.yaml").write_text(text)
    return root / "release.yaml"


def test_weekly_review_names_expiring_attestations_and_items_that_turned_failed(tmp_path: Path) -> None:
    config = example_copy(tmp_path, timeout_s=300)  # llm-timeouts fails this week
    store_dir = tmp_path / "store"
    store = open_store(str(store_dir))
    item = load_catalogue().get("security-signoff")
    assert item is not None
    attest(store, load_config(config, check_files=False), item, "dana", now=NOW - timedelta(days=80))  # 90 d
    last_week = layout.readiness_review("support-bot", "2026-W48") + "report.json"
    store.put(last_week, json.dumps({
        "service": "support-bot", "week": "2026-W48", "checked_at": "2026-11-23T08:00:00Z", "release_id": None,
        "counts": {}, "ready": False, "summary": "", "statuses": {"llm-timeouts": "verified"}}).encode())

    out = readiness_review(config=str(config), artifacts=str(store_dir), at=NOW.isoformat())
    assert out["week"] == "2026-W49" and out["ready"] is False
    assert out["expiring"] == ["security-signoff"] and out["turned_failed"] == ["llm-timeouts"]
    prefix = store_dir / "support-bot" / "reviews" / "readiness" / "2026-W49"
    report = json.loads((prefix / "report.json").read_text())
    assert report["statuses"]["llm-timeouts"] == "failed" and report["previous_week"] == "2026-W48"
    assert report["expiring"][0]["expires_at"].startswith("2026-12-10")
    assert "security-signoff" in (prefix / "report.md").read_text()
    notes = [json.loads(x) for x in (prefix / "notifications.jsonl").read_text().splitlines()]
    # security has no channel in owners: its notice reaches the platform owner (operations)
    assert {(n["role"], n["target"], n["ok"]) for n in notes} == {("operations", "#support-bot-ops", True),
                                                                  ("engineering", "#support-bot-eng", True)}


def test_monthly_extended_eval_repeats_the_golden_set_against_stable(tmp_path: Path) -> None:
    config = example_copy(tmp_path, golden_cases=20)
    with running_sim(EXAMPLE / "variants.yaml", "stable") as stable:
        text = config.read_text().replace("http://127.0.0.1:8101/v1", stable)
        config.write_text(text)
        out = extended_eval(config=str(config), artifacts=str(tmp_path / "store"), repeats=2)
    month = datetime.now(UTC).strftime("%Y-%m")
    assert out["month"] == month and 0.5 < out["score"] <= 1.0
    assert out["representativeness"] == "missing"  # no request log in this store: never "verified"
    prefix = tmp_path / "store" / "support-bot" / "reviews" / "extended-eval" / month
    report = json.loads((prefix / "report.json").read_text())
    assert report["repeats"] == 2 and report["cases"] == 20 and "flaky_cases" in report
    assert "## Flaky cases" in (prefix / "report.md").read_text()
    notes = [json.loads(x) for x in (prefix / "notifications.jsonl").read_text().splitlines()]
    assert [n["role"] for n in notes] == ["product"]
