"""The readiness probe of the release gateway: loopback only, no token, short timeouts.

Asks the admin API without a token (it must answer 401) and reads /metrics. A gateway that is
not on loopback is not probed: a readiness review never reaches across the network. The standard
library's http.client, because two plain GETs on loopback need no TLS context (httpx builds one
per client: ~0.14 s, most of the probe's cost).
"""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from launchgate.readiness.evidence import ProbeFacts

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TIMEOUT_S = 0.5


def _get(host: str, port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read(200_000).decode("utf-8", errors="replace")
    finally:
        conn.close()


def probe_gateway(url: str) -> ProbeFacts:
    facts = ProbeFacts(url=url)
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK or parts.scheme != "http":
        facts.error = f"{url} is not plain HTTP on loopback; probe it from its own host"
        return facts
    port = parts.port or 80
    try:
        facts.admin_status, _ = _get(parts.hostname, port, "/admin/state")
        facts.metrics_status, facts.metrics_text = _get(parts.hostname, port, "/metrics")
    except (OSError, http.client.HTTPException) as exc:
        facts.error = f"gateway {url} not reachable ({type(exc).__name__})"
    return facts
