"""Post-launch review: a week after a promotion, what happened? (store reads + pure assembly)

For a promoted release it gathers, over ``[promoted_at, promoted_at + days)``:

* incidents: releases rolled back during the canary, manual rollbacks (``state/rollbacks/``),
  budget alerts and stops (``state/budget/<day>.json``), freezes set (``state/freeze_log.jsonl``);
* the cost change: cost per request and spend per day, the week after vs the week before;
* drift: the week after vs the week before, with the weekly review's statistics (launchgate/reviews/drift.py);
* quality: labelled review-queue items and user feedback (joined to the request log by request id)
  per release and variant, the week before vs the week after (launchgate/reviews/quality.py).

Both windows are read as DuckDB queries (reviews/drift_sql.py), never as lists of lines.

The result goes into the release's own bundle as ``post_launch/review.json`` + ``review.md``, new
files in a write-once bundle: a release is reviewed once, and the review cannot be rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from launchgate.budget.ledger import read_state
from launchgate.errors import StoreError
from launchgate.requestlog.reader import num, parse_ts
from launchgate.requestlog.view import LogView
from launchgate.reviews.config import DriftReviewConfig
from launchgate.reviews.drift import FeatureDrift, compare_stats
from launchgate.reviews.drift_sql import drift_data, ts_sql
from launchgate.reviews.quality import QualityData, quality_features, quality_markdown, quality_summary
from launchgate.reviews.quality_sql import quality_numbers
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.jsonio import get_object

REVIEW_JSON = "post_launch/review.json"
REVIEW_MD = "post_launch/review.md"


class Incident(BaseModel):
    kind: Literal["rollback", "manual_rollback", "budget_alert", "budget_stop", "freeze"]
    at: datetime
    summary: str
    evidence: str


class CostWindow(BaseModel):
    requests: int
    usd: float
    usd_per_day: float
    cost_per_request: float | None


class Promotion(BaseModel):
    release_id: str
    promoted_at: datetime


class PostLaunchReview(BaseModel):
    service: str
    release_id: str
    promoted_at: datetime
    window_start: datetime
    window_end: datetime
    incidents: list[Incident]
    cost_before: CostWindow
    cost_after: CostWindow
    cost_per_request_change_pct: float | None
    spend_per_day_change_pct: float | None
    drift_significant: bool
    drift: list[dict[str, Any]]
    notes: list[str] = Field(default_factory=list)
    quality: dict[str, Any] | None = Field(default=None, description="labels and feedback, week before and after, "
                                                                      "per release and variant (reviews/quality.py)")
    quality_significant: bool = False
    quality_verdicts: list[dict[str, Any]] = Field(default_factory=list)
    summary: str
    reviewed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def _json(store: ArtifactStore, key: str) -> dict[str, Any] | None:
    """A record the review can use, else None: one unreadable decision must not hide the others."""
    try:
        return get_object(store, key)
    except StoreError:
        return None


def decisions(store: ArtifactStore, service: str) -> list[dict[str, Any]]:
    """Every release's decision.json (with its key), oldest first."""
    prefix = layout.releases_prefix(service)
    out = []
    for key in store.list(prefix):
        if key.count("/") == 3 and key.endswith("/decision.json"):
            d = _json(store, key)
            if d is not None and parse_ts(str(d.get("decided_at"))) is not None:
                out.append({**d, "_key": key})
    return sorted(out, key=lambda d: str(d["decided_at"]))


def promotions(store: ArtifactStore, service: str) -> list[Promotion]:
    return [Promotion(release_id=d["release_id"], promoted_at=parse_ts(str(d["decided_at"])))  # type: ignore[arg-type]
            for d in decisions(store, service) if d.get("decision") == "promoted" and d.get("release_id")]


def due(store: ArtifactStore, service: str, now: datetime, days: int = 7) -> list[Promotion]:
    """Promotions at least ``days`` old whose bundle has no post-launch review yet."""
    return [p for p in promotions(store, service) if p.promoted_at + timedelta(days=days) <= now
            and not store.exists(layout.release_key(service, p.release_id, REVIEW_JSON))]


