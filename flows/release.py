"""The release deployment: preflight -> eval gate -> decision -> finalize.

Only the steps that exist run; the manifest lists them. Load test, rollback drill,
approvals and canary hang here as their issues land.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from launchgate.errors import InputError
from launchgate.notify.base import Notice
from launchgate.release import decide
from launchgate.verdicts import Phase, Verdict
from tasks.evaluate import eval_gate
from tasks.finalize import finalize
from tasks.notify import notify
from tasks.preflight import preflight

STEPS = ["preflight", "eval_gate", "finalize"]
STATUS = {"passed": "passed", "promoted": "promoted", "blocked": "blocked", "rolled_back": "rolled_back",
          "error": "failed"}


@flow(name="release", log_prints=True)
def release(config: str, artifacts: str | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Release one candidate of a service described by ``config`` (a release.yaml path)."""
    log = get_run_logger()
    run = preflight(config, artifacts, overrides, STEPS)
    svc = run.config.service
    notify(run, Notice(event="release_started", role="engineering", service=svc, release_id=run.release_id,
                       status="started", title=f"Release {run.release_id} started",
                       text=f"Evaluating {run.config.candidate.model} (prompt {run.config.candidate.prompt.version}) "
                            f"against {run.config.stable.model}.", link=run.evidence_uri))
    verdicts: list[Verdict] = []
    try:
        outcome = eval_gate(run)
        verdicts += outcome.verdicts
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a crashed step is recorded, never silently lost
        log.exception("eval gate crashed")
        verdicts.append(Verdict(check="eval_gate", phase=Phase.ERROR, reason=f"The eval step crashed "
                                f"({type(exc).__name__}: {str(exc)[:200]}): rerun, and file a bug if it repeats."))
    decision = decide(run.release_id, svc, verdicts, run.evidence_uri)
    if any(v.phase is Phase.ERROR and v.check == "eval_gate" for v in verdicts):
        decision.decision, decision.exit_code = "error", 1
    eval_ok = not any(v.blocks for v in verdicts)
    notify(run, Notice(event="eval_gate", role="engineering", service=svc, release_id=run.release_id,
                       status="passed" if eval_ok else "blocked",
                       title=f"Eval gate {'passed' if eval_ok else 'failed'}",
                       text=decision.summary, link=run.evidence_uri))
    notify(run, Notice(event="release_finished", role="operations", service=svc, release_id=run.release_id,
                       status=STATUS[decision.decision], title=f"Release {decision.decision}: {run.release_id}",
                       text=decision.summary, link=run.evidence_uri))
    finalize(run, decision)
    log.info("%s", decision.summary)
    return decision.model_dump(mode="json")
