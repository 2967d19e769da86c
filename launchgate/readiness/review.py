"""The readiness review: catalogue items x automated checks x attestations -> one report, and the release step.

Per item: a ``check`` item takes its check's status (a *missing* check may be covered by a current
attestation, a *failed* one never); an ``attest`` item takes its attestation's standing; a ``both``
item needs the check verified and a current attestation (the runbook's binds to the file's sha256);
a config mark makes any item not applicable. Required items decide readiness: each must be
verified, attested or not applicable. "If you cannot verify an item, assume it is not done."
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from launchgate.readiness.attestations import Attestation, standing
from launchgate.readiness.catalogue import load_catalogue
from launchgate.readiness.checks import CHECKS, SUMMARY_CHECK
from launchgate.readiness.evidence import Evidence
from launchgate.readiness.models import READY, CheckResult, Counts, Item, ItemResult, ReadinessReport, Status

MARK = {Status.VERIFIED: "✅", Status.ATTESTED: "🖊️", Status.NOT_APPLICABLE: "➖", Status.FAILED: "❌",
        Status.MISSING: "❔", Status.EXPIRED: "⌛"}


def _result(item: Item, status: Status, reason: str, evidence: str | None = None,
            record: Attestation | None = None) -> ItemResult:
    return ItemResult(id=item.id, title=item.title, domain=item.domain, owner=item.owner, required=item.required,
                      verify=item.verify, section=item.section, status=status, reason=reason,
                      evidence=evidence or (record.evidence if record else None), by=record.by if record else None,
                      expires_at=record.expires_at if record else None)


def judge_item(item: Item, ev: Evidence, records: Sequence[Attestation], people: dict[str, list[str]],
               now: datetime, checked: dict[str, CheckResult] | None = None) -> ItemResult:
    """One item's status from its check and its attestations (``checked``: results of checks run already)."""
    marks = {m.item: m for m in ev.config.readiness.not_applicable}
    if item.id in marks:
        mark = marks[item.id]
        if mark.by not in people.get(item.owner, []):
            return _result(item, Status.FAILED, f"marked not applicable by {mark.by}, who is not listed for "
                                                f"{item.owner} in readiness.people")
        return _result(item, Status.NOT_APPLICABLE, f"not applicable, signed by {mark.by} ({item.owner}): "
                                                    f"{mark.reason}", "release.yaml")
    who = people.get(item.owner, [])
    check: CheckResult | None = None
    if item.check in CHECKS:
        checked = {} if checked is None else checked
        check = checked[item.check] = checked.get(item.check) or CHECKS[item.check](ev)
    if item.verify == "check" and check is not None:
        if check.status is not Status.MISSING:
            return _result(item, check.status, check.reason, check.evidence)
        st = standing(records, item, now, people_of_role=who)
        if st.status is Status.ATTESTED:
            return _result(item, Status.ATTESTED, f"{st.reason} (the automated check could not decide: "
                                                  f"{check.reason})", record=st.record)
        if st.status is Status.EXPIRED:
            return _result(item, Status.EXPIRED, f"{check.reason}; {st.reason}", record=st.record)
        return _result(item, Status.MISSING, f"{check.reason}; or a person listed for {item.owner} attests it")
    if item.verify == "both" and check is not None:
        if check.status is not Status.VERIFIED:
            return _result(item, check.status, check.reason, check.evidence)
        subject = ev.runbook_sha256 if item.check == "runbook" else None
        st = standing(records, item, now, people_of_role=who, subject_sha256=subject)
        return _result(item, st.status, f"{check.reason}; {st.reason}", check.evidence, st.record)
    st = standing(records, item, now, people_of_role=who)
    return _result(item, st.status, st.reason, record=st.record)


