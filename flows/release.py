"""The release deployment.

preflight -> eval gate -> [load test] -> [rollback drill] -> go/no-go -> [approval] -> [canary] -> finalize

Each gate step appends Verdicts; the first blocking verdict stops the gates (nothing is
shifted). Only steps that exist and are enabled run; ``manifest.json`` lists them. Later
steps slot in where the STEP comments stand.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from launchgate.errors import InputError
from launchgate.notify.base import Notice
from launchgate.preflight import ReleaseRun
from launchgate.release import Decision, decide
from launchgate.verdicts import Phase, Verdict
from tasks.evaluate import eval_gate
from tasks.finalize import finalize
from tasks.notify import notify
from tasks.preflight import preflight

STATUS = {"passed": "passed", "promoted": "promoted", "blocked": "blocked", "rolled_back": "rolled_back",
          "error": "failed"}


def planned_steps(overrides: dict[str, Any] | None = None) -> list[str]:
    return ["preflight", "eval_gate", "finalize"]


def _crashed(step: str, exc: Exception) -> Verdict:
    return Verdict(check=step, phase=Phase.ERROR,
                   reason=f"The {step} step crashed ({type(exc).__name__}: {str(exc)[:200]}): rerun, and file a "
                          f"bug if it repeats.")


def _gate(run: ReleaseRun, step: str, fn: Any, verdicts: list[Verdict], crashed: list[str]) -> bool:
    """Run one gate step; record its verdicts (or its crash). True when the release may go on."""
    log = get_run_logger()
    try:
        verdicts += fn(run)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a crashed step is recorded as an error verdict, never lost
        log.exception("%s crashed", step)
        verdicts.append(_crashed(step, exc))
        crashed.append(step)
    return not any(v.blocks for v in verdicts)


def _notice(run: ReleaseRun, event: str, role: str, status: str, title: str, text: str) -> Notice:
    return Notice(event=event, role=role, service=run.config.service, release_id=run.release_id,
                  status=status, title=title, text=text, link=run.evidence_uri)


@flow(name="release", log_prints=True)
def release(config: str, artifacts: str | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Release one candidate of a service described by ``config`` (a release.yaml path)."""
    log = get_run_logger()
    run = preflight(config, artifacts, overrides, planned_steps(overrides))
    cfg = run.config
    notify(run, _notice(run, "release_started", "engineering", "started", f"Release {run.release_id} started",
                        f"Evaluating {cfg.candidate.model} (prompt {cfg.candidate.prompt.version}) "
                        f"against {cfg.stable.model}."))
    verdicts: list[Verdict] = []
    crashed: list[str] = []
    go = _gate(run, "eval_gate", lambda r: eval_gate(r).verdicts, verdicts, crashed)
    notify(run, _notice(run, "eval_gate", "engineering", "passed" if go else "blocked",
                        f"Eval gate {'passed' if go else 'failed'}",
                        next((v.reason for v in verdicts if v.blocks), "All eval checks passed.")))
    # STEP load_test (issue 4), STEP rollback_drill (issue 5), STEP go_no_go + approval (issue 6),
    # STEP canary + promote (issue 5) slot in here.

    decision: Decision = decide(run.release_id, cfg.service, verdicts, run.evidence_uri)
    if crashed:  # launchgate itself broke: exit 1, but the evidence so far is still finalized
        decision.decision, decision.exit_code = "error", 1
    notify(run, _notice(run, "release_finished", "operations", STATUS[decision.decision],
                        f"Release {decision.decision}: {run.release_id}", decision.summary))
    finalize(run, decision)
    log.info("%s", decision.summary)
    return decision.model_dump(mode="json")
