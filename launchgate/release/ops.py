"""Operator commands behind ``launchgate rollback`` and ``launchgate status`` (no Prefect here).

Both read the service's release.yaml only for its ``canary`` (router) and ``artifacts`` sections,
so they work without the golden set or prompts being present (``check_files=False``).
"""

from __future__ import annotations

import getpass
import time
from typing import Any

from launchgate.access.rotations import rotation_summary
from launchgate.config.context import ServiceContext
from launchgate.errors import ExternalError, LaunchgateError
from launchgate.release.promotion import record_rollback
from launchgate.release.resume import unfinished_releases
from launchgate.router import make_router
from launchgate.store import layout
from launchgate.store.jsonio import find_object


def manual_rollback(ctx: ServiceContext, *, reason: str | None = None) -> dict[str, Any]:
    """Candidate weight 0 now, then the record. The router call comes first: it is the point."""
    cfg, store = ctx.config, ctx.store
    router, _ = make_router(cfg.canary)
    who = getpass.getuser()
    why = reason or "manual rollback"
    t0 = time.monotonic()
    router.set_candidate_weight(0, f"{why} (launchgate rollback by {who})")
    took = time.monotonic() - t0
    try:
        weights: dict[str, float] | None = router.weights()
    except ExternalError:
        weights = None  # the shift went through; reading back is a nicety
    record = {"service": cfg.service, "router": cfg.canary.router, "by": who, "reason": why,
              "took_s": round(took, 4), "weights_after": weights}
    record["key"] = record_rollback(store, cfg.service, record)
    return record


def service_status(ctx: ServiceContext) -> dict[str, Any]:
    cfg, store = ctx.config, ctx.store
    router, _ = make_router(cfg.canary)
    out: dict[str, Any] = {"service": cfg.service, "router": cfg.canary.router}
    try:
        out["weights"] = router.weights()
        state = getattr(router, "state", None)  # only the gateway has a lease and an event trail
        if callable(state):
            full = state()
            out.update(release_id=full.get("release_id"), lease=full.get("lease"),
                       events=list(full.get("events") or [])[-5:])
            if full.get("guard"):  # guardrails: degradation level, breaker per upstream, in-flight
                out["guardrails"] = full["guard"]
    except ExternalError as exc:
        out["router_error"] = str(exc)
    if cfg.gateway.replicas.shared_state:  # gateway replicas: the document's version, each one's last-seen
        from launchgate.gateway.replicas import replicas_status

        try:
            out["replicas"] = replicas_status(store, cfg.service)
        except LaunchgateError as exc:  # the store is down: say so beside the weights
            out["replicas"] = {"error": str(exc)[:300]}
    out["last_known_good"] = find_object(store, layout.last_known_good(cfg.service))
    try:  # API keys' ages and the gateway secrets' last rotations: names and times, never a secret
        out["access"] = rotation_summary(store, cfg.service)
    except LaunchgateError as exc:  # an unreadable registry must not hide the weights above
        out["access"] = {"error": str(exc)[:300]}
    # Started but never decided: crashed (resume with `launchgate release --resume ID`) or still running.
    out["undecided_releases"] = unfinished_releases(store, cfg.service)
    return out