def incidents(store: ArtifactStore, service: str, start: datetime, end: datetime) -> list[Incident]:
    found: list[Incident] = []
    for d in decisions(store, service):
        at = parse_ts(str(d["decided_at"]))
        if d.get("decision") == "rolled_back" and at is not None and start <= at < end:
            found.append(Incident(kind="rollback", at=at, evidence=d["_key"],
                                  summary=f"{d.get('release_id')} rolled back during its canary: "
                                          f"{d.get('summary', '')}"))
    for key in store.list(layout.rollbacks_prefix(service)):
        r = _json(store, key) or {}
        at = parse_ts(str(r.get("at")))
        if at is not None and start <= at < end:
            found.append(Incident(kind="manual_rollback", at=at, evidence=key,
                                  summary=f"manual rollback by {r.get('by') or r.get('actor') or 'someone'}: "
                                          f"{r.get('reason', '')}".strip()))
    day = start.date()
    while day <= (end - timedelta(microseconds=1)).date():
        try:
            state = read_state(store, service, day)
        except StoreError:
            state = None
        for e in state.events if state else []:
            if e.kind in ("alert", "stop") and start <= e.at < end:
                found.append(Incident(kind=f"budget_{e.kind}", at=e.at, evidence=layout.budget_day(service, day),
                                      summary=f"budget {e.kind} at ${e.spend_usd:.2f} (threshold "
                                              f"${e.threshold_usd:.2f})"))
        day += timedelta(days=1)
    log_key = layout.freeze_log(service)
    if store.exists(log_key):
        for line in store.get(log_key).decode("utf-8", "replace").splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            at = parse_ts(ev.get("at"))
            if ev.get("action") == "set" and at is not None and start <= at < end:
                found.append(Incident(kind="freeze", at=at, evidence=log_key,
                                      summary=f"releases frozen by {ev.get('by')}: {ev.get('reason')}"))
    return sorted(found, key=lambda i: i.at)


def cost_window(records: Sequence[dict[str, Any]], days: int) -> CostWindow:
    return cost_totals(len(records), sum(num(r, "cost_usd") or 0.0 for r in records), days)


def cost_totals(requests: int, usd: float, days: int) -> CostWindow:
    return CostWindow(requests=requests, usd=round(usd, 6), usd_per_day=round(usd / days, 6),
                      cost_per_request=round(usd / requests, 8) if requests else None)


def _window_numbers(store: ArtifactStore, service: str, start: datetime, days: int, cfg: DriftReviewConfig
                    ) -> tuple[CostWindow, CostWindow, list[FeatureDrift], list[str], QualityData]:
    """Cost, drift, labels and feedback of the week before vs the week after ``start``, in SQL
    (reviews/drift_sql.py, reviews/quality_sql.py)."""
    origin = start - timedelta(days=days)
    with LogView.open(store, service, origin, start + timedelta(days=days)) as view:
        rows = view.con.execute(f"SELECT ts >= {ts_sql(start)} AS after, count(*), fsum(coalesce(cost_usd, 0.0)) "
                                f"FROM requests GROUP BY after").fetchall()
        by = {bool(a): (int(n), float(usd or 0.0)) for a, n, usd in rows}
        data = drift_data(view.con, start, cfg, charts=False)
        quality = quality_numbers(view, origin, start + timedelta(days=days), timedelta(days=days))
    features, notes = compare_stats(data.dists, data.ref_rates, data.cur_rates, data.n_reference, cfg)
    return (cost_totals(*by.get(False, (0, 0.0)), days), cost_totals(*by.get(True, (0, 0.0)), days), features,
            notes, quality)


def _share(k: int, n: int) -> str:
    return f"{k / n * 100:.1f}%" if n else "-"


def _change(before: float | None, after: float | None) -> float | None:
    if not before or after is None:
        return None
    return round((after / before - 1) * 100, 2)


