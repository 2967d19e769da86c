"""Finalize task: decision record, notifications log, evidence index with sha256s."""

from __future__ import annotations

import json

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.errors import LaunchgateError
from launchgate.eval.report import decision_markdown
from launchgate.governance.release_review import write_review
from launchgate.release.preflight import ReleaseRun
from launchgate.release.records import Decision
from launchgate.release.resume import promoted_decision
from launchgate.store.bundle import INDEX_NAME
from launchgate.verdicts import Verdict


def _write_records(run: ReleaseRun, decision: Decision, *, skip_existing: bool) -> str:
    """The release's records, index last. ``skip_existing`` keeps whatever an earlier attempt stored."""
    b = run.bundle

    def todo(name: str) -> bool:
        return not (skip_existing and b.exists(name))

    md = decision_markdown(decision)
    if todo("decision.json"):
        b.put_json("decision.json", decision.model_dump(mode="json"))
    if todo("decision.md"):
        b.put_text("decision.md", md, "text/markdown")
    write_review(b, decision, skip_existing=skip_existing)  # before the index, so index.json carries its sha256
    if todo("notifications.jsonl"):
        lines = "".join(json.dumps(o.model_dump(mode="json"), sort_keys=True) + "\n"
                        for o in run.dispatcher.outcomes)
        b.put_text("notifications.jsonl", lines, "application/x-ndjson")
    if todo(INDEX_NAME):
        b.write_index()  # index.json lists each artifact's state and what is still "pending"
    if b.pending:  # S3 was unreachable: these wait in the local spool (`launchgate flush-spool` uploads them)
        get_run_logger().warning("%d artifact(s) of %s are spooled, not yet persisted: %s",
                                 len(b.pending), run.release_id, ", ".join(b.pending))
    create_markdown_artifact(key="release-decision", markdown=md, description=decision.summary[:250])
    create_table_artifact(
        key="release-verdicts",
        table=[{"check": v.check, "phase": v.phase.value, "reason": v.reason} for v in decision.verdicts],
        description=f"verdicts of {run.release_id}",
    )
    location = run.evidence_uri
    if location.startswith(("s3://", "http")):
        create_link_artifact(key="release-evidence", link=location, description="evidence bundle")
    return b.location(INDEX_NAME)


# No task retries: bundle files are write-once, so a retry after a partial write could only fail on
# ArtifactExistsError. Transient S3 faults are absorbed below it (botocore retries, then the spool).
@task(name="finalize", cache_policy=NO_CACHE, timeout_seconds=300)
def finalize(run: ReleaseRun, decision: Decision) -> str:
    return _write_records(run, decision, skip_existing=False)


@task(name="finalize-resumed", cache_policy=NO_CACHE, timeout_seconds=300)
def complete_decided(run: ReleaseRun) -> Decision:
    """A resumed release that was already decided: its decision stands; add only missing records."""
    assert run.resume is not None and run.resume.decision is not None
    decision = Decision.model_validate(run.resume.decision)
    _write_records(run, decision, skip_existing=True)
    return decision


@task(name="promoted-before-crash", cache_policy=NO_CACHE, timeout_seconds=60)
def promoted_before_crash(run: ReleaseRun) -> Decision:
    """The decision of a release the canary promoted before the process died (no traffic is touched)."""
    assert run.resume is not None
    stored: list[Verdict] = []
    try:
        if run.bundle.exists("canary/verdicts.json"):
            raw = json.loads(run.store.get(run.bundle.key("canary/verdicts.json")))
            stored = [Verdict.model_validate(v) for v in raw]
    except (LaunchgateError, ValueError) as exc:  # the promotion record alone still proves the promotion
        get_run_logger().warning("canary verdicts of %s unreadable: %s", run.release_id, exc)
    return promoted_decision(run.resume, run.config.service, run.evidence_uri, stored)
