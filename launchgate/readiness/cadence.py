"""The weekly readiness review (pure): which attestations expire soon and which items turned failed.

The flow (flows/readiness_review.py) judges the service as `launchgate readiness` does, reads last
week's stored report, and sends each owner role the part it has to act on.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from launchgate.notify.base import Notice
from launchgate.readiness.catalogue import load_catalogue
from launchgate.readiness.checks import SUMMARY_CHECK
from launchgate.readiness.models import Counts, ItemResult, ReadinessReport, Status

EXPIRY_WINDOW = timedelta(days=14)
# Owner roles without a channel of their own in release.yaml's owners: section go to the platform owner.
NOTIFY_ROLE = {"security": "operations"}


class Finding(BaseModel):
    id: str
    title: str
    owner: str
    required: bool
    reason: str
    expires_at: datetime | None = None
    by: str | None = None


class WeeklyReadiness(BaseModel):
    service: str
    week: str
    checked_at: datetime
    release_id: str | None
    counts: Counts
    ready: bool
    summary: str
    expiring: list[Finding] = Field(default_factory=list, description="attestations ending within 14 days")
    turned_failed: list[Finding] = Field(default_factory=list, description="failed now, not failed last week")
    previous_week: str | None = None
    statuses: dict[str, Status] = Field(default_factory=dict, description="every item's status, for next week")


def _finding(r: ItemResult) -> Finding:
    return Finding(id=r.id, title=r.title, owner=r.owner, required=r.required, reason=r.reason,
                   expires_at=r.expires_at, by=r.by)


def weekly(report: ReadinessReport, week: str, now: datetime,
           previous: WeeklyReadiness | None = None) -> WeeklyReadiness:
    """``previous``: last week's review; without one, every required item failing now counts as turned failed."""
    expiring = [_finding(r) for r in report.items if r.status is Status.ATTESTED and r.expires_at is not None
                and r.expires_at - now <= EXPIRY_WINDOW]
    before = previous.statuses if previous is not None else {}
    # The "every item verified" summary items fail whenever another does: name the item that did, not them.
    summaries = {i.id for i in load_catalogue().items if i.check == SUMMARY_CHECK}
    turned = [_finding(r) for r in report.items if r.status is Status.FAILED and before.get(r.id) is not Status.FAILED
              and (previous is not None or r.required) and r.id not in summaries]
    parts = [f"{len(expiring)} attestations expire within 14 days", f"{len(turned)} items turned failed"]
    head = "ready" if report.counts.ready else f"not ready ({len(report.blocking)} required items open)"
    return WeeklyReadiness(service=report.service, week=week, checked_at=now, release_id=report.release_id,
                           counts=report.counts, ready=report.counts.ready, expiring=expiring, turned_failed=turned,
                           previous_week=previous.week if previous is not None else None,
                           statuses={r.id: r.status for r in report.items},
                           summary=f"Readiness of {report.service} in {week}: {head}; {', '.join(parts)}.")


def weekly_markdown(w: WeeklyReadiness) -> str:
    lines = [f"# Weekly readiness review: {w.service} {w.week}", "", w.summary, ""]
    for title, rows in (("Attestations expiring within 14 days", w.expiring), ("Items that turned failed",
                                                                             w.turned_failed)):
        lines += [f"## {title}", ""]
        if not rows:
            lines += ["None.", ""]
            continue
        lines += ["| item | owner | required | reason |", "|---|---|---|---|"]
        lines += [f"| {f.title} (`{f.id}`) | {f.owner} | {'yes' if f.required else 'no'} | "
                  f"{f.reason.replace('|', '/')} |" for f in rows]
        lines.append("")
    return "\n".join(lines)


def owner_notices(w: WeeklyReadiness, link: str | None) -> list[Notice]:
    """One notice per owner role with something to act on (re-attest, or fix what failed)."""
    roles = dict.fromkeys(f.owner for f in [*w.expiring, *w.turned_failed])
    notices = []
    for role in roles:
        exp = [f for f in w.expiring if f.owner == role]
        bad = [f for f in w.turned_failed if f.owner == role]
        text = "; ".join(filter(None, [
            f"re-attest before expiry: {', '.join(f'{f.id} ({f.expires_at:%Y-%m-%d})' for f in exp)}" if exp else "",
            f"fix what turned failed: {', '.join(f.id for f in bad)}" if bad else ""])) + "."
        notices.append(Notice(event="readiness_review", role=NOTIFY_ROLE.get(role, role), service=w.service,
                              status="alarm" if bad else "info", link=link, link_label="Open review",
                              title=f"Readiness review {w.week}: {role} has {len(exp) + len(bad)} item(s) to act on",
                              text=text[0].upper() + text[1:],
                              fields={"owner role": role, "expiring": str(len(exp)), "turned failed": str(len(bad))}))
    return notices
