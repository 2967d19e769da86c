"""The scheduled rollback drill deployment (``rollback-drill``): is rollback still proven between releases?

Outside a release there is no candidate, so the drill attaches the *stable* deployment as the
candidate (users see no difference), shifts ``canary.drill_traffic`` to it, rolls back and probes
that stable serves everything (launchgate/canary/drill.py). It takes the router's lease first, so it
never touches a canary that is in flight: a held lease makes the drill an error, not a shift.

Not configured (``canary.enabled`` false, or no admin token) is a clear "not_configured" result,
not a failure. The record goes to ``<service>/reviews/drills/<yyyymmddThhmmssZ>.json``; a failed
drill pages on-call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger

from launchgate.canary.drill import run_drill
from launchgate.canary.traffic import TrafficTally, send_requests
from launchgate.config.context import ServiceContext
from launchgate.errors import ExternalError, InputError
from launchgate.notify.base import Notice
from launchgate.router import make_router, traffic_url
from launchgate.store import layout
from launchgate.store.bundle import JSON_TYPE, to_json_bytes
from launchgate.verdicts import Phase

PROBE_MESSAGES = [[{"role": "user", "content": "rollback drill probe: reply with an empty JSON object"}]]


@flow(name="rollback-drill", log_prints=True)
def rollback_drill(config: str, artifacts: str | None = None) -> dict[str, Any]:
    log = get_run_logger()
    ctx = ServiceContext.open(config, artifacts=artifacts, check_files=False)
    cfg, canary = ctx.config, ctx.config.canary
    if not canary.enabled:
        reason = (f"Rollback drill not configured for {ctx.service}: canary.enabled is false in {ctx.config_path}, "
                  f"so there is no traffic router to drill.")
        log.warning(reason)
        return {"service": ctx.service, "status": "not_configured", "reason": reason}
    try:
        router, metrics = make_router(canary)
    except InputError as exc:
        reason = f"Rollback drill not configured for {ctx.service}: {exc}."
        log.warning(reason)
        return {"service": ctx.service, "status": "not_configured", "reason": reason}

    now = datetime.now(UTC)
    holder = f"scheduled-drill-{now:%Y%m%dT%H%M%SZ}"
    probe = None
    url = traffic_url(canary)  # the gateway, or HAProxy's frontend when configured
    if url:
        def probe() -> TrafficTally:
            return send_requests(f"{url.rstrip('/')}/v1", cfg.stable.model, PROBE_MESSAGES,
                                 canary.drill_requests, timeout_s=cfg.stable.timeout_s, max_tokens=16)
    try:
        router.heartbeat(holder, canary.lease_ttl_s)  # lease first: never replace a canary's candidate
        router.attach_candidate(cfg.stable.endpoint, cfg.stable.model, cfg.stable.prompt.version, holder)
        record = run_drill(router, pct=canary.drill_traffic, holder=holder, ttl_s=canary.lease_ttl_s, probe=probe,
                           metrics=metrics)
        phase, reason, payload = record.phase, record.reason, record.model_dump(mode="json")
    except ExternalError as exc:
        phase = Phase.ERROR
        reason = f"Rollback drill could not run: {exc}. Check the {canary.router} router (or a canary holding it)."
        payload = {"phase": phase.value, "reason": reason, "router": canary.router}
    key = layout.drill_record(ctx.service, now)
    ctx.store.put(key, to_json_bytes(payload), JSON_TYPE, overwrite=False)
    ok = phase is Phase.SUCCESSFUL
    ctx.dispatcher.send(Notice(
        event="rollback_drill", role="operations" if ok else "oncall", service=ctx.service,
        status="passed" if ok else "alarm", title=f"Scheduled rollback drill: {phase.value}", text=reason,
        link=ctx.store.location(key), link_label="Open record"))
    log.info("%s", reason)
    return {"service": ctx.service, "status": phase.value, "reason": reason, "record": ctx.store.location(key)}
