"""The gateway's routing state: weights, upstreams, the orchestrator's lease and an event trail.

Pure (no I/O): the admin handlers and the proxy call into it from one event loop, so no locks.

The lease is what makes "the controller died" safe. While a canary runs, the orchestrator
holds a lease and renews it every few seconds. If a renewal does not arrive before
``expires_at``, ``check_lease`` (called every ~0.5 s by a background task and before every
routing decision) sets the candidate weight to 0 on its own and records why. The gateway never
needs the orchestrator to be alive to get back to stable.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from launchgate.gateway.config import Upstream
from launchgate.gateway.routing import CANDIDATE, STABLE, Weights

MAX_EVENTS = 50


class StateConflict(Exception):
    """The request conflicts with the current state (HTTP 409); ``code`` is the error code."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass
class Lease:
    holder: str
    expires_at: float  # unix time
    ttl_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"holder": self.holder, "expires_at": self.expires_at, "ttl_s": self.ttl_s}


class GatewayState:
    def __init__(
        self,
        stable: Upstream,
        candidate: Upstream | None = None,
        *,
        candidate_pct: float = 0.0,
        release_id: str | None = None,
        clock: Callable[[], float] = time.time,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.upstreams: dict[str, Upstream | None] = {STABLE: stable, CANDIDATE: candidate}
        self.clock = clock
        self.on_event = on_event
        self.release_id = release_id
        self.lease: Lease | None = None
        self.events: deque[dict[str, Any]] = deque(maxlen=MAX_EVENTS)
        self.weights = Weights(0.0)
        if candidate_pct:
            self.set_weights(candidate_pct, "initial weight from config")

    # ----------------------------------------------------------------------------- events

    def record(self, kind: str, reason: str) -> dict[str, Any]:
        event = {"ts": self.clock(), "kind": kind, "reason": reason}
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return event

    # ---------------------------------------------------------------------------- weights

    def set_weights(self, candidate_pct: float, reason: str, release_id: str | None = None) -> None:
        new = Weights(float(candidate_pct))  # raises ValueError outside 0..100
        if new.candidate > 0 and self.upstreams[CANDIDATE] is None:
            raise StateConflict("no_upstream", "no candidate upstream is set: POST /admin/upstreams first")
        old = self.weights
        self.weights = new
        if release_id:
            self.release_id = release_id
        self.record("weights", f"candidate {old.candidate:g}% -> {new.candidate:g}%: {reason}")

    def set_candidate(self, upstream: Upstream, release_id: str | None, reason: str = "") -> None:
        previous = self.upstreams[CANDIDATE]
        self.upstreams[CANDIDATE] = upstream
        if release_id:
            self.release_id = release_id
        was = f"{previous.model}@{previous.url}" if previous else "none"
        why = f": {reason}" if reason else ""
        self.record("upstream", f"candidate {was} -> {upstream.model}@{upstream.url} "
                                f"(prompt {upstream.prompt_version}, release {self.release_id}){why}")

    # ------------------------------------------------------------------------------ lease

    def acquire_lease(self, holder: str, ttl_s: float) -> Lease:
        """Acquire or renew. Raises StateConflict when another holder's lease is still live."""
        if not holder:
            raise ValueError("holder must be a non-empty string")
        if not 0 < ttl_s <= 3600:
            raise ValueError(f"ttl_s must be within (0, 3600] seconds, got {ttl_s}")
        now = self.clock()
        self.check_lease(now)
        current = self.lease
        if current is not None and current.holder != holder:
            left = current.expires_at - now
            raise StateConflict("lease_held", f"lease held by {current.holder!r} for another {left:.1f}s")
        self.lease = Lease(holder=holder, expires_at=now + ttl_s, ttl_s=ttl_s)
        if current is None:
            self.record("lease_acquired", f"{holder} holds the lease (ttl {ttl_s:g}s)")
        return self.lease

    def release_lease(self, holder: str) -> None:
        current = self.lease
        if current is None:
            return  # releasing twice is fine: the caller's intent already holds
        if current.holder != holder:
            raise StateConflict("lease_held", f"lease is held by {current.holder!r}, not {holder!r}")
        self.lease = None
        self.record("lease_released", f"{holder} released the lease")

    def check_lease(self, now: float | None = None) -> bool:
        """Expire an unrenewed lease; returns True when this call expired it (and reverted traffic)."""
        lease = self.lease
        if lease is None:
            return False
        now = self.clock() if now is None else now
        if now < lease.expires_at:
            return False
        self.lease = None
        late = now - lease.expires_at
        before = self.weights.candidate
        self.weights = Weights(0.0)
        self.record(
            "lease_expired",
            f"lease of {lease.holder} (ttl {lease.ttl_s:g}s) expired {late:.2f}s ago without renewal; "
            f"candidate weight {before:g}% -> 0%, stable serves all traffic",
        )
        return True

    # ------------------------------------------------------------------------------ views

    def snapshot(self) -> dict[str, Any]:
        """The body of ``GET /admin/state``."""
        self.check_lease()
        upstreams = {
            name: (None if up is None else {"url": up.url, "model": up.model, "prompt_version": up.prompt_version,
                                            "system_prompt": up.system_prompt})
            for name, up in self.upstreams.items()
        }
        return {
            "weights": self.weights.as_dict(),
            "release_id": self.release_id,
            "lease": self.lease.as_dict() if self.lease else None,
            "events": list(self.events),
            "upstreams": upstreams,
            "now": self.clock(),
        }
