"""``prometheus/scrape.yml``: the scrape job for the release gateway, with the alert rules loaded.

A complete Prometheus config, so ``prometheus --config.file=scrape.yml`` runs as is; to add
launchgate to an existing Prometheus, copy its ``scrape_configs`` entry and ``rule_files`` line.
The job is named after the service: the canary queries and the alert rules select ``job=<service>``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def gateway_target(gateway_url: str, override: str | None = None) -> str:
    """host:port Prometheus scrapes (the gateway serves /metrics beside /v1 and /admin)."""
    if override:
        return override
    parts = urlsplit(gateway_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def seconds(value: float) -> str:
    """A Prometheus duration (whole milliseconds when not whole seconds)."""
    return f"{value:g}s" if float(value).is_integer() else f"{round(value * 1000)}ms"


def scrape_config(service: str, target: str, interval_s: float, *, rule_files: list[str] | None = None,
                  scheme: str = "http") -> dict[str, Any]:
    interval = seconds(interval_s)
    # A scrape must finish before the next one starts; the gateway answers /metrics in milliseconds.
    timeout = seconds(min(10.0, interval_s * 0.8))
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": rule_files or [],
        "scrape_configs": [{
            "job_name": service,
            "scheme": scheme,
            "metrics_path": "/metrics",
            "scrape_interval": interval,
            "scrape_timeout": timeout,
            "static_configs": [{"targets": [target], "labels": {"service": service}}],
        }],
    }
