"""Links into Grafana: the service's dashboard over a canary's time range."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from launchgate.config import ReleaseConfig
from launchgate.observability.dashboard import dashboard_uid

# Grafana adds no data points after "to"; a margin shows the moments around the decision too.
MARGIN_S = 60.0


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def dashboard_link(cfg: ReleaseConfig, start_ts: float, end_ts: float) -> dict[str, Any] | None:
    """{url, uid, from, to} (epoch ms) of the dashboard over [start, end]; None without grafana_url."""
    grafana = cfg.observability.grafana_url
    if grafana is None:
        return None
    uid = dashboard_uid(cfg)
    t0, t1 = int((start_ts - MARGIN_S) * 1000), int((end_ts + MARGIN_S) * 1000)
    query = urlencode({"orgId": 1, "from": t0, "to": t1})
    url = f"{grafana}/d/{uid}/{slug(cfg.service + ' release and canary')}?{query}"
    return {"url": url, "uid": uid, "from": t0, "to": t1}
