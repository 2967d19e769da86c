"""The hourly request-log compaction deployment (``compact-logs``, every hour at :20).

Turns every closed hour of the gateway's JSONL log (ended ``grace_minutes`` ago, within
``lookback_days``) into one verified Parquet file per Hive partition (launchgate/requestlog/compaction.py).

A scheduled flow rather than a timer inside the gateway: parsing an hour of JSONL is CPU work that
must not share the proxy's event loop or cores; several gateway processes per service would each
run the timer (harmless, compaction is idempotent, but wasted); and a flow run leaves a record,
an artifact and an alert when an hour fails, where a timer would only log.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from launchgate.config.context import ServiceContext
from tasks.compaction import compact_log


@flow(name="compact-logs", log_prints=True)
def compact_logs(config: str, artifacts: str | None = None, grace_minutes: int = 30,
                 lookback_days: int = 7) -> dict[str, Any]:
    ctx = ServiceContext.open(config, artifacts=artifacts, check_files=False)
    result = compact_log(ctx, grace_minutes, lookback_days)
    hours = result.tables.get("hours", [])
    return {"service": ctx.service, "ok": not result.blocks, "summary": result.summary,
            "compacted": sum(1 for h in hours if h["status"] == "compacted"),
            "rows": sum(h["rows"] for h in hours if h["status"] == "compacted")}
