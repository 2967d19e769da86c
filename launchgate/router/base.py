"""The traffic router and metrics source Protocols, and the per-variant stats they exchange.

Variants are always called ``stable`` and ``candidate`` here, whatever the backend names them
(SageMaker production variants are mapped by config), so the judge never sees backend names.
Weights are in percent (0..100) at this boundary, like the config and the gateway admin API.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

STABLE = "stable"
CANDIDATE = "candidate"


class WindowStats(BaseModel):
    """What one variant served since a point in time (cumulative, not a sliding window)."""

    count: int = Field(default=0, ge=0, description="requests answered")
    errors: int = Field(default=0, ge=0, description="requests that failed (5xx, timeouts)")
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None
    schema_failures: int = Field(default=0, ge=0, description="answers that did not validate")
    schema_checked: int | None = Field(default=None, ge=0, description="answers checked; None = all counted")
    cost_per_request: float | None = None
    retried: int | None = Field(
        default=None, ge=0, description="requests that needed an upstream retry, when the source counts them"
    )
    slow_requests: int | None = Field(
        default=None, description="requests slower than the latency threshold, when the source counts them"
    )
    unmeasured: list[str] = Field(
        default_factory=list, description="checks this source cannot measure (latency, schema, cost): not judged"
    )

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.count if self.count else None

    @property
    def schema_failure_rate(self) -> float | None:
        n = self.schema_n
        return self.schema_failures / n if n else None

    @property
    def schema_n(self) -> int:
        return self.count if self.schema_checked is None else self.schema_checked


@runtime_checkable
class TrafficRouter(Protocol):
    """Moves traffic between the stable and the candidate variant."""

    name: str

    def attach_candidate(self, url: str, model: str, prompt_version: str, release_id: str,
                         system_prompt: str | None = None) -> None:
        """Point the candidate slot at this release (before any weight is shifted to it)."""
        ...

    def set_candidate_weight(self, pct: float, reason: str) -> None:
        """Send ``pct`` % of traffic to the candidate, the rest to stable. Takes effect at once."""
        ...

    def weights(self) -> dict[str, float]:
        """Current weights as the router reports them: {"stable": 90.0, "candidate": 10.0}."""
        ...

    def heartbeat(self, holder: str, ttl_s: float) -> None:
        """Acquire or renew the lease; a router that supports leases reverts to stable when it lapses."""
        ...

    def release(self, holder: str) -> None:
        """Give the lease back (weights stay as they are)."""
        ...


@runtime_checkable
class MetricsSource(Protocol):
    """Per-variant stats since a unix timestamp; raises RouterError when it cannot tell."""

    def window(self, since: float) -> dict[str, WindowStats]: ...