def review(store: ArtifactStore, service: str, promotion: Promotion, cfg: DriftReviewConfig,
           days: int = 7) -> PostLaunchReview:
    start = promotion.promoted_at
    end = start + timedelta(days=days)
    cb, ca, features, notes, qdata = _window_numbers(store, service, start, days, cfg)
    q_features, q_notes = quality_features(qdata, 1, cfg)
    notes += q_notes
    drifted = [f for f in features if f.significant]
    q_worse = [f for f in q_features if f.significant]
    found = incidents(store, service, start, end)
    cpr = _change(cb.cost_per_request, ca.cost_per_request)
    parts = [f"{len(found)} incident(s)" + (f" ({', '.join(sorted({i.kind for i in found}))})" if found else "")]
    parts.append(f"cost per request {cpr:+.1f}%" if cpr is not None else "cost per request not comparable")
    parts.append(f"drift in {', '.join(f.title.lower() for f in drifted)}" if drifted else "no significant drift")
    after = qdata.totals(1)
    if q_worse:
        parts.append("; ".join(f.reason.rstrip(".") for f in q_worse))
    elif after.labelled or after.feedback:
        parts.append(f"quality rate {_share(after.good, after.labelled)} of {after.labelled} labelled, bad feedback "
                     f"{_share(after.bad_feedback, after.feedback)} of {after.feedback}")
    return PostLaunchReview(
        service=service, release_id=promotion.release_id, promoted_at=start, window_start=start, window_end=end,
        incidents=found, cost_before=cb, cost_after=ca, cost_per_request_change_pct=cpr,
        spend_per_day_change_pct=_change(cb.usd_per_day, ca.usd_per_day), drift_significant=bool(drifted),
        drift=[{"name": f.name, "phase": f.phase.value, "reason": f.reason} for f in features], notes=notes,
        quality=quality_summary(qdata), quality_significant=bool(q_worse),
        quality_verdicts=[{"name": f.name, "phase": f.phase.value, "reason": f.reason} for f in q_features],
        summary=f"Post-launch review of {promotion.release_id}, {days} days after promotion: " + "; ".join(parts) + ".",
    )


def review_markdown(r: PostLaunchReview) -> str:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:+.1f}%"

    lines = [f"# Post-launch review {r.release_id}", "", r.summary, "",
             f"Promoted {r.promoted_at:%Y-%m-%d %H:%M}Z; window until {r.window_end:%Y-%m-%d %H:%M}Z.", "",
             "## Incidents", ""]
    lines += [f"- {i.at:%Y-%m-%d %H:%M}Z {i.kind}: {i.summary} ({i.evidence})" for i in r.incidents] or ["- none"]
    cpr_b = "-" if r.cost_before.cost_per_request is None else f"${r.cost_before.cost_per_request:.6f}"
    cpr_a = "-" if r.cost_after.cost_per_request is None else f"${r.cost_after.cost_per_request:.6f}"
    lines += ["", "## Cost", "", "| | week before | week after | change |", "|---|---|---|---|",
              f"| requests | {r.cost_before.requests} | {r.cost_after.requests} | |",
              f"| spend/day | ${r.cost_before.usd_per_day:.2f} | ${r.cost_after.usd_per_day:.2f} | "
              f"{pct(r.spend_per_day_change_pct)} |",
              f"| cost/request | {cpr_b} | {cpr_a} | {pct(r.cost_per_request_change_pct)} |",
              "", "## Drift (week after vs week before)", ""]
    lines += [f"- {d['phase']}: {d['reason']}" for d in r.drift]
    if r.quality is not None:
        lines += ["", *quality_markdown(r.quality, "Quality: labels and user feedback (week before, week after)")]
        lines += [f"- {d['phase']}: {d['reason']}" for d in r.quality_verdicts]
    if r.notes:
        lines += ["", "## Notes", "", *(f"- {n}" for n in r.notes)]
    return "\n".join(lines) + "\n"
