"""The release's own records, written last: decision, review, notifications log, evidence index.

Notifications are journaled into the bundle as they are sent (``notifications/<stamp>-<id>.json``,
per attempt), so a step in another process, or an attempt that crashed, still appears in
``notifications.jsonl``.
"""

from __future__ import annotations

import logging

from launchgate.errors import StoreError
from launchgate.eval.report import decision_markdown
from launchgate.governance.release_review import write_review
from launchgate.release.preflight import JOURNAL, ReleaseRun
from launchgate.release.records import Decision
from launchgate.release.resume import promoted_decision
from launchgate.report.page import write_report
from launchgate.store.bundle import INDEX_NAME, to_jsonl_bytes
from launchgate.store.jsonio import get_json
from launchgate.verdicts import StepResult, Verdict

log = logging.getLogger(__name__)


def journaled(run: ReleaseRun) -> list[dict[str, object]]:
    """Every attempt's journaled outcomes, in the order they were sent.

    With the store unreachable (S3 down: the records wait in the spool) the listing fails; this
    process's own outcomes are then the best record there is, and the log says so.
    """
    bundle = run.bundle
    try:
        keys = [k for k in bundle.store.list(bundle.base) if f"/{JOURNAL}" in k and k.endswith(".json")]
        rows = [get_json(bundle.store, key) for key in sorted(keys, key=lambda k: k.rsplit("/", 1)[-1])]
    except StoreError as exc:
        log.warning("notification journal of %s unreadable (%s): writing this process's outcomes", run.release_id,
                    exc)
        return [o.model_dump(mode="json") for o in run.dispatcher.outcomes]
    return rows


def write_records(run: ReleaseRun, decision: Decision, *, skip_existing: bool = False) -> StepResult:
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
        b.put_bytes("notifications.jsonl", to_jsonl_bytes(journaled(run)), "application/x-ndjson")
    if todo(INDEX_NAME):
        b.write_index()  # index.json lists each artifact's state and what is still "pending"
    write_report(b, skip_existing=skip_existing)  # a view of index.json: after it, and not listed in it
    if b.pending:  # S3 was unreachable: these wait in the local spool (`launchgate flush-spool` uploads them)
        log.warning("%d artifact(s) of %s are spooled, not yet persisted: %s",
                    len(b.pending), run.release_id, ", ".join(b.pending))
    table = [{"check": v.check, "phase": v.phase.value, "reason": v.reason} for v in decision.verdicts]
    return StepResult(step="finalize", verdicts=decision.verdicts, evidence=[b.location(INDEX_NAME)],
                      summary=decision.summary, markdown=md, tables={"release-verdicts": table})


def promoted_before_crash(run: ReleaseRun) -> Decision:
    """The decision of a release the canary promoted before the process died (no traffic is touched)."""
    assert run.resume is not None
    stored: list[Verdict] = []
    try:
        if run.bundle.exists("canary/verdicts.json"):
            stored = [Verdict.model_validate(v) for v in get_json(run.store, run.bundle.key("canary/verdicts.json"))]
    except (StoreError, ValueError) as exc:  # the promotion record alone still proves the promotion
        log.warning("canary verdicts of %s unreadable: %s", run.release_id, exc)
    return promoted_decision(run.resume, run.config.service, run.evidence_uri, stored)
