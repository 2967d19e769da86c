"""The readiness review as a command and as a release step (the step's core function)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from launchgate.config import ReleaseConfig
from launchgate.errors import ConfigError, StoreError
from launchgate.readiness.attestations import Attestation, people, read_attestations, standing
from launchgate.readiness.catalogue import config_problems, load_catalogue, service_items
from launchgate.readiness.evidence import Evidence
from launchgate.readiness.gather import gather
from launchgate.readiness.models import ReadinessReport
from launchgate.readiness.review import evaluate, markdown, table_rows
from launchgate.release.preflight import ReleaseRun
from launchgate.settings import Settings
from launchgate.store.base import ArtifactStore
from launchgate.verdicts import Phase, StepResult, Verdict

READINESS_JSON = "readiness/readiness.json"
READINESS_MD = "readiness/readiness.md"
EVIDENCE_JSON = "readiness/evidence.json"  # the seed's "Evidence Required for Release", gathered in one place
SECURITY_SIGNOFF = "security-signoff"


def check_config(config: ReleaseConfig, config_path: Path | str | None) -> None:
    """The readiness section against the catalogue: a contradiction is bad input (exit 2), naming the field."""
    problems = config_problems(config.readiness, people(config))
    if problems:
        raise ConfigError(str(config_path or "release.yaml"), problems)


def review_service(store: ArtifactStore, config: ReleaseConfig, *, settings: Settings, now: datetime | None = None,
                   config_path: Path | None = None, **kw: Any) -> tuple[ReadinessReport, Evidence]:
    """The whole review for ``launchgate readiness`` and the scheduled review (``kw`` goes to gather)."""
    check_config(config, config_path)
    now = now or datetime.now(UTC)
    ev = gather(store, config, now=now, settings=settings, config_path=config_path, **kw)
    records: list[Attestation] = []
    if not any("unreachable" in p for p in ev.problems):
        try:
            records = read_attestations(store, config.service)
        except StoreError as exc:  # unreadable attestations vouch for nothing: their items show missing
            ev.problems.append(f"attestations: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    return evaluate(ev, service_items(config.readiness), records, people(config), now), ev


def release_evidence(report: ReadinessReport, ev: Evidence, store: ArtifactStore) -> dict[str, Any]:
    """The seed's evidence required for release: eval report, canary summary and dashboard, budget alarm,
    security sign-off."""
    cfg = ev.config
    item = load_catalogue().get(SECURITY_SIGNOFF)
    assert item is not None
    try:
        records = [] if any("unreachable" in p for p in ev.problems) else read_attestations(store, cfg.service)
    except StoreError:  # the review already noted it; the evidence file says what it could not read
        records = []
    signoff = standing(records, item, report.checked_at, people_of_role=people(cfg).get(item.owner, []))
    return {
        "release_id": report.release_id,
        "eval_report": {"key": ev.key("eval/eval_report.json"), "present": ev.eval_report is not None},
        "canary": {"summary": ev.key("canary/canary_summary.json"), "present": ev.canary_summary is not None,
                   "note": "written by the canary step after sign-off" if ev.canary_summary is None else "",
                   "dashboard_url": cfg.readiness.dashboard_url},
        "budget_alarm": {**cfg.budget.model_dump(mode="json"), "alert_routes": {
            "budget": cfg.owners.budget, "oncall": cfg.owners.oncall}, "notifier": cfg.notifications.notifier},
        "security_signoff": {"status": signoff.status.value, "reason": signoff.reason,
                             "record": signoff.record.model_dump(mode="json") if signoff.record else None},
        "not_read": list(ev.problems),
    }


def readiness_verdict(report: ReadinessReport) -> Verdict:
    """Blocks (failed) when a required item lacks evidence and enforce is block; warn passes with the list."""
    by_id = {r.id: r for r in report.items}
    named = ", ".join(f"{i} ({by_id[i].owner}: {by_id[i].status.value})" for i in report.blocking[:6])
    more = f" and {len(report.blocking) - 6} more" if len(report.blocking) > 6 else ""
    c = report.counts
    if not report.blocking:
        return Verdict(check="readiness", phase=Phase.SUCCESSFUL, value=c.model_dump(), threshold="every required item",
                       reason=report.summary, evidence=READINESS_JSON)
    reason = (f"Readiness: {len(report.blocking)} required items lack evidence: {named}{more}. Their owners fix or "
              f"attest them (`launchgate attest ITEM --as NAME`), see {READINESS_MD}.")
    if report.enforce == "warn":
        return Verdict(check="readiness", phase=Phase.SUCCESSFUL, value=c.model_dump(), threshold="warn only",
                       reason="(readiness.enforce is warn, so this does not block) " + reason, evidence=READINESS_JSON)
    return Verdict(check="readiness", phase=Phase.FAILED, value=c.model_dump(), threshold="every required item",
                   reason=reason, evidence=READINESS_JSON)


def readiness_step(run: ReleaseRun, verdicts: Sequence[Verdict], *, now: datetime | None = None) -> StepResult:
    """The release's readiness step: judge every item from this run's evidence and the store; write the bundle files."""
    now = now or datetime.now(UTC)
    base = run.bundle.base
    written = [(a.key[len(base):], a.key, a.size) for a in run.bundle.artifacts if a.key.startswith(base)]
    report, ev = review_service(run.store, run.config, settings=run.ctx.settings, now=now,
                                config_path=run.ctx.config_path, release_id=run.release_id, attempt=run.bundle.attempt,
                                verdicts=verdicts, in_release=True, written=written, cases=run.cases)
    md = markdown(report)
    run.bundle.put_json(READINESS_JSON, report)
    run.bundle.put_text(READINESS_MD, md, "text/markdown")
    run.bundle.put_json(EVIDENCE_JSON, release_evidence(report, ev, run.store))
    verdict = readiness_verdict(report)
    return StepResult(step="readiness", verdicts=[verdict], evidence=[READINESS_JSON, READINESS_MD, EVIDENCE_JSON],
                      summary=verdict.reason, markdown=md, tables={"readiness": table_rows(report)})
