"""Load-test task: drive the candidate with aiperf (a subprocess), judge the SLOs, store the evidence.

Thin on purpose: launchgate/loadtest/engine.py does the run and launchgate/loadtest/analysis.py the judging.
Here: the Prefect progress artifact, the evidence bundle, and the notice to operations.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.budget.ledger import pipeline_remaining_usd
from launchgate.errors import StoreError
from launchgate.loadtest.analysis import RECORDS_FILE, SUMMARY_FILE
from launchgate.loadtest.engine import LoadOutcome, run_load_test
from launchgate.loadtest.report import latency_throughput_png, report_markdown
from launchgate.notify import progress
from launchgate.notify.base import Notice
from launchgate.release.preflight import ReleaseRun
from launchgate.settings import get_settings
from launchgate.verdicts import Verdict, combine

REPORT = "load/loadtest_report.json"
RAW_FILES = {SUMMARY_FILE: "application/json", "profile_export_aiperf.csv": "text/csv",
             RECORDS_FILE: "application/x-ndjson", "logs/aiperf.log": "text/plain; charset=utf-8"}


def spent_so_far(run: ReleaseRun) -> float:
    """What this release already spent on model calls (the eval), read from its own evidence."""
    try:
        report = json.loads(run.store.get(run.bundle.key("eval/eval_report.json")))
    except (StoreError, OSError, ValueError):
        return 0.0
    return sum(float(v.get("total_cost_usd") or 0.0) for v in (report.get("variants") or {}).values())


@task(name="load-test", cache_policy=NO_CACHE, timeout_seconds=3600)
def load_test(run: ReleaseRun) -> list[Verdict]:
    log = get_run_logger()
    cfg = run.config
    lt = cfg.load_test
    rps = lt.expected_peak_rps * lt.multiplier
    artifact_id = create_progress_artifact(progress=0.0, key="load-test-progress",
                                           description=f"load test: {rps:g} req/s for {lt.duration_s:g} s")
    lock = threading.Lock()
    started = time.monotonic()

    def on_progress(stage: str, fraction: float) -> None:
        # Called about once a second by the engine runner: cheap enough for an API call each time.
        with lock:
            progress.emit("load_test", round(fraction * lt.duration_s), round(lt.duration_s))
            update_progress_artifact(artifact_id=artifact_id, progress=round(100.0 * fraction, 1),
                                     description=f"load test {stage}: {fraction * lt.duration_s:.0f}/"
                                                 f"{lt.duration_s:g} s at {rps:g} req/s, "
                                                 f"{time.monotonic() - started:.0f} s elapsed")

    def on_line(line: str) -> None:
        if " NOTICE " in line or " ERROR " in line:  # aiperf's milestones and failures, not its chatter
            log.info("aiperf: %s", line.strip()[:300])

    # Today's pipeline ledger, less this release's eval: its spend is booked only when the gates end.
    try:
        remaining = pipeline_remaining_usd(run.store, cfg.service, cfg) - spent_so_far(run)
    except StoreError as exc:
        log.warning("pipeline budget ledger unreadable (%s): judging against the daily cap alone", exc)
        remaining = cfg.budget.pipeline_daily_usd - spent_so_far(run)
    inputs = [c.input for c in run.cases]
    with tempfile.TemporaryDirectory(prefix="lg-load-") as tmp:
        outcome = run_load_test(cfg, run.prompts["candidate"], inputs, work_dir=Path(tmp),
                                aiperf_bin=get_settings().aiperf_bin, remaining_budget_usd=remaining,
                                evidence=REPORT, on_line=on_line, on_progress=on_progress)
        write_evidence(run, outcome)
    update_progress_artifact(artifact_id=artifact_id, progress=100.0)
    notify_operations(run, outcome)
    phase = combine(outcome.verdicts)
    log.info("load test %s: %s", phase.value, next((v.reason for v in outcome.verdicts if v.blocks), "all passed"))
    return outcome.verdicts


def _scrub(data: bytes, secrets: list[str]) -> bytes:
    for s in secrets:
        data = data.replace(s.encode(), b"***")
    return data


def write_evidence(run: ReleaseRun, outcome: LoadOutcome) -> None:
    b = run.bundle
    report = outcome.report
    b.put_json(REPORT, {
        "release_id": run.release_id,
        "phase": combine(outcome.verdicts).value,
        "plan": outcome.plan.model_dump(mode="json"),
        "cost_estimate": outcome.cost.model_dump(mode="json"),
        "report": report.model_dump(mode="json") if report else None,
        "verdicts": [v.model_dump(mode="json") for v in outcome.verdicts],
    })
    md = report_markdown(run.release_id, report, outcome.verdicts, outcome.cost)
    b.put_text("load/loadtest_report.md", md, "text/markdown")
    if report is not None and report.timeline:
        b.put_bytes("load/latency_throughput.png", latency_throughput_png(report), "image/png")
    if outcome.artifact_dir is not None:
        for name, ctype in RAW_FILES.items():
            path = outcome.artifact_dir / name
            if path.is_file():
                b.put_bytes(f"load/aiperf/{name}", _scrub(path.read_bytes(), outcome.secrets), ctype)
    create_markdown_artifact(key="load-test-report", markdown=md, description=f"load test of {run.release_id}")


def notify_operations(run: ReleaseRun, outcome: LoadOutcome) -> None:
    blocking = [v for v in outcome.verdicts if v.blocks]
    r = outcome.report
    fields = {}
    if r is not None:
        fields = {"target": f"{r.target_rps:g} req/s", "achieved": f"{r.achieved_rps or 0:.2f} req/s",
                  "p95": f"{r.latency_ms.p95:.0f} ms" if r.latency_ms.p95 is not None else "n/a",
                  "errors": f"{(r.error_rate or 0) * 100:.2f}%"}
    notice = Notice(
        event="load_test", role="operations", service=run.config.service, release_id=run.release_id,
        status="blocked" if blocking else "passed",
        title=f"Load test {'blocked the release' if blocking else 'passed'}",
        text=blocking[0].reason if blocking else next(
            (v.reason for v in outcome.verdicts if v.check == "load_p95"), "All load-test checks passed."),
        link=run.bundle.location("load/loadtest_report.md"), fields=fields,
    )
    sent = run.dispatcher.send(notice)  # never raises: the Dispatcher records the outcome
    if not sent.ok and not sent.muted:
        get_run_logger().warning("load-test notice to operations not delivered: %s", sent.error)
