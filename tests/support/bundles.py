"""A finalized release bundle on a LocalStore, as the release flow leaves it (for audit tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from launchgate.governance.approvals import ApprovalLedger
from launchgate.governance.rubric import FreezeState, apply_rubric
from launchgate.release.preflight import ReleaseRun, prepare_release
from launchgate.release.records import decide
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import to_json_bytes
from launchgate.verdicts import Phase, Verdict

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


def finalized_release(store_dir: Path) -> ReleaseRun:
    """manifest, go/no-go, approvals (alice + bob), decision "promoted", index.json."""
    run = prepare_release(EXAMPLE / "release.yaml", artifacts=str(store_dir))
    verdicts = [Verdict(check="eval_score", phase=Phase.SUCCESSFUL, value={"candidate": 0.9, "baseline": 0.8},
                        reason="Eval score 0.900 >= baseline 0.800 + 0.020", evidence="eval/eval_report.json"),
                Verdict(check="schema_validity", phase=Phase.SUCCESSFUL, value=1.0, reason="schema 100%"),
                Verdict(check="cost_per_request", phase=Phase.SUCCESSFUL, reason="cost +3%"),
                # Whatever the example enables, this release proved its load SLO and its rollback.
                Verdict(check="load_p95_latency", phase=Phase.SUCCESSFUL, reason="p95 310 ms <= 1200 ms"),
                Verdict(check="rollback_tested", phase=Phase.SUCCESSFUL, reason="rollback drill took 0.8 s"),
                Verdict(check="readiness", phase=Phase.SUCCESSFUL, reason="every required readiness item verified",
                        evidence="readiness/readiness.json")]
    record = apply_rubric(run.release_id, run.config, verdicts, FreezeState())
    run.bundle.put_json("gonogo.json", record)
    ledger = ApprovalLedger.open(run.release_id, "support-bot", run.config.approvals)
    ledger.submit("engineering", "alice", "approve", "eval ok")
    ledger.submit("operations", "bob", "approve")
    run.bundle.put_json("approvals/approvals.json", ledger)
    decision = decide(run.release_id, "support-bot", [*verdicts, record.verdict(), ledger.verdict()],
                      run.evidence_uri, traffic_shifted=True)
    run.bundle.put_json("decision.json", decision)
    run.bundle.write_index()
    return run


def promoted_days_ago(store: ArtifactStore, service: str, days: int) -> tuple[str, datetime]:
    """Only a release's decision.json, "promoted" ``days`` ago (what the post-launch review starts from)."""
    promoted = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)
    rid = f"{service}-{promoted:%Y%m%dT%H%M%SZ}-abcdef12"
    store.put(f"{service}/releases/{rid}/decision.json", to_json_bytes({
        "release_id": rid, "service": service, "decision": "promoted", "exit_code": 0,
        "decided_at": promoted.isoformat(), "summary": "promoted"}), "application/json")
    return rid, promoted
