"""The readiness probe of the release gateway: loopback only, no token, short timeouts.

Asks the admin API without a token (it must answer 401), reads /metrics, posts a feedback body without
a rating to ``/v1/feedback`` (a gateway that serves it refuses the body; nothing is stored) and, when the gateway guards
the input contract, sends one request a character over ``max_context_chars``: the guard must refuse
it (413 context_too_long) before any model is called. A gateway that is
not on loopback is not probed: a readiness review never reaches across the network. The standard
library's http.client, because two plain GETs on loopback need no TLS context (httpx builds one
per client: ~0.14 s, most of the probe's cost).
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from launchgate.access.tokens import with_client_key
from launchgate.readiness.evidence import ProbeFacts

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TIMEOUT_S = 0.5


def _call(host: str, port: int, path: str, body: bytes | None = None,
          headers_out: dict[str, str] | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    try:
        # /v1 behind API keys (access.required on loopback): the probe is a client like any other.
        headers = (with_client_key({"Content-Type": "application/json"}) or {}) if body is not None else {}
        conn.request("GET" if body is None else "POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        if headers_out is not None:
            headers_out.update({k.lower(): v for k, v in resp.getheaders()})
        return resp.status, resp.read(200_000).decode("utf-8", errors="replace")
    finally:
        conn.close()


def probe_gateway(url: str, context_chars: int | None = None) -> ProbeFacts:
    """``context_chars``: the size of the over-cap request (None: the gateway guards no context cap)."""
    facts = ProbeFacts(url=url)
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK or parts.scheme != "http":
        facts.error = f"{url} is not plain HTTP on loopback; probe it from its own host"
        return facts
    port = parts.port or 80
    try:
        facts.admin_status, _ = _call(parts.hostname, port, "/admin/state")
        facts.metrics_status, facts.metrics_text = _call(parts.hostname, port, "/metrics")
        if context_chars is not None:
            body = json.dumps({"model": "readiness-probe", "max_tokens": 1,
                               "messages": [{"role": "user", "content": "x" * context_chars}]}).encode()
            answer: dict[str, str] = {}
            facts.context_status, _ = _call(parts.hostname, port, "/v1/chat/completions", body, answer)
            facts.request_id_returned = bool(answer.get("x-request-id"))
        # No rating: a gateway serving feedback refuses it (400, or 401 behind API keys) and stores nothing.
        facts.feedback_status, _ = _call(parts.hostname, port, "/v1/feedback", b'{"request_id": "readiness-probe"}')
    except (OSError, http.client.HTTPException) as exc:
        facts.error = f"gateway {url} not reachable ({type(exc).__name__})"
    return facts


def probe_prometheus(url: str) -> tuple[list[str] | None, str | None]:
    """The alert names Prometheus has loaded (GET /api/v1/rules), or (None, why it was not asked)."""
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK or parts.scheme != "http":
        return None, f"{url} is not plain HTTP on loopback; its rules are not read from here"
    try:
        status, text = _call(parts.hostname, parts.port or 80, (parts.path.rstrip("/")) + "/api/v1/rules")
        if status != 200:
            return None, f"{url}/api/v1/rules answered {status}"
        groups = json.loads(text).get("data", {}).get("groups", [])
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return None, f"Prometheus {url} not reachable ({type(exc).__name__})"
    return [r["name"] for g in groups for r in g.get("rules", []) if r.get("type") == "alerting"], None