def evaluate(ev: Evidence, items: Sequence[Item], records: Sequence[Attestation], people: dict[str, list[str]],
             now: datetime) -> ReadinessReport:
    checked: dict[str, CheckResult] = {}  # several items share a check: run each once
    results = [judge_item(i, ev, records, people, now, checked) for i in items if i.check != SUMMARY_CHECK]
    open_required = [r for r in results if r.required and not r.ready]
    for item in (i for i in items if i.check == SUMMARY_CHECK):
        if open_required:
            results.append(_result(item, Status.FAILED, f"{len(open_required)} required items are not verified, "
                                                        f"attested or not applicable"))
        else:
            results.append(_result(item, Status.VERIFIED, "every required item is verified, attested or not "
                                                          "applicable"))
    order = {i.id: n for n, i in enumerate(items)}
    results.sort(key=lambda r: order[r.id])
    counts = Counts(total=len(results), ready=not open_required,
                    **{s.value: sum(r.status is s for r in results) for s in Status})
    blocking = [r.id for r in results if r.required and not r.ready]
    return ReadinessReport(service=ev.config.service, release_id=ev.release_id, checked_at=now,
                           enforce=ev.config.readiness.enforce, items=results, counts=counts, blocking=blocking,
                           summary=summary(results, counts))


def summary(results: Sequence[ItemResult], counts: Counts) -> str:
    required = [r for r in results if r.required]
    if counts.ready:
        return (f"Ready: all {len(required)} required items are verified, attested or not applicable "
                f"({counts.verified} verified, {counts.attested} attested, {counts.not_applicable} n/a of "
                f"{counts.total} items).")
    open_ = [r for r in required if not r.ready]
    names = ", ".join(f"{r.id} ({r.owner}: {r.status.value})" for r in open_[:8])
    more = f" and {len(open_) - 8} more" if len(open_) > 8 else ""
    return (f"Not ready: {len(open_)} of {len(required)} required items lack evidence: {names}{more}. "
            f"Fix or attest them (`launchgate readiness` lists each with its reason).")


def domain_title(domain: str) -> str:
    return load_catalogue().domains.get(domain, domain.replace("_", " ").capitalize())


def text_lines(report: ReadinessReport) -> list[str]:
    """The CLI listing: grouped by domain, one line per item (status, owner, reason, evidence)."""
    lines = [f"Readiness of {report.service}" + (f" (release {report.release_id})" if report.release_id else
                                                 " (no release yet)"), ""]
    for domain in dict.fromkeys(r.domain for r in report.items):
        lines.append(f"{domain_title(domain)}")
        for r in (x for x in report.items if x.domain == domain):
            req = "*" if r.required else " "
            ev = f" [{r.evidence}]" if r.evidence else ""
            lines.append(f"  {req} {r.status.value:<14} {r.id:<28} {r.owner:<11} {r.reason}{ev}")
        lines.append("")
    lines.append("* required for launch. " + report.summary)
    return lines


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(report: ReadinessReport) -> str:
    c = report.counts
    head = "READY" if c.ready else "NOT READY"
    lines = [f"# Readiness: {head}", "", f"Service `{report.service}`, release `{report.release_id or '-'}`, checked "
             f"{report.checked_at:%Y-%m-%d %H:%M:%S}Z (enforce: {report.enforce}).", "", report.summary, "",
             f"{c.total} items: {c.verified} verified, {c.attested} attested, {c.not_applicable} not applicable, "
             f"{c.failed} failed, {c.missing} missing, {c.expired} expired.", ""]
    for domain in dict.fromkeys(r.domain for r in report.items):
        lines += [f"## {domain_title(domain)}", "", "| item | required | status | owner | reason | evidence |",
                  "|---|---|---|---|---|---|"]
        for r in (x for x in report.items if x.domain == domain):
            lines.append(f"| {_cell(r.title)} (`{r.id}`) | {'yes' if r.required else 'no'} | {MARK[r.status]} "
                         f"{r.status.value.replace('_', ' ')} | {r.owner} | {_cell(r.reason)} | "
                         f"{_cell(r.evidence or '-')} |")
        lines.append("")
    return "\n".join(lines)


def table_rows(report: ReadinessReport) -> list[dict[str, str]]:
    """The Prefect table artifact: required items first, then the rest, one row each."""
    rows = sorted(report.items, key=lambda r: (not r.required, r.status in READY))
    return [{"item": r.id, "required": "yes" if r.required else "no", "status": r.status.value, "owner": r.owner,
             "reason": r.reason[:300], "evidence": r.evidence or ""} for r in rows]
