"""release.yaml's ``canary.haproxy`` section, and the PromQL that reads HAProxy's own exporter.

``canary.router: haproxy`` moves weight between two servers of one HAProxy backend through the
runtime API (launchgate/router/haproxy.py). HAProxy weights are integers (0..256), so the router
sets ``100 - pct`` on the stable server and ``pct`` on the candidate: every percentage the canary
uses (steps, traffic, drill_traffic) must be a whole number, which ``check_whole_percents`` says
at load time rather than mid-canary.

``haproxy_queries`` is the canary judge's template set over HAProxy's built-in Prometheus exporter
(``http-request use-service prometheus-exporter``), used when ``observability.queries`` is not set.
HAProxy counts HTTP responses per server by status class; it does not validate answers against the
schema, and 2.6's exporter has no latency histogram (only a moving average), so schema and latency
are declared unmeasured there, not passed. To judge them, point ``observability.queries``'
``latency_count``/``latency_within``/``schema_*`` at the model server's own metrics.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from launchgate.config.observability import CanaryQueries, since_window


class Strict(BaseModel):
    # Its own copy, like observability.py: launchgate.config imports this module.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class HAProxyRouting(Strict):
    """One HAProxy backend with a stable and a candidate server; launchgate moves weight between them."""

    admin_socket: str | list[str] = Field(
        description="the runtime API: a unix socket path (`stats socket PATH level admin`) or host:port "
                    "(`stats socket ipv4@HOST:PORT level admin`); a list for several HAProxy instances "
                    "(an active/active or keepalived pair): each gets the same weights")
    backend: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$", description="the backend's name")
    stable_server: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    candidate_server: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    frontend_url: str | None = Field(
        default=None, pattern=r"^https?://[^/\s]+",
        description="where clients reach HAProxy (its root; the OpenAI API is under /v1): the rollback drill "
                    "probes through it and demo traffic goes there; unset = no probe")
    timeout_s: float = Field(default=2.0, gt=0, le=60, description="per runtime API command")
    retries: int = Field(default=2, ge=0, le=10, description="extra attempts when the socket is unreachable")

    @property
    def sockets(self) -> list[str]:
        return [self.admin_socket] if isinstance(self.admin_socket, str) else list(self.admin_socket)

    @field_validator("admin_socket")
    @classmethod
    def _some_socket(cls, v: str | list[str]) -> str | list[str]:
        items = [v] if isinstance(v, str) else v
        if not items or any(not s.strip() for s in items) or len(set(items)) != len(items):
            raise ValueError("admin_socket: one socket path or host:port, or a list of distinct ones")
        return v


def check_whole_percents(canary: Any) -> str | None:
    """Why the canary's percentages cannot be HAProxy weights, or None."""
    pcts = [*canary.steps, canary.traffic, canary.drill_traffic]
    odd = sorted({p for p in pcts if p != int(p)})
    if odd:
        return (f"router 'haproxy' sets integer server weights: canary traffic, steps and drill_traffic must be "
                f"whole percents, got {', '.join(f'{p:g}' for p in odd)}")
    return None


def haproxy_queries(backend: str) -> CanaryQueries:
    """The judge's PromQL over HAProxy's exporter for one backend; ``{{variant}}`` is the server name."""
    sel = f'job="{{{{service}}}}",proxy="{backend}",server="{{{{variant}}}}"'
    responses = f"haproxy_server_http_responses_total{{{sel}}}"
    errors = f'haproxy_server_http_responses_total{{{sel},code="5xx"}}'
    return CanaryQueries(
        requests=since_window(responses), errors=since_window(errors, zero=True),
        schema_checked=None, schema_failures=None, latency_count=None, latency_within=None,
        cost_usd=None, priced_requests=None, p95_seconds=None,
        last_sample=f"max(timestamp({responses}))",
    )
