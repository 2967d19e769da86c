"""Finalize task: decision record, notifications log, evidence index with sha256s."""

from __future__ import annotations

import json

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.preflight import ReleaseRun
from launchgate.release import Decision
from launchgate.report import decision_markdown
from launchgate.review import write_review


# No task retries: bundle files are write-once, so a retry after a partial write could only fail on
# ArtifactExistsError. Transient S3 faults are absorbed below it (botocore retries, then the spool).
@task(name="finalize", cache_policy=NO_CACHE, timeout_seconds=300)
def finalize(run: ReleaseRun, decision: Decision) -> str:
    b = run.bundle
    b.put_json("decision.json", decision.model_dump(mode="json"))
    md = decision_markdown(decision)
    b.put_text("decision.md", md, "text/markdown")
    write_review(b, decision)  # before the index, so index.json carries its sha256
    lines = "".join(json.dumps(o.model_dump(mode="json"), sort_keys=True) + "\n" for o in run.dispatcher.outcomes)
    b.put_text("notifications.jsonl", lines, "application/x-ndjson")
    index = b.write_index()  # index.json lists each artifact's state and what is still "pending"
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
    return str(index)
