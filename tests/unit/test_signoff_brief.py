"""What an approver sees before signing: the evidence in the pause form's description and in Slack."""

from __future__ import annotations

from launchgate.config import Approvals
from launchgate.governance.approvals import ApprovalLedger
from launchgate.governance.rubric import FreezeState, apply_rubric
from launchgate.notify.base import Notice
from launchgate.notify.blocks import build_blocks
from launchgate.verdicts import Phase, Verdict
from tests.conftest import EXAMPLE

RID = "support-bot-20261122T030000Z-1a2b3c4d"
URI = "s3://bucket/lg/support-bot/releases/" + RID + "/"


def verdicts() -> list[Verdict]:
    ok = Phase.SUCCESSFUL
    return [
        Verdict(check="eval_score", phase=ok, value=0.08, threshold=0.02,
                reason="Eval score 0.930 >= baseline 0.850 + min_delta 0.020 (delta +0.080) over 267 cases."),
        Verdict(check="schema_validity", phase=ok, value=0.996, threshold=0.99, reason="Schema validity 99.6%."),
        Verdict(check="cost_per_request", phase=ok, value=0.05, threshold=0.2, reason="Cost/request +5%."),
        Verdict(check="load_p95", phase=ok, value=480, threshold=1200,
                reason="Load p95 480 ms <= 1200 ms at 10 req/s."),
        Verdict(check="rollback_tested", phase=ok, value=True, threshold=True,
                reason="Rollback proven: stable served 50/50 requests 0.4 s after the 1% shift."),
    ]


def ledger() -> ApprovalLedger:
    return ApprovalLedger.open(RID, "support-bot", Approvals(approvers={"engineering": ["alice"],
                                                                         "operations": ["bob", "carol"]}))


def brief(led: ApprovalLedger) -> str:
    from launchgate.config import load_config
    from launchgate.governance.signoff import signoff_markdown

    cfg = load_config(EXAMPLE / "release.yaml", {"canary.enabled": True})
    record = apply_rubric(RID, cfg, verdicts(), FreezeState(key="support-bot/state/freeze.json"))
    return signoff_markdown(RID, record.items, [*verdicts(), record.verdict()], led, URI)


def test_the_description_carries_the_evidence_and_who_signed() -> None:
    led = ledger()
    md = brief(led)
    for item in ("Evaluation gate passed", "Schema validation rate", "Cost per request", "Rollback plan tested",
                 "Load SLO met", "No release freeze active"):
        assert item in md, item
    assert "successful" in md  # each item's phase
    assert "0.930" in md and "baseline 0.850" in md  # the eval score against its baseline
    assert "480 ms" in md and "stable served 50/50" in md  # load and drill results
    assert URI in md
    assert "engineering" in md and "alice" in md and "bob, carol" in md
    led.submit("engineering", "mallory", "approve")
    led.submit("engineering", "alice", "approve", "eval looks right")
    after = brief(led)
    assert "approved by alice" in after and "waiting" in after
    assert "mallory" in after  # refused submissions are shown too


def test_slack_sign_off_message_shows_the_same_evidence() -> None:
    md = brief(ledger())
    n = Notice(event="approval_requested", role="engineering", service="support-bot", release_id=RID,
               title="Sign-off needed", text="Go: every rubric item passed.", details=md)
    text = str(build_blocks(n))
    assert "Evaluation gate passed" in text and "0.930" in text and "alice" in text
    assert "**" not in text  # Markdown bold became Slack's *bold*
