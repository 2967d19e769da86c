"""Rollback drill task: shift 1% to the candidate, roll back, prove stable serves everything."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.canary.drill import CHECK, EVIDENCE, drill_verdict, run_drill
from launchgate.canary.traffic import TrafficTally, golden_prompts, send_requests
from launchgate.errors import ExternalError
from launchgate.release.preflight import ReleaseRun
from launchgate.release.resume import holder_for, wait_out_other_attempts
from launchgate.router import make_router
from launchgate.verdicts import Phase, Verdict


@task(name="rollback-drill", cache_policy=NO_CACHE, timeout_seconds=300)
def rollback_drill(run: ReleaseRun) -> list[Verdict]:
    log = get_run_logger()
    cfg = run.config
    canary = cfg.canary
    router, metrics = make_router(canary)  # a missing admin token is an InputError: exit 2
    probe = None
    if router.name == "gateway":
        prompts = golden_prompts([c.input for c in run.cases])

        def probe() -> TrafficTally:
            return send_requests(f"{canary.gateway_url.rstrip('/')}/v1", cfg.stable.model, prompts,
                                 canary.drill_requests, timeout_s=cfg.stable.timeout_s,
                                 max_tokens=cfg.contracts.max_output_tokens)
    holder = holder_for(run.release_id, run.attempt, "drill")
    try:
        if run.attempt > 1:  # a resumed release: the dead attempt's lease must lapse before any shift
            waited = wait_out_other_attempts(router, run.release_id, holder)
            if waited:
                log.info("rollback drill: %s", waited)
        router.attach_candidate(cfg.candidate.endpoint, cfg.candidate.model, cfg.candidate.prompt.version,
                                run.release_id)
        record = run_drill(router, pct=canary.drill_traffic, holder=holder,
                           ttl_s=canary.lease_ttl_s, probe=probe, metrics=metrics)
    except ExternalError as exc:
        # The router being down is a finding about the release setup, not a launchgate bug.
        verdict = Verdict(check=CHECK, phase=Phase.ERROR, evidence=EVIDENCE,
                          reason=f"Rollback drill could not run: {exc}. Fix the {canary.router} router and rerun.")
        run.bundle.put_json(EVIDENCE, {"phase": "error", "reason": verdict.reason, "router": canary.router})
        return [verdict]
    run.bundle.put_json(EVIDENCE, record)
    verdict = drill_verdict(record)
    log.info("%s", verdict.reason)
    create_markdown_artifact(
        key="rollback-drill", description=verdict.reason[:250],
        markdown=(f"# Rollback drill: {record.phase.value}\n\n{record.reason}\n\n"
                  f"| shift | rollback | total |\n|---|---|---|\n"
                  f"| {record.shift_s:.3f} s | {record.rollback_s:.3f} s | {record.total_s:.3f} s |\n"),
    )
    return [verdict]
