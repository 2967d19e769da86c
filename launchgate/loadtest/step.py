"""The load-test step as a plain function: drive the candidate with aiperf, judge the SLOs, store the evidence.

launchgate/loadtest/engine.py runs the engine and launchgate/loadtest/analysis.py judges; here the
budget the run may spend, the evidence bundle, and the notice to operations.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from launchgate.budget.ledger import pipeline_remaining_usd
from launchgate.errors import StoreError
from launchgate.eval.spend import eval_spend_usd
from launchgate.loadtest.analysis import RECORDS_FILE, SUMMARY_FILE
from launchgate.loadtest.engine import LoadOutcome, run_load_test
from launchgate.loadtest.report import latency_throughput_png, report_markdown
from launchgate.notify.base import Notice
from launchgate.observability.baggage import release_baggage
from launchgate.release.preflight import ReleaseRun
from launchgate.store.jsonio import find_object
from launchgate.verdicts import StepResult, combine

log = logging.getLogger(__name__)
REPORT = "load/loadtest_report.json"
RAW_FILES = {SUMMARY_FILE: "application/json", "profile_export_aiperf.csv": "text/csv",
             RECORDS_FILE: "application/x-ndjson", "logs/aiperf.log": "text/plain; charset=utf-8"}


def spent_so_far(run: ReleaseRun) -> float:
    """What this release already spent on model calls (the eval), read from its own evidence."""
    try:
        report = find_object(run.store, run.bundle.key("eval/eval_report.json"))
    except StoreError:
        return 0.0
    return eval_spend_usd(report) if report else 0.0


def remaining_budget_usd(run: ReleaseRun) -> float:
    """Today's pipeline ledger, less this release's eval: its spend is booked only when the gates end."""
    cfg = run.config
    try:
        remaining = pipeline_remaining_usd(run.store, cfg.service, cfg)
    except StoreError as exc:
        log.warning("pipeline budget ledger unreadable (%s): judging against the daily cap alone", exc)
        remaining = cfg.budget.pipeline_daily_usd
    return remaining - spent_so_far(run)


def load_test_step(run: ReleaseRun, *, aiperf_bin: str | None,
                   on_progress: Callable[[str, float], None] | None = None,
                   on_line: Callable[[str], None] | None = None) -> StepResult:
    cfg = run.config
    # Every load-test request carries the release id as W3C baggage (aiperf --header).
    with tempfile.TemporaryDirectory(prefix="lg-load-") as tmp, release_baggage(run.release_id):
        outcome = run_load_test(cfg, run.prompts["candidate"], [c.input for c in run.cases], work_dir=Path(tmp),
                                aiperf_bin=aiperf_bin, remaining_budget_usd=remaining_budget_usd(run),
                                evidence=REPORT, on_line=on_line, on_progress=on_progress)
        names, md = write_evidence(run, outcome)
    notify_operations(run, outcome)
    blocking = [v for v in outcome.verdicts if v.blocks]
    return StepResult(step="load_test", verdicts=outcome.verdicts, evidence=names, markdown=md,
                      summary=f"load test {combine(outcome.verdicts).value}: "
                              + (blocking[0].reason if blocking else "all passed"))


def _scrub(data: bytes, secrets: list[str]) -> bytes:
    for s in secrets:
        data = data.replace(s.encode(), b"***")
    return data


def write_evidence(run: ReleaseRun, outcome: LoadOutcome) -> tuple[list[str], str]:
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
    names = [REPORT, "load/loadtest_report.md"]
    md = report_markdown(run.release_id, report, outcome.verdicts, outcome.cost)
    b.put_text("load/loadtest_report.md", md, "text/markdown")
    if report is not None and report.timeline:
        b.put_bytes("load/latency_throughput.png", latency_throughput_png(report), "image/png")
        names.append("load/latency_throughput.png")
    if outcome.artifact_dir is not None:
        for name, ctype in RAW_FILES.items():
            path = outcome.artifact_dir / name
            if path.is_file():
                b.put_bytes(f"load/aiperf/{name}", _scrub(path.read_bytes(), outcome.secrets), ctype)
                names.append(f"load/aiperf/{name}")
    return names, md


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
        log.warning("load-test notice to operations not delivered: %s", sent.error)
