"""The approval step's side effects as plain functions: who is asked, what is recorded, who is told.

The waiting itself belongs to the orchestrator (a paused Prefect flow run, tasks/approval.py);
the ledger (approvals.py) decides what the submissions add up to.
"""

from __future__ import annotations

import logging
from typing import Any

from launchgate.governance.approvals import ApprovalEntry, ApprovalLedger, approvals_markdown
from launchgate.notify.base import Notice
from launchgate.release.preflight import ReleaseRun
from launchgate.verdicts import StepResult, Verdict

log = logging.getLogger(__name__)
EVIDENCE = ("approvals/approvals.json", "approvals/approvals.md")


def _summary(verdicts: list[Verdict]) -> str:
    gonogo = next((v for v in verdicts if v.check == "go_no_go"), None)
    score = next((v for v in verdicts if v.check == "eval_score"), None)
    parts = [p.reason for p in (gonogo, score) if p is not None]
    return " ".join(parts) or f"{len(verdicts)} checks passed."


def _send(run: ReleaseRun, event: str, role: str, status: Any, title: str, text: str, *,
          link: str | None, fields: dict[str, str] | None = None) -> None:
    outcome = run.dispatcher.send(Notice(
        event=event, role=role, service=run.config.service, release_id=run.release_id, status=status,
        title=title, text=text, link=link or run.evidence_uri, link_label="Open paused run" if link else None,
        fields=fields or {}))
    if not outcome.ok and not outcome.muted:
        log.warning("notice %s to %s not delivered: %s", event, role, outcome.error)


def request_signoff(run: ReleaseRun, ledger: ApprovalLedger, verdicts: list[Verdict]) -> None:
    """Ask every required role, with the evidence so far and how to answer."""
    for role in ledger.required_roles:
        who = ", ".join(ledger.approvers.get(role, [])) or "nobody listed"
        _send(run, "approval_requested", role, "info", f"Sign-off needed ({role}): {run.release_id}",
              f"{_summary(verdicts)} Evidence: {run.evidence_uri}", link=ledger.run_url,
              fields={"Approvers": who, "Waits up to": f"{ledger.timeout_s:.0f} s",
                      "Approve with": f"launchgate approve {run.release_id} --role {role} --as <name> [--reject]"})


def tell_refused(run: ReleaseRun, ledger: ApprovalLedger, entry: ApprovalEntry) -> None:
    role = entry.role if entry.role in ledger.required_roles else ledger.required_roles[0]
    _send(run, "approval_refused", role, "info", f"Approval refused: {entry.approver or '(empty)'} for {entry.role}",
          f"{entry.note}. The release keeps waiting for a listed approver.", link=ledger.run_url)


def finish_signoff(run: ReleaseRun, ledger: ApprovalLedger) -> StepResult:
    """Write approvals.json/.md and tell every required role how it ended."""
    verdict = ledger.verdict()
    run.bundle.put_json(EVIDENCE[0], ledger)
    md = approvals_markdown(ledger)
    run.bundle.put_text(EVIDENCE[1], md, "text/markdown")
    status = "passed" if not verdict.blocks else "blocked"
    for role in ledger.required_roles:
        _send(run, "approval", role, status, f"Approval {ledger.outcome.replace('_', ' ')}", verdict.reason,
              link=None)
    return StepResult(step="approval", verdicts=[verdict], evidence=list(EVIDENCE), summary=verdict.reason,
                      markdown=md)
