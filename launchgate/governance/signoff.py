"""The approval step's side effects as plain functions: who is asked, what is recorded, who is told.

The waiting itself belongs to the orchestrator (a paused Prefect flow run, tasks/approval.py);
the ledger (approvals.py) decides what the submissions add up to.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from launchgate.errors import StoreError
from launchgate.governance.approvals import ApprovalEntry, ApprovalLedger, approvals_markdown
from launchgate.governance.rubric import GONOGO_EVIDENCE, ITEM_MARK, GoNoGo, RubricItem
from launchgate.notify.base import Notice
from launchgate.release.preflight import ReleaseRun
from launchgate.store.jsonio import find_json
from launchgate.verdicts import Phase, StepResult, Verdict

log = logging.getLogger(__name__)
EVIDENCE = ("approvals/approvals.json", "approvals/approvals.md")


def _summary(verdicts: list[Verdict]) -> str:
    gonogo = next((v for v in verdicts if v.check == "go_no_go"), None)
    score = next((v for v in verdicts if v.check == "eval_score"), None)
    parts = [p.reason for p in (gonogo, score) if p is not None]
    return " ".join(parts) or f"{len(verdicts)} checks passed."


def _send(run: ReleaseRun, event: str, role: str, status: Any, title: str, text: str, *,
          link: str | None, fields: dict[str, str] | None = None, details: str | None = None) -> None:
    outcome = run.dispatcher.send(Notice(
        event=event, role=role, service=run.config.service, release_id=run.release_id, status=status,
        title=title, text=text, link=link or run.evidence_uri, link_label="Open paused run" if link else None,
        fields=fields or {}, details=details))
    if not outcome.ok and not outcome.muted:
        log.warning("notice %s to %s not delivered: %s", event, role, outcome.error)


def read_rubric_items(run: ReleaseRun) -> list[RubricItem] | None:
    """The go/no-go items this attempt recorded (gonogo.json); None when it cannot be read."""
    try:
        data = find_json(run.store, run.bundle.key(GONOGO_EVIDENCE))
        return GoNoGo.model_validate(data).items if data is not None else None
    except (StoreError, ValidationError) as exc:
        log.warning("go/no-go record unreadable for the sign-off brief: %s", exc)
        return None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _results(verdicts: list[Verdict], match: Any, none: str) -> str:
    found = [v for v in verdicts if match(v.check)]
    if not found:
        return none
    return " ".join(f"{'' if v.phase is Phase.SUCCESSFUL else f'[{v.phase.value}] '}{_one_line(v.reason)}"
                    for v in found)


def _signatures(ledger: ApprovalLedger) -> list[str]:
    lines = []
    for role in ledger.required_roles:
        mine = [e for e in ledger.accepted if e.role == role]
        listed = ", ".join(ledger.approvers.get(role, [])) or "nobody: add approvals.approvers." + role
        if mine:
            e = mine[-1]
            said = f' ("{_one_line(e.comment)}")' if e.comment else ""
            verb = "approved" if e.decision == "approve" else "REJECTED"
            lines.append(f"- {role}: {verb} by {e.approver} at {e.at:%Y-%m-%d %H:%M}Z{said}")
        else:
            lines.append(f"- {role}: waiting (may sign: {listed})")
    lines += [f"- refused: {e.approver or '(empty)'} for {e.role}: {e.note}" for e in ledger.refused]
    return lines


def signoff_markdown(release_id: str, items: list[RubricItem] | None, verdicts: list[Verdict],
                     ledger: ApprovalLedger, evidence_uri: str) -> str:
    """What an approver reads before signing (the pause form's description, the Slack request):
    the go/no-go items with their phases, the eval score against its baseline, the load test and
    rollback drill results, who has signed so far and where the evidence is."""
    gonogo = next((v for v in verdicts if v.check == "go_no_go"), None)
    verdict = "GO" if gonogo is not None and not gonogo.blocks else "NO-GO" if gonogo is not None else "not recorded"
    lines = [f"## Sign-off for {release_id}", "", f"**Go/no-go: {verdict}**", ""]
    if items is None:
        if gonogo is not None:
            lines.append(f"- {_one_line(gonogo.reason)}")
        lines.append("- the go/no-go record (gonogo.json) could not be read: open gonogo.md in the evidence")
    lines += [f"- {ITEM_MARK[i.phase]} **{i.title}** ({i.phase.value.replace('_', ' ')}): {_one_line(i.reason)}"
              for i in items or []]
    link = f"[{evidence_uri}]({evidence_uri})" if evidence_uri.startswith(("http://", "https://")) \
        else f"`{evidence_uri}`"
    lines += [
        "",
        "**Eval:** " + _results(verdicts, lambda c: c == "eval_score", "no eval score in this release."),
        "",
        "**Load test:** " + _results(verdicts, lambda c: c.startswith("load_"), "not run in this release."),
        "",
        "**Rollback drill:** " + _results(verdicts, lambda c: c == "rollback_tested",
                                          "not run in this release (no canary step)."),
        "",
        f"**Signed so far** (required: {', '.join(ledger.required_roles)}):",
        *_signatures(ledger),
        "",
        f"**Evidence:** {link}",
        "",
        f"To sign, choose approve or reject, the role you sign for and your name as listed above; or run "
        f"`launchgate approve {release_id} --role ROLE --as NAME [--reject]`.",
    ]
    return "\n".join(lines) + "\n"


def request_signoff(run: ReleaseRun, ledger: ApprovalLedger, verdicts: list[Verdict],
                    items: list[RubricItem] | None = None) -> None:
    """Ask every required role, with the evidence so far (``signoff_markdown``) and how to answer."""
    details = signoff_markdown(run.release_id, items, verdicts, ledger, run.evidence_uri)
    for role in ledger.required_roles:
        who = ", ".join(ledger.approvers.get(role, [])) or "nobody listed"
        _send(run, "approval_requested", role, "info", f"Sign-off needed ({role}): {run.release_id}",
              f"{_summary(verdicts)} Evidence: {run.evidence_uri}", link=ledger.run_url, details=details,
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
