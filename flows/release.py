"""The release deployment.

preflight -> release freeze -> contracts -> eval gate -> [load test] -> [shadow] -> [rollback drill]
-> [fallback drill] -> readiness -> go/no-go -> [approval] -> [canary] -> finalize

``resume=<release id>`` reruns a release whose process died (launchgate/release/resume.py): a decided
release returns its stored decision, a promoted one is finalized without touching traffic, and
anything else runs every step again as the next attempt, under ``attempts/<n>/``.

Each gate step appends Verdicts; the first blocking verdict stops the gates (nothing is
shifted). Only steps that exist and are enabled run; ``manifest.json`` lists them. Later
steps slot in where the STEP comments stand.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from launchgate.canary.step import CanaryStepResult
from launchgate.config import ReleaseConfig, load_config
from launchgate.errors import InputError
from launchgate.governance.approvals import check_auto_approve
from launchgate.notify.base import Notice
from launchgate.release.preflight import ReleaseRun
from launchgate.release.records import Decision, decide
from launchgate.verdicts import Verdict
from launchgate.verdicts import crashed as crashed_verdict
from tasks.approval import approval_step
from tasks.budget import record_release_spend
from tasks.canary import canary
from tasks.contracts import contracts
from tasks.drill import rollback_drill
from tasks.evaluate import eval_gate
from tasks.fallback_drill import fallback_drill
from tasks.finalize import complete_decided, finalize, promoted_before_crash
from tasks.flowrun import label_flow_run
from tasks.freeze import freeze_check
from tasks.gonogo import go_no_go_verdicts
from tasks.loadtest import load_test
from tasks.notify import notify
from tasks.preflight import preflight
from tasks.readiness import readiness
from tasks.shadow import shadow

STATUS = {"passed": "passed", "promoted": "promoted", "blocked": "blocked", "rolled_back": "rolled_back",
          "error": "failed"}


def planned_steps(overrides: dict[str, Any] | None = None, config: str | None = None) -> list[str]:
    steps = ["preflight", "release_freeze", "contracts", "eval_gate", "readiness", "go_no_go", "approval",
             "finalize"]
    cfg = _config_or_none(config, overrides) if config is not None else None
    if cfg is not None and cfg.load_test.enabled:
        steps.insert(steps.index("eval_gate") + 1, "load_test")
    if cfg is not None and cfg.canary.enabled and cfg.canary.strategy != "canary":
        steps.insert(steps.index("readiness"), "shadow")  # no traffic shifts: it runs before the drill and sign-off
    if cfg is not None and cfg.canary.enabled and cfg.canary.strategy != "shadow":
        steps.insert(steps.index("readiness"), "rollback_drill")
        steps.insert(steps.index("finalize"), "canary")
    if cfg is not None and cfg.guardrails is not None and cfg.guardrails.drill.enabled:
        steps.insert(steps.index("readiness"), "fallback_drill")
    return steps


def _config_or_none(config: str, overrides: dict[str, Any] | None) -> ReleaseConfig | None:
    try:
        return load_config(config, overrides, check_files=False)
    except InputError:  # preflight reports a bad config properly, right after this
        return None


def _gate(run: ReleaseRun, step: str, fn: Any, verdicts: list[Verdict], crashed: list[str]) -> bool:
    """Run one gate step; record its verdicts (or its crash). True when the release may go on."""
    log = get_run_logger()
    try:
        verdicts += fn(run)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a crashed step is recorded as an error verdict, never lost
        log.exception("%s crashed", step)
        verdicts.append(crashed_verdict(step, exc))
        crashed.append(step)
    return not any(v.blocks for v in verdicts)


def _notice(run: ReleaseRun, event: str, role: str, status: str, title: str, text: str) -> Notice:
    return Notice(event=event, role=role, service=run.config.service, release_id=run.release_id,
                  status=status, title=title, text=text, link=run.evidence_uri)


@flow(name="release", log_prints=True)
def release(config: str, artifacts: str | None = None, overrides: dict[str, Any] | None = None,
            auto_approve: bool = False, resume: str | None = None) -> dict[str, Any]:
    """Release one candidate of a service described by ``config`` (a release.yaml path).

    ``resume``: the id of a release whose process died; see the module docstring.
    """
    log = get_run_logger()
    run = preflight(config, artifacts, overrides, planned_steps(overrides, config), resume)
    cfg = run.config
    check_auto_approve(cfg.approvals, auto_approve)  # before any model is called
    label_flow_run(run)  # tag release:<id>: how `launchgate approve` finds this run
    if run.resume is not None:
        log.info("resume: %s", run.resume.reason)
        if run.resume.path == "finished":  # decided before: the stored decision stands, nothing is redone
            return complete_decided(run).model_dump(mode="json")
        if run.resume.path == "promoted":  # promoted before the crash: never shift or promote twice
            decision = promoted_before_crash(run)
            notify(run, _notice(run, "release_finished", "operations", "promoted",
                                f"Release promoted: {run.release_id}", decision.summary))
            finalize(run, decision)
            return decision.model_dump(mode="json")
    notify(run, _notice(run, "release_started", "engineering", "started", f"Release {run.release_id} started",
                        f"Evaluating {cfg.candidate.model} (prompt {cfg.candidate.prompt.version}) "
                        f"against {cfg.stable.model}."))
    verdicts: list[Verdict] = []
    crashed: list[str] = []
    # Release freeze + pipeline budget first, so a frozen service never calls a model.
    go = _gate(run, "release_freeze", freeze_check, verdicts, crashed)
    if go:
        go = _gate(run, "contracts", contracts, verdicts, crashed)
    if go:  # a malformed golden set or schema never reaches a model
        go = _gate(run, "eval_gate", lambda r: eval_gate(r).verdicts, verdicts, crashed)
        notify(run, _notice(run, "eval_gate", "engineering", "passed" if go else "blocked",
                            f"Eval gate {'passed' if go else 'failed'}",
                            next((v.reason for v in verdicts if v.blocks), "All eval checks passed.")))
    if go and cfg.load_test.enabled:  # the SLOs at 2x peak, before anyone signs off
        go = _gate(run, "load_test", load_test, verdicts, crashed)
    if go and cfg.canary.enabled and cfg.canary.strategy != "canary":  # live answers compared, unseen by users;
        go = _gate(run, "shadow", shadow, verdicts, crashed)  # first: even the drill's 1% waits for its pass
    canary_planned = cfg.canary.enabled and cfg.canary.strategy != "shadow"
    if go and canary_planned:  # rollback is proven before anyone signs off
        go = _gate(run, "rollback_drill", rollback_drill, verdicts, crashed)
    if go and cfg.guardrails is not None and cfg.guardrails.drill.enabled:  # faults end as documented
        go = _gate(run, "fallback_drill", fallback_drill, verdicts, crashed)

    record_release_spend(run)  # the next release's budget check sees this one's spend
    # Every readiness item, judged from this run's evidence and the store; like the rubric it always
    # runs, so a blocked release still shows its owners what else is missing.
    go = _gate(run, "readiness", lambda r: readiness(r, list(verdicts)), verdicts, crashed) and go
    # The rubric always runs, so every release has a decision record saying which item failed;
    # only a "go" pauses for sign-off.
    go = _gate(run, "go_no_go", lambda r: go_no_go_verdicts(r, verdicts), verdicts, crashed) and go
    if go:
        go = _gate(run, "approval", lambda r: approval_step(r, verdicts, auto_approve=auto_approve),
                   verdicts, crashed)
    # The canary: FAILED rolls back at once; success promotes and records last-known-good.
    canary_done: list[CanaryStepResult] = []
    if go and canary_planned:
        def _canary(r: ReleaseRun) -> list[Verdict]:
            canary_done.append(canary(r))
            return canary_done[-1].verdicts

        _gate(run, "canary", _canary, verdicts, crashed)
    shifted = bool(canary_done) and canary_done[0].result == "promoted"
    rolled_back = bool(canary_done) and canary_done[0].result == "rolled_back"

    decision: Decision = decide(run.release_id, cfg.service, verdicts, run.evidence_uri,
                                traffic_shifted=shifted, rolled_back=rolled_back)
    if crashed:  # launchgate itself broke: exit 1, but the evidence so far is still finalized
        decision.decision, decision.exit_code = "error", 1
    decision.attempt = run.attempt
    notify(run, _notice(run, "release_finished", "operations", STATUS[decision.decision],
                        f"Release {decision.decision}: {run.release_id}", decision.summary))
    finalize(run, decision)
    log.info("%s", decision.summary)
    return decision.model_dump(mode="json")
