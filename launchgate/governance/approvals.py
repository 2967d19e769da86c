"""Release sign-off as data (pure): who may approve, what was submitted, what it adds up to.

The seed: "Final release approval should come from both engineering and operations ... If
either group cannot sign off, the release does not proceed." So: every required role needs an
approval from a person listed for that role; one rejection from a listed approver blocks; a
timeout blocks. Submissions from anyone else are refused and kept, so a reviewer sees them.

Identity is what the approver typed (Prefect OSS has no user identity on a resume); the
allow-list stops mistakes and makes the record explicit, access to the Prefect API is what
keeps strangers out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from launchgate.config import Approvals
from launchgate.errors import InputError
from launchgate.verdicts import Phase, Verdict

AUTO_APPROVER = "launchgate-auto"
# How a release's flow run is found from outside (``launchgate approve``): it carries this tag.
RELEASE_TAG = "release:"
# What the paused run tells ``launchgate approve`` through Prefect's flow-run inputs, per pause:
# the ledger it will check a submission against, and then what it made of the submission.
SIGNOFF_INPUT = "launchgate-signoff-"
ANSWER_INPUT = "launchgate-answer-"
EVIDENCE = "approvals/approvals.json"

Outcome = Literal["pending", "approved", "rejected", "timed_out", "unstaffed"]


class ApprovalEntry(BaseModel):
    role: str
    approver: str
    decision: Literal["approve", "reject"]
    comment: str = ""
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    status: Literal["accepted", "refused"]
    note: str = Field(default="", description="why a submission was refused, or what it changed")
    source: Literal["prefect", "auto"] = "prefect"


class ApprovalLedger(BaseModel):
    """The content of ``approvals/approvals.json``."""

    release_id: str
    service: str
    required_roles: list[str]
    approvers: dict[str, list[str]]
    timeout_s: float
    auto: bool = False
    flow_run_id: str | None = None
    run_url: str | None = None
    requested_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    waited_s: float | None = Field(default=None, description="set when the approval timed out")
    outcome: Outcome = "pending"
    entries: list[ApprovalEntry] = Field(default_factory=list)

    @classmethod
    def open(cls, release_id: str, service: str, cfg: Approvals) -> ApprovalLedger:
        return cls(release_id=release_id, service=service, required_roles=list(cfg.required_roles),
                   approvers={r: list(cfg.approvers.get(r, [])) for r in cfg.required_roles},
                   timeout_s=cfg.timeout_s)

    # ---------------------------------------------------------------- queries

    @property
    def accepted(self) -> list[ApprovalEntry]:
        return [e for e in self.entries if e.status == "accepted"]

    @property
    def refused(self) -> list[ApprovalEntry]:
        return [e for e in self.entries if e.status == "refused"]

    def approved_roles(self) -> set[str]:
        return {e.role for e in self.accepted if e.decision == "approve"}

    def outstanding(self) -> list[str]:
        done = self.approved_roles()
        return [r for r in self.required_roles if r not in done]

    def unstaffed_roles(self) -> list[str]:
        """Required roles nobody may approve: waiting for them could only end in a timeout."""
        return [r for r in self.required_roles if not self.approvers.get(r)]

    # ---------------------------------------------------------------- changes

    def submit(self, role: str, approver: str, decision: Literal["approve", "reject"], comment: str = "",
               *, at: datetime | None = None) -> ApprovalEntry:
        """Record one submission; accepted ones may settle the outcome."""
        who = approver.strip()
        entry = ApprovalEntry(role=role, approver=who, decision=decision, comment=comment.strip(),
                              at=at or datetime.now(UTC), status="accepted")
        listed = self.approvers.get(role, [])
        if self.outcome != "pending":
            entry.status, entry.note = "refused", f"the approval is already {self.outcome.replace('_', ' ')}"
        elif role not in self.required_roles:
            entry.status = "refused"
            entry.note = f"role {role!r} does not sign off this release (required: {', '.join(self.required_roles)})"
        elif who.casefold() not in {name.casefold() for name in listed}:
            entry.status = "refused"
            allowed = ", ".join(listed) or "nobody: add approvals.approvers." + role
            entry.note = f"{who or '(empty)'} is not an approver for {role} (listed: {allowed})"
        elif decision == "reject":
            entry.note = f"{role} rejected the release"
            self.outcome = "rejected"
        elif role in self.approved_roles():
            entry.note = f"{role} had already approved; recorded again"
        else:
            still = [r for r in self.outstanding() if r != role]
            entry.note = f"{role} approved" + (f"; waiting for {', '.join(still)}" if still else "; all roles signed")
        self.entries.append(entry)
        if self.outcome == "pending" and not self.outstanding():
            self.outcome = "approved"
        if self.outcome != "pending" and self.finished_at is None:
            self.finished_at = entry.at
        return entry

    def preview(self, role: str, approver: str, decision: Literal["approve", "reject"]) -> ApprovalEntry:
        """What ``submit`` would record, without recording it (the CLI checks before it submits)."""
        return self.model_copy(deep=True).submit(role, approver, decision)

    def auto_approve(self, *, at: datetime | None = None) -> None:
        """Sign every required role as launchgate-auto (the caller checked allow_auto_approve)."""
        self.auto = True
        at = at or datetime.now(UTC)
        for role in self.required_roles:
            self.entries.append(ApprovalEntry(
                role=role, approver=AUTO_APPROVER, decision="approve", at=at, status="accepted", source="auto",
                comment="auto-approved: --auto-approve given and approvals.allow_auto_approve is true",
                note=f"{role} auto-approved"))
        self.outcome, self.finished_at = "approved", at

    def close_if_unstaffed(self) -> bool:
        """Waiting for a role nobody may sign would only end in a timeout hours later: stop now."""
        if self.outcome == "pending" and self.unstaffed_roles():
            self.outcome, self.finished_at = "unstaffed", datetime.now(UTC)
        return self.outcome == "unstaffed"

    def time_out(self, waited_s: float, *, at: datetime | None = None) -> None:
        if self.outcome == "pending":
            self.outcome, self.finished_at = "timed_out", at or datetime.now(UTC)
            self.waited_s = waited_s

    # ---------------------------------------------------------------- verdict

    def verdict(self) -> Verdict:
        signed = ", ".join(f"{e.approver} ({e.role})" for e in self.accepted if e.decision == "approve")
        refused = f" {len(self.refused)} submission(s) refused." if self.refused else ""
        if self.outcome == "approved":
            how = "auto-approved by launchgate-auto" if self.auto else f"approved by {signed}"
            return Verdict(check="approval", phase=Phase.SUCCESSFUL, value=self.outcome,
                           threshold=self.required_roles, evidence=EVIDENCE, reason=f"Release {how}.{refused}")
        if self.outcome == "rejected":
            rej = next(e for e in reversed(self.accepted) if e.decision == "reject")
            why = f": {rej.comment}" if rej.comment else " (no comment)"
            return Verdict(check="approval", phase=Phase.FAILED, value=self.outcome, threshold=self.required_roles,
                           evidence=EVIDENCE,
                           reason=f"{rej.approver} ({rej.role}) rejected the release{why}. Address it and rerun.")
        if self.outcome == "timed_out":
            waited = self.waited_s if self.waited_s is not None else self.timeout_s
            return Verdict(check="approval", phase=Phase.FAILED, value=self.outcome, threshold=self.required_roles,
                           evidence=EVIDENCE,
                           reason=f"Approval timed out after {waited:.0f} s: {', '.join(self.outstanding())} did "
                                  f"not sign off (a timeout counts as a rejection).{refused} Rerun when the "
                                  f"approvers are available.")
        if self.outcome == "unstaffed":
            return Verdict(check="approval", phase=Phase.FAILED, value=self.outcome, threshold=self.required_roles,
                           evidence=EVIDENCE,
                           reason=f"No approver is listed for {', '.join(self.unstaffed_roles())}: add names under "
                                  f"approvals.approvers in the config, then rerun.")
        return Verdict(check="approval", phase=Phase.INCONCLUSIVE, value=self.outcome, threshold=self.required_roles,
                       evidence=EVIDENCE, reason=f"Approval still pending for {', '.join(self.outstanding())}.")


def check_auto_approve(cfg: Approvals, auto_approve: bool) -> None:
    """--auto-approve is a test/demo switch; a production config must opt in explicitly."""
    if auto_approve and not cfg.allow_auto_approve:
        raise InputError("--auto-approve is refused: approvals.allow_auto_approve is false in the config. "
                         "Approve with `launchgate approve RELEASE_ID --role ROLE --as NAME` or the Prefect UI, "
                         "or set approvals.allow_auto_approve: true for a test/demo service.")


def approvals_markdown(ledger: ApprovalLedger) -> str:
    lines = [f"# Approvals: {ledger.outcome.replace('_', ' ')}", "",
             f"Release `{ledger.release_id}`; required roles: {', '.join(ledger.required_roles)}.", "",
             "| when (UTC) | role | approver | decision | status | note | comment |",
             "|---|---|---|---|---|---|---|"]
    for e in ledger.entries:
        cells = [f"{e.at:%Y-%m-%d %H:%M:%S}", e.role, e.approver, e.decision, e.status, e.note, e.comment or "-"]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    if not ledger.entries:
        lines.append("| - | - | - | - | - | no submissions | - |")
    return "\n".join(lines) + "\n"


def release_tag(release_id: str) -> str:
    return RELEASE_TAG + release_id


def signoff_input_key(pause_key: str) -> str:
    return SIGNOFF_INPUT + pause_key


def answer_input_key(pause_key: str) -> str:
    return ANSWER_INPUT + pause_key
