"""The retention deployment (``retention``, daily 03:00 UTC).

Deletes what is past its period under release.yaml's ``data.retention`` and writes the deletion
record (``<service>/state/retention/<stamp>.json``: counts and key ranges, no content); on S3 it
also compares the bucket's lifecycle rules with the policy. Then it scans a sample of the request
log, queues and bundles for PII and secrets and alerts the compliance and operations owners on a
finding (``<service>/reviews/unsafe_logging/<stamp>.json``).
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from launchgate.config.context import ServiceContext
from tasks.retention import apply_retention, unsafe_logging_scan


@flow(name="retention", log_prints=True)
def retention(config: str, artifacts: str | None = None, scan: bool = True) -> dict[str, Any]:
    """Apply ``config``'s data retention, then (``scan``) the unsafe-logging check."""
    ctx = ServiceContext.open(config, artifacts=artifacts, check_files=False)
    done = apply_retention(ctx)
    out: dict[str, Any] = {"service": ctx.service, "retention": done.summary, "record": done.evidence[0],
                           "lifecycle": [v.reason for v in done.verdicts[1:] if v.blocks]}
    if scan:
        found = unsafe_logging_scan(ctx)
        out |= {"unsafe_logging": found.summary, "findings": found.verdicts[0].value}
    return out
