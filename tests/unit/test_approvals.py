"""The approval ledger (pure): allow-lists, rejections, refusals, timeouts, auto-approval."""

from __future__ import annotations

import pytest

from launchgate.config import Approvals
from launchgate.errors import InputError
from launchgate.governance.approvals import AUTO_APPROVER, ApprovalLedger, approvals_markdown, check_auto_approve
from launchgate.verdicts import Phase

CFG = Approvals(approvers={"engineering": ["alice"], "operations": ["bob", "Carol"]}, timeout_s=60)


def ledger(cfg: Approvals = CFG) -> ApprovalLedger:
    return ApprovalLedger.open("rid", "svc", cfg)


def test_both_roles_must_sign() -> None:
    led = ledger()
    first = led.submit("engineering", "alice", "approve")
    assert first.status == "accepted" and "waiting for operations" in first.note
    assert led.outcome == "pending" and led.outstanding() == ["operations"]
    led.submit("operations", " carol ", "approve", "dashboards checked")  # names match case-insensitively
    assert led.outcome == "approved" and led.finished_at is not None
    verdict = led.verdict()
    assert verdict.phase is Phase.SUCCESSFUL and "alice (engineering)" in verdict.reason
    assert verdict.evidence == "approvals/approvals.json"


def test_unlisted_and_wrong_role_are_refused_and_kept() -> None:
    led = ledger()
    mallory = led.submit("engineering", "mallory", "approve")
    assert mallory.status == "refused" and "listed: alice" in mallory.note
    bob_for_eng = led.submit("engineering", "bob", "approve")  # listed, but for operations
    assert bob_for_eng.status == "refused"
    product = led.submit("product", "alice", "approve")
    assert product.status == "refused" and "does not sign off" in product.note
    assert led.outcome == "pending" and len(led.refused) == 3
    # A refused *rejection* does not block either: only listed approvers decide.
    assert led.submit("operations", "mallory", "reject").status == "refused"
    assert led.outcome == "pending"


def test_one_listed_rejection_blocks() -> None:
    led = ledger()
    led.submit("engineering", "alice", "approve")
    led.submit("operations", "bob", "reject", "no alert on schema failures yet")
    assert led.outcome == "rejected"
    verdict = led.verdict()
    assert verdict.phase is Phase.FAILED
    assert "bob (operations) rejected" in verdict.reason and "no alert" in verdict.reason
    late = led.submit("operations", "carol", "approve")
    assert late.status == "refused" and led.outcome == "rejected"


def test_timeout_counts_as_rejection() -> None:
    led = ledger()
    led.submit("engineering", "alice", "approve")
    led.time_out(61.2)
    verdict = led.verdict()
    assert led.outcome == "timed_out" and verdict.phase is Phase.FAILED
    assert "timed out after 61 s" in verdict.reason and "operations" in verdict.reason


def test_unstaffed_role_stops_at_once() -> None:
    led = ledger(Approvals(approvers={"engineering": ["alice"]}))
    assert led.close_if_unstaffed()
    assert led.verdict().phase is Phase.FAILED and "operations" in led.verdict().reason


def test_auto_approve_is_refused_unless_allowed() -> None:
    with pytest.raises(InputError, match="allow_auto_approve is false"):
        check_auto_approve(CFG, True)
    check_auto_approve(CFG, False)
    allowed = CFG.model_copy(update={"allow_auto_approve": True})
    check_auto_approve(allowed, True)
    led = ledger(allowed)
    led.auto_approve()
    assert led.outcome == "approved" and led.auto
    assert {(e.role, e.approver, e.source) for e in led.entries} == {
        ("engineering", AUTO_APPROVER, "auto"), ("operations", AUTO_APPROVER, "auto")}
    assert "auto-approved" in led.verdict().reason


def test_markdown_shows_refusals() -> None:
    led = ledger()
    led.submit("engineering", "mallory", "approve", "pls | ship")
    md = approvals_markdown(led)
    assert "mallory" in md and "refused" in md and "pls \\| ship" in md
