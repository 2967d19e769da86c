"""Traffic router and metrics source over launchgate's own release gateway (the default).

A thin adapter from the TrafficRouter/MetricsSource Protocols to the gateway's admin API client
(launchgate.gateway.client.GatewayAdmin). The gateway is the one router with a lease: when the
heartbeats stop, it sets the candidate weight to 0 by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from launchgate.errors import LaunchgateError, RouterError
from launchgate.router.base import CANDIDATE, STABLE, WindowStats

T = TypeVar("T")


@contextmanager
def _admin_call(what: str) -> Iterator[None]:
    """Whatever the client raises becomes RouterError (its own errors keep their message)."""
    try:
        yield
    except RouterError:
        raise
    except LaunchgateError as exc:
        raise RouterError(f"gateway {what} failed: {exc}") from exc
    except (OSError, ValueError, KeyError) as exc:  # connection refused, bad JSON, missing fields
        raise RouterError(f"gateway {what} failed: {type(exc).__name__}: {exc}") from exc


def to_window_stats(raw: dict[str, Any]) -> WindowStats:
    """One variant of GET /admin/stats -> WindowStats (unknown fields ignored, missing ones empty)."""
    return WindowStats(
        count=int(raw.get("count") or 0), errors=int(raw.get("errors") or 0),
        p50_ms=raw.get("p50_ms"), p95_ms=raw.get("p95_ms"), p99_ms=raw.get("p99_ms"),
        schema_failures=int(raw.get("schema_failures") or 0), schema_checked=raw.get("schema_checked"),
        cost_per_request=raw.get("cost_per_request"),
        retried=None if raw.get("retried") is None else int(raw["retried"]),
    )


class GatewayRouter:
    name = "gateway"

    def __init__(self, base_url: str, token: str, *, admin: Any = None) -> None:
        if admin is None:
            from launchgate.gateway.client import GatewayAdmin

            admin = GatewayAdmin(base_url, token)
        self.admin = admin
        self.base_url = base_url.rstrip("/")
        self.release_id: str | None = None
        self._candidate: tuple[str, str, str, str | None] | None = None
        self.last_look: dict[str, Any] | None = None  # the replicas behind the last window, when shared

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        with _admin_call(what):
            return fn()

    def attach_candidate(self, url: str, model: str, prompt_version: str, release_id: str,
                         system_prompt: str | None = None) -> None:
        self.release_id = release_id
        self._candidate = (url, model, prompt_version, system_prompt)
        self._call("set candidate upstream", lambda: self.admin.set_candidate(url, model, prompt_version,
                                                                             release_id, system_prompt))

    def set_candidate_weight(self, pct: float, reason: str) -> None:
        self._call(f"set weight {pct:g}%", lambda: self.admin.set_weights(pct, reason, release_id=self.release_id))

    def hand_over(self, reason: str) -> None:
        """After promotion the candidate becomes the gateway's stable and the candidate slot empties.

        Without this the promoted variant would sit at candidate=100%, and the next release's
        attach_candidate would send all traffic to an unvetted model before its canary starts.
        """
        if self._candidate is None:  # another process attached it: the gateway's own state is the truth
            up = (self.state().get("upstreams") or {}).get(CANDIDATE)
            if not up:
                return
            self._candidate = (up["url"], up["model"], up.get("prompt_version") or "", up.get("system_prompt"))
        url, model, prompt_version, system_prompt = self._candidate
        self._call("promote", lambda: self.admin.set_stable(url, model, prompt_version, reason, system_prompt))
        self.set_candidate_weight(0, f"{model} promoted: it is the stable upstream now")

    def state(self) -> dict[str, Any]:
        return dict(self._call("state", self.admin.state))

    def weights(self) -> dict[str, float]:
        w = self.state()["weights"]
        return {STABLE: float(w[STABLE]), CANDIDATE: float(w[CANDIDATE])}

    def heartbeat(self, holder: str, ttl_s: float) -> None:
        # POST /admin/lease both acquires and renews; 409 = another orchestrator holds it.
        self._call("lease", lambda: self.admin.acquire_lease(holder, ttl_s))

    def release(self, holder: str) -> None:
        self._call("lease release", lambda: self.admin.release_lease(holder))

    def window(self, since: float) -> dict[str, WindowStats]:
        raw = self._call("stats", lambda: self.admin.stats(since))
        with _admin_call("stats"):
            variants = raw["variants"]
            if raw.get("replicas") is not None:  # replicas sharing state: the sum, and who is in it
                self.last_look = {k: raw.get(k) for k in ("replicas", "missing_replicas", "pending_replicas")}
            # Never judge a sum that lacks a replica's requests: the look holds (the judge says why).
            missing, pending = raw.get("missing_replicas") or [], raw.get("pending_replicas") or []
            if missing:
                rows = {r.get("replica"): r for r in raw["replicas"]}
                seen = ", ".join(f"{m} (last seen {rows.get(m, {}).get('age_s', '?')}s ago)" for m in missing)
                raise RouterError(f"replica(s) {seen} stopped publishing their window counters: their requests "
                                  f"would be missing from the sum, so this look holds; restart or remove them")
            if pending:
                raise RouterError(f"replica(s) {', '.join(pending)} have not published this window's counters "
                                  f"yet (they do every publish interval): this look holds")
            return {name: to_window_stats(v) for name, v in variants.items() if isinstance(v, dict)}
