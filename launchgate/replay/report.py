"""The replay report: JSON, Markdown and a chart of the per-field deltas, stored under ``layout.replay_report``."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

from launchgate.store import ArtifactStore, layout


def markdown(r: dict[str, Any]) -> str:
    s = r["summary"]
    other = "stable" if r["against"] == "candidate" else "candidate"
    lines = [f"# Replay of {r['service']} requests from {r['from_log']} (filter {r['filter']})", "",
             f"{s['requests']} logged request(s) re-sent to {r['against']} and {other}; {s['compared']} pair(s) "
             f"had two parsed answers.", "",
             "| field | answers differ | rate |", "|---|---|---|"]
    for f, n in s["fields"].items():
        rate = s["field_delta_rate"][f]
        lines.append(f"| {f} | {n} | {'n/a' if rate is None else f'{rate:.1%}'} |")
    lines += ["", "| version | served (200) | schema valid |", "|---|---|---|"]
    lines += [f"| {v} | {s['served'][v]} | {s['schema_valid'][v]} |" for v in s["served"]]
    return "\n".join(lines) + "\n"


def chart(r: dict[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = r["summary"]
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    names = list(s["fields"])
    ax.bar(names, [100 * (s["field_delta_rate"][f] or 0) for f in names], color="tab:orange")
    ax.set_ylabel("% of compared answers that differ")
    ax.set_title(f"Replay {r['from_log']} ({r['filter']}): {r['against']} vs the other version", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write(store: ArtifactStore, r: dict[str, Any], now: datetime | None = None) -> str:
    """Store replay_report.json, replay.md and replay.png; returns the prefix."""
    prefix = layout.replay_report(r["service"], (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ"))
    store.put(prefix + "replay_report.json", json.dumps(r, indent=1).encode(), "application/json")
    store.put(prefix + "replay.md", markdown(r).encode(), "text/markdown")
    store.put(prefix + "replay.png", chart(r), "image/png")
    return prefix
