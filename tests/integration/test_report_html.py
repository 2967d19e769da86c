"""report.html of a finalized release in Debian's headless Chromium (Playwright, no browser download).

The bundle is built by the real step functions (rubric, approvals, canary evidence, finalize);
the canary ran against the unit tests' fake router and metrics, with a metrics outage in the
middle so the page shows a held look. Screenshots (laptop and phone) are kept under
.pytest-artifacts/report_html/ (LAUNCHGATE_TEST_ARTIFACTS overrides) for a person to look at.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from launchgate.canary.judge import CanaryJudge, JudgeConfig
from launchgate.canary.rollout import CanaryPlan, run_canary
from launchgate.canary.step import write_evidence
from launchgate.cli import main as cli
from launchgate.governance.approvals import ApprovalLedger
from launchgate.governance.rubric import FreezeState, apply_rubric
from launchgate.release.finalize import write_records
from launchgate.release.preflight import prepare_release
from launchgate.release.records import decide
from launchgate.verdicts import Phase, Verdict
from tests.support.bundles import EXAMPLE
from tests.unit.test_canary_rollout import Clock, FakeMetrics, FakeRouter

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("LAUNCHGATE_TEST_ARTIFACTS", ROOT / ".pytest-artifacts")) / "report_html"
GRAFANA = "http://grafana.example:3000"


def _bundle(store_dir: Path) -> tuple[Any, Path]:
    run = prepare_release(EXAMPLE / "release.yaml", artifacts=str(store_dir),
                          overrides={"observability.grafana_url": GRAFANA})
    b = run.bundle
    by_tag = {tag: {"stable": {"score": s, "low": s - 0.08, "high": min(1.0, s + 0.06), "n": n},
                    "candidate": {"score": c, "low": c - 0.05, "high": min(1.0, c + 0.04), "n": n}}
              for tag, s, c, n in (("billing", 0.85, 0.93, 41), ("shipping", 0.80, 0.95, 41), ("urgent", 0.77, 0.9, 22),
                                   ("harmful <script>alert(1)</script>", 0.72, 0.95, 22))}
    b.put_json("eval/eval_report.json", {
        "variants": {"candidate": {"score": 0.931, "schema_valid_rate": 1.0, "cost_per_request": 0.000304,
                                   "latency_p95_ms": 168.0},
                     "stable": {"score": 0.842, "schema_valid_rate": 0.998, "cost_per_request": 0.000312}},
        "comparison": {"bootstrap_ci": {"confidence": 0.95, "delta": 0.089, "low": 0.04, "high": 0.137, "n": 267}},
        "by_tag": by_tag})
    b.put_json("load/loadtest_report.json", {
        "phase": "successful", "plan": {"target_rps": 10.0},
        "report": {"achieved_rps": 9.9, "effective_latency_ms": {"p50": 73.7, "p90": 116.3, "p95": 153.7,
                                                                  "p99": 169.3, "count": 100}}})
    b.put_json("readiness/readiness.json", {
        "service": "support-bot", "release_id": run.release_id, "summary": "ready: 3 of 4 items verified or attested, "
        "1 not applicable", "counts": {"total": 4, "verified": 2, "attested": 1, "not_applicable": 1, "failed": 0,
                                       "missing": 0, "expired": 0, "ready": True},
        "items": [{"id": "eval.golden", "title": "Golden set versioned", "status": "verified", "required": True,
                   "reason": "golden.jsonl pinned at sha256 b8c74c96"},
                  {"id": "ops.runbook", "title": "Runbook reviewed", "status": "attested", "required": True,
                   "reason": "attested by bob"},
                  {"id": "obs.alerts", "title": "Error rate alerts configured", "status": "verified", "required": True,
                   "reason": "LaunchgateErrorRateHigh in prometheus/rules.yml"},
                  {"id": "sec.pii", "title": "PII review", "status": "not_applicable", "required": False,
                   "reason": "no personal data"}]})
    verdicts = [Verdict(check="eval_score", phase=Phase.SUCCESSFUL, value={"candidate": 0.93, "baseline": 0.84},
                        reason="Eval score 0.931 >= baseline 0.842 + 0.020", evidence="eval/eval_report.json"),
                Verdict(check="schema_validity", phase=Phase.SUCCESSFUL, value=1.0, reason="schema 100% >= 99%"),
                Verdict(check="cost_per_request", phase=Phase.SUCCESSFUL, reason="cost/request -2.6% <= +20%"),
                Verdict(check="readiness", phase=Phase.SUCCESSFUL, reason="every required readiness item verified"),
                Verdict(check="load_p95_latency", phase=Phase.SUCCESSFUL, reason="p95 154 ms <= 1200 ms"),
                Verdict(check="rollback_tested", phase=Phase.SUCCESSFUL, reason="rollback drill took 0.8 s")]
    record = apply_rubric(run.release_id, run.config, verdicts, FreezeState())
    b.put_json("gonogo.json", record)
    ledger = ApprovalLedger.open(run.release_id, "support-bot", run.config.approvals)
    ledger.submit("engineering", "alice", "approve", "eval ok, CIs clear the margin")
    ledger.submit("operations", "bob", "approve")
    b.put_json("approvals/approvals.json", ledger)
    # A canary with a 6 s metrics outage (held looks), then promoted at the end of its window.
    clock = Clock()
    router = FakeRouter(clock)
    metrics = FakeMetrics(clock, lambda t: 0.0, rps=4, down=lambda t: 14 <= t < 20)
    plan = CanaryPlan(steps=[10, 25, 50], interval_s=5, duration_s=60, lease_ttl_s=15, holder="canary-r1")
    judge_cfg = JudgeConfig(min_requests=50, looks=13)
    outcome = run_canary(router, metrics, CanaryJudge(judge_cfg), plan, clock=clock, sleep=clock.sleep)
    assert outcome.result == "promoted" and any(t.action.value == "hold" for t in outcome.ticks)
    write_evidence(run, outcome, judge_cfg, None)
    decision = decide(run.release_id, "support-bot",
                      [*verdicts, record.verdict(), ledger.verdict(), *outcome.verdicts], run.evidence_uri,
                      traffic_shifted=True)
    write_records(run, decision)
    return run, Path(b.location("report.html"))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    return _bundle(tmp_path_factory.mktemp("report") / "store")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "chromium not installed: run `make sysdeps` (apt-get install chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


def _open(browser: Any, path: Path, width: int, height: int) -> tuple[Any, list[str], list[str]]:
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    fetched: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: fetched.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    page.goto(path.as_uri(), wait_until="load")
    return page, errors, fetched


@pytest.mark.parametrize(("name", "width", "height"), [("laptop", 1280, 800), ("phone", 390, 844)])
def test_report_in_chromium(report: tuple[Any, Path], browser: Any, name: str, width: int, height: int) -> None:
    run, path = report
    page, errors, fetched = _open(browser, path, width, height)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"report-{name}.png"
    page.screenshot(path=str(shot))
    page.screenshot(path=str(ARTIFACTS / f"report-{name}-full.png"), full_page=True)
    print(f"screenshots: {shot} (+ -full.png)")
    assert errors == [], errors
    assert fetched == [], f"the report fetched from the network: {fetched}"
    images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])")
    assert images and all(ok for _, ok in images), images  # the canary timeline PNG at least
    assert page.locator("svg.chart").count() >= 3  # eval CIs, load latency, canary timeline
    banner = page.locator("#decision")
    box = banner.bounding_box()
    assert box is not None and box["y"] + box["height"] <= height, f"decision below the fold: {box}"
    assert "Promoted" in banner.inner_text() and run.release_id in banner.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "page scrolls sideways"
    text = page.locator("main").inner_text()
    assert "Looks held without metrics" in text and "holding the current weight" in text
    assert "Readiness" in text and "ready: 3 of 4 items" in text
    assert "harmful <script>alert(1)</script>" in text  # escaped, shown as text
    assert page.locator(f'a[href^="{GRAFANA}/d/launchgate-support-bot/"]').count() == 1
    assert page.locator('a[href="eval/eval_report.json"]').count() >= 1


def test_report_is_in_the_bundle_and_the_cli_finds_it(report: tuple[Any, Path], tmp_path: Path) -> None:
    run, path = report
    html = path.read_text()
    assert "<script" not in html.replace("&lt;script", "")  # no script of its own
    index = json.loads(Path(run.bundle.location("index.json")).read_text())
    names = {a["name"] for a in index["artifacts"]}
    assert "report.html" not in names and {"canary/timeline.png", "decision.json"} <= names
    assert all(a["sha256"][:12] in html for a in index["artifacts"])
    store = str(Path(run.bundle.location("index.json")).parents[3])
    ok = CliRunner().invoke(cli, ["report", run.release_id, "--config", str(EXAMPLE / "release.yaml"),
                                  "--artifacts", store])
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip() == str(path)
    missing = CliRunner().invoke(cli, ["report", "support-bot-20990101T000000Z-deadbeef", "--config",
                                       str(EXAMPLE / "release.yaml"), "--artifacts", store])
    assert missing.exit_code == 2 and "no release support-bot-20990101T000000Z-deadbeef" in missing.output
