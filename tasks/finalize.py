"""Finalize task: decision record, notifications log, evidence index (launchgate/release/finalize.py)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.release import finalize as records
from launchgate.release.preflight import ReleaseRun
from launchgate.release.records import Decision


def _publish(run: ReleaseRun, decision: Decision, *, skip_existing: bool) -> str:
    done = records.write_records(run, decision, skip_existing=skip_existing)
    create_markdown_artifact(key="release-decision", markdown=done.markdown, description=decision.summary[:250])
    create_table_artifact(key="release-verdicts", table=done.tables["release-verdicts"],
                          description=f"verdicts of {run.release_id}")
    if run.evidence_uri.startswith(("s3://", "http")):
        create_link_artifact(key="release-evidence", link=run.evidence_uri, description="evidence bundle")
    return done.evidence[0]


# No task retries: bundle files are write-once, so a retry after a partial write could only fail on
# ArtifactExistsError. Transient S3 faults are absorbed below it (botocore retries, then the spool).
@task(name="finalize", cache_policy=NO_CACHE, timeout_seconds=300)
def finalize(run: ReleaseRun, decision: Decision) -> str:
    return _publish(run, decision, skip_existing=False)


@task(name="finalize-resumed", cache_policy=NO_CACHE, timeout_seconds=300)
def complete_decided(run: ReleaseRun) -> Decision:
    """A resumed release that was already decided: its decision stands; add only missing records."""
    assert run.resume is not None and run.resume.decision is not None
    decision = Decision.model_validate(run.resume.decision)
    _publish(run, decision, skip_existing=True)
    return decision


@task(name="promoted-before-crash", cache_policy=NO_CACHE, timeout_seconds=60)
def promoted_before_crash(run: ReleaseRun) -> Decision:
    return records.promoted_before_crash(run)
