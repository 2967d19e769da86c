"""The shared routing-state document: what every gateway replica of a service routes by (pure, no I/O).

One JSON object per service (``<service>/state/routing.json``, store/layout.py) holds the desired
state: the candidate's weight, both upstreams (with their prompts), the release id, the lease
(holder, expiry, ttl), the degradation level, a version that grows by one per change, and the last
change (what, why, written by which replica).

A change is computed the way a single gateway computes it: the document becomes a scratch
``GatewayState``, the admin operation runs on it (the same checks: ``lease_held``, ``no_upstream``,
an expired lease lapses before a renewal), and the result becomes the next version. ``edit`` is a
pure function of the stored bytes, as ``ArtifactStore.update`` requires (it may run more than once).
``apply`` then makes a replica's in-memory state equal to a document.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from launchgate.errors import MalformedObjectError
from launchgate.gateway.config import Upstream
from launchgate.gateway.routing import CANDIDATE, STABLE, Weights
from launchgate.gateway.state import GatewayState, Lease
from launchgate.store.jsonio import parse_json


class LeaseDoc(BaseModel):
    holder: str
    expires_at: float
    ttl_s: float


class DegradationDoc(BaseModel):
    level: str = Field(pattern=r"^(normal|reduced|fallback_only)$")
    by: str
    reason: str


class ChangeDoc(BaseModel):
    kind: str
    reason: str
    by: str = Field(description="the replica that wrote this version")
    at: float


class RoutingDoc(BaseModel):
    service: str
    version: int = 0
    candidate_pct: float = Field(default=0.0, ge=0, le=100)
    release_id: str | None = None
    stable: Upstream
    candidate: Upstream | None = None
    lease: LeaseDoc | None = None
    degradation: DegradationDoc | None = None
    change: ChangeDoc | None = None

    def lease_expired(self, now: float) -> bool:
        return self.lease is not None and now >= self.lease.expires_at

    def encode(self) -> bytes:
        return self.model_dump_json(indent=1).encode("utf-8") + b"\n"


# An operation on the scratch state (and the document, for what the state does not hold: degradation).
Operation = Callable[[GatewayState, RoutingDoc], None]


def initial(service: str, state: GatewayState, by: str, now: float) -> RoutingDoc:
    """Version 1 from a replica's configured state (the first replica to start writes it)."""
    doc = _from_state(service, state, None)
    doc.version = 1
    doc.change = ChangeDoc(kind="created", reason="routing state created from the gateway's config", by=by, at=now)
    return doc


def parse(data: bytes, where: str) -> RoutingDoc:
    try:
        return RoutingDoc.model_validate(parse_json(data, where))
    except ValueError as exc:  # pydantic's ValidationError
        raise MalformedObjectError(f"{where} is not a valid routing-state document: {str(exc)[:300]}") from exc


def edit(current: RoutingDoc, op: Operation, by: str, clock: Callable[[], float] = time.time) -> RoutingDoc:
    """The next version after ``op``; ``current`` itself when ``op`` changed nothing."""
    scratch = _to_state(current, clock)
    doc = current.model_copy(deep=True)
    op(scratch, doc)
    new = _from_state(current.service, scratch, doc.degradation)
    if _same(new, current):
        return current
    new.version = current.version + 1
    if scratch.events:  # the first says what moved traffic (an expiry before a renewal), all say why
        new.change = ChangeDoc(kind=str(scratch.events[0]["kind"]),
                               reason="; ".join(str(e["reason"]) for e in scratch.events), by=by, at=clock())
    elif doc.change is not None and doc.change != current.change:  # the op described itself (degradation)
        new.change = doc.change.model_copy(update={"by": by, "at": clock()})
    else:
        kind = "lease_renewed" if new.lease and current.lease and new.lease.holder == current.lease.holder else "state"
        new.change = ChangeDoc(kind=kind, reason=f"{kind.replace('_', ' ')}", by=by, at=clock())
    return new


def apply(state: GatewayState, doc: RoutingDoc) -> bool:
    """Make ``state`` route as ``doc`` says; records one event when more than the lease's expiry changed.

    Returns True when the weights, an upstream, the release or the lease holder changed.
    """
    changed = False
    if state.weights.candidate != doc.candidate_pct:
        state.weights = Weights(doc.candidate_pct)
        changed = True
    for name, up in ((STABLE, doc.stable), (CANDIDATE, doc.candidate)):
        if state.upstreams[name] != up:
            state.upstreams[name] = up
            changed = True
    if doc.release_id != state.release_id:
        state.release_id = doc.release_id
        changed = True
    holder = state.lease.holder if state.lease else None
    state.lease = Lease(doc.lease.holder, doc.lease.expires_at, doc.lease.ttl_s) if doc.lease else None
    changed = changed or holder != (doc.lease.holder if doc.lease else None)
    if changed and doc.change is not None:
        state.record(doc.change.kind, f"{doc.change.reason} [shared state v{doc.version}, written by "
                                      f"{doc.change.by}]")
    return changed


def _to_state(doc: RoutingDoc, clock: Callable[[], float]) -> GatewayState:
    state = GatewayState(doc.stable, doc.candidate, release_id=doc.release_id, clock=clock)
    state.weights = Weights(doc.candidate_pct)
    if doc.lease is not None:
        state.lease = Lease(doc.lease.holder, doc.lease.expires_at, doc.lease.ttl_s)
    return state


def _from_state(service: str, state: GatewayState, degradation: DegradationDoc | None) -> RoutingDoc:
    stable = state.upstreams[STABLE]
    assert stable is not None  # a gateway always has a stable upstream
    lease = state.lease
    return RoutingDoc(service=service, candidate_pct=state.weights.candidate, release_id=state.release_id,
                      stable=stable, candidate=state.upstreams[CANDIDATE],
                      lease=LeaseDoc(holder=lease.holder, expires_at=lease.expires_at, ttl_s=lease.ttl_s)
                      if lease else None, degradation=degradation)


def _same(a: RoutingDoc, b: RoutingDoc) -> bool:
    skip = {"version", "change"}
    return a.model_dump(exclude=skip) == b.model_dump(exclude=skip)


def summary(doc: RoutingDoc) -> dict[str, Any]:
    """The document as `launchgate status` and GET /admin/state show it (prompts left out)."""
    out = json.loads(doc.model_dump_json(exclude={"stable": {"system_prompt"}, "candidate": {"system_prompt"}}))
    return dict(out)
