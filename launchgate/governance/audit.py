"""`launchgate audit --request-id`: from one request back to the decision that let it be served.

Pure over an ArtifactStore. The seed's audit requirement: "audit logs can reproduce a decision
for a given request ID". So: find the request's line in the gateway log, find the release that
served it, and show that release's verdicts, go/no-go record, approvals and hashes, then check
the chain holds: the request's prompt hash matches the release manifest, and every artifact of
the bundle still matches the sha256 in its index.json.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from launchgate.errors import InputError, StoreError
from launchgate.requestlog import queries as log_queries
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import attempt_prefix
from launchgate.store.jsonio import find_object

CANDIDATE_VARIANTS = ("candidate", "canary")


class Check(BaseModel):
    name: str
    ok: bool
    detail: str


class AuditReport(BaseModel):
    request_id: str
    service: str
    log_key: str
    log_line: int
    request: dict[str, Any]
    release_id: str | None = Field(description="the release whose decision let this variant serve")
    resolved_by: str = Field(description="how release_id was determined")
    role: Literal["candidate", "stable", "unknown"] = "unknown"
    bundle: str | None = None
    manifest: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    gonogo: dict[str, Any] | None = None
    approvals: dict[str, Any] | None = None
    checks: list[Check] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        """True when the decision record exists and every consistency check holds."""
        return self.gonogo is not None and bool(self.checks) and all(c.ok for c in self.checks)


def _get_json(store: ArtifactStore, key: str) -> dict[str, Any] | None:
    """A record the audit can read, else None: an unreadable record is itself what the audit reports."""
    try:
        return find_object(store, key)
    except StoreError:
        return None


def find_request(store: ArtifactStore, service: str, request_id: str, *, day: str | None = None
                 ) -> tuple[str, int, dict[str, Any]] | None:
    """(log key, 1-based line number, record) of the request, newest days first.

    A DuckDB query over the log (launchgate/requestlog/queries.py): the compacted Parquet hours by
    their request_id Bloom filters, the open hour's JSONL parsed; the key and line are the JSONL
    line's even when the answer came from Parquet.
    """
    return log_queries.find_request(store, service, request_id, day=day)


def latest_request_id(store: ArtifactStore, service: str, *, variant: str | None = None) -> str | None:
    """The newest logged request id (of ``variant``, if given): what the demo audits."""
    for key in reversed(store.list(layout.requests_prefix(service))):
        if not key.endswith(".jsonl"):
            continue
        for raw in reversed(store.get(key).splitlines()):
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("request_id") and (
                    variant is None or record.get("variant") == variant):
                return str(record["request_id"])
    return None


def _manifest(store: ArtifactStore, service: str, release_id: str | None) -> dict[str, Any] | None:
    if not release_id:
        return None
    return _get_json(store, layout.release_key(service, release_id, "manifest.json"))


def _prompt_of(manifest: dict[str, Any] | None, side: str) -> str | None:
    return ((manifest or {}).get(side) or {}).get("prompt_sha256")


def resolve_release(store: ArtifactStore, service: str, record: dict[str, Any]) -> tuple[
    str | None, str, Literal["candidate", "stable", "unknown"], list[str]
]:
    """Which release's decision let this variant serve the request, and how we know."""
    variant = str(record.get("variant") or "")
    rid = record.get("release_id")
    prompt = record.get("prompt_sha256")
    notes: list[str] = []
    if variant in CANDIDATE_VARIANTS:
        if rid:
            return rid, "release_id in the request log line (candidate variant)", "candidate", notes
        return None, "the log line carries no release_id", "unknown", notes
    # Stable traffic: its release promoted what is now stable, so that release's *candidate*
    # prompt hash must equal the request's. Try the ids we can know, in order of directness.
    lkg = _get_json(store, layout.last_known_good(service)) or {}
    options = [
        (record.get("stable_release_id"), "stable_release_id in the request log line"),
        (rid, "release_id in the request log line"),
        (lkg.get("release_id"), layout.last_known_good(service)),
    ]
    for cand, how in options:
        manifest = _manifest(store, service, cand)
        if manifest is not None and _prompt_of(manifest, "candidate") == prompt:
            return cand, how + " (its candidate prompt hash matches)", "stable", notes
    baseline_of = _manifest(store, service, rid)
    if baseline_of is not None and _prompt_of(baseline_of, "stable") == prompt:
        notes.append(f"The stable variant served this request as the baseline of release {rid}; the stable "
                     f"version itself was not released through launchgate (no bundle promotes its prompt "
                     f"hash). Showing {rid}, whose decision governed the traffic split.")
        return rid, "release_id in the request log line (stable baseline of that release)", "stable", notes
    return None, "no release bundle matches the request's prompt hash", "unknown", notes


def _verify_index(store: ArtifactStore, base: str) -> Check:
    index = _get_json(store, base + "index.json")
    if index is None:
        return Check(name="evidence_index", ok=False,
                     detail=f"no readable {base}index.json: the release was not finalized (still running?)")
    bad: list[str] = []
    artifacts = index.get("artifacts", [])
    for art in artifacts:
        key = art.get("key") or base + str(art.get("name"))
        try:
            digest = hashlib.sha256(store.get(key)).hexdigest()
        except StoreError:
            bad.append(f"{art.get('name')} (missing)")
            continue
        if digest != art.get("sha256"):
            bad.append(f"{art.get('name')} (sha256 differs)")
    if bad:
        return Check(name="evidence_index", ok=False,
                     detail=f"{len(bad)} of {len(artifacts)} artifacts do not match index.json: {', '.join(bad[:5])}")
    return Check(name="evidence_index", ok=True,
                 detail=f"all {len(artifacts)} artifacts match the sha256 in index.json")


def _consistency(record: dict[str, Any], manifest: dict[str, Any], role: str) -> list[Check]:
    # A stable request resolved to the release that promoted it compares against that release's
    # candidate; a baseline-only match compares against its stable side.
    side = "candidate" if role == "candidate" or _prompt_of(manifest, "candidate") == record.get(
        "prompt_sha256") else "stable"
    want = manifest.get(side) or {}
    checks = [Check(
        name="prompt_sha256", ok=record.get("prompt_sha256") == want.get("prompt_sha256"),
        detail=f"request prompt sha256 {str(record.get('prompt_sha256'))[:16]}… vs manifest {side} "
               f"{str(want.get('prompt_sha256'))[:16]}…")]
    if record.get("prompt_version") is not None:
        checks.append(Check(name="prompt_version", ok=record.get("prompt_version") == want.get("prompt_version"),
                            detail=f"request prompt {record.get('prompt_version')} vs manifest {side} "
                                   f"{want.get('prompt_version')}"))
    return checks


def audit_request(store: ArtifactStore, service: str, request_id: str, *, day: str | None = None) -> AuditReport:
    """Raises InputError when the request id is not in the log."""
    found = find_request(store, service, request_id, day=day)
    if found is None:
        where = store.location(layout.requests_prefix(service, day).rstrip("/"))
        raise InputError(f"request id {request_id!r} not found in the request log under {where}: "
                         f"check the id, the service and the artifact store (and --date, if given).")
    key, line, record = found
    rid, how, role, notes = resolve_release(store, service, record)
    report = AuditReport(request_id=request_id, service=service, log_key=key, log_line=line, request=record,
                         release_id=rid, resolved_by=how, role=role, notes=notes)
    if rid is None:
        report.notes.append("No launchgate release could be tied to this request, so no decision can be shown.")
        return report
    base = layout.release_prefix(service, rid)
    report.bundle = store.location(base.rstrip("/"))
    report.manifest = _get_json(store, base + "manifest.json")
    report.decision = _get_json(store, base + "decision.json")
    # A resumed release decided in attempt n keeps that attempt's step evidence under attempts/<n>/.
    steps = base + attempt_prefix(int((report.decision or {}).get("attempt") or 1))
    report.gonogo = _get_json(store, steps + "gonogo.json")
    report.approvals = _get_json(store, steps + "approvals/approvals.json")
    if report.manifest is None:
        report.notes.append(f"Release bundle {base} has no readable manifest.json.")
        report.checks.append(Check(name="bundle", ok=False, detail=f"no manifest.json under {base}"))
        return report
    report.checks += _consistency(record, report.manifest, role)
    report.checks.append(_verify_index(store, base))
    if report.gonogo is None:
        report.notes.append("No gonogo.json: this release predates the go/no-go step or stopped before it.")
    if report.decision is None:
        report.notes.append("No decision.json yet: the release is still running (e.g. in its canary).")
    return report


# ----------------------------------------------------------------------------- rendering

_MARK = {"successful": "✅", "failed": "❌", "error": "⚠️", "inconclusive": "❔", "not_applicable": "➖"}


def render(report: AuditReport) -> str:
    r = report.request
    out = [f"Request {report.request_id} ({report.service}) at {r.get('ts')}",
           f"  variant {r.get('variant')}, model {r.get('model')}, prompt {r.get('prompt_version')} "
           f"(sha256 {str(r.get('prompt_sha256'))[:16]}…), status {r.get('status')}",
           f"  log: {report.log_key} line {report.log_line}",
           f"Served under release {report.release_id or 'unknown'} ({report.resolved_by})"]
    if report.bundle:
        out.append(f"  evidence: {report.bundle}")
    m = report.manifest or {}
    if m:
        h = m.get("hashes", {})
        out += ["Hashes (manifest.json):",
                f"  config {h.get('config')}", f"  golden set {h.get('golden_set')}",
                f"  candidate prompt {(m.get('candidate') or {}).get('prompt_version')} "
                f"{(m.get('candidate') or {}).get('prompt_sha256')}",
                f"  output schema {h.get('output_schema')}"]
    g = report.gonogo
    if g:
        out.append(f"Go/no-go ({str(g.get('decided_at'))[:19]}Z): {str(g.get('decision')).upper()}: {g.get('summary')}")
        for item in g.get("items", []):
            out.append(f"  {_MARK.get(item.get('phase'), '?')} {item.get('title')}: {item.get('reason')} "
                       f"[{item.get('evidence') or '-'}]")
    a = report.approvals
    if a:
        out.append(f"Approvals: {a.get('outcome')}" + (" (auto-approved)" if a.get("auto") else ""))
        for e in a.get("entries", []):
            out.append(f"  {str(e.get('at'))[:19]}Z {e.get('approver')} ({e.get('role')}) {e.get('decision')} "
                       f"-> {e.get('status')}" + (f": {e.get('note')}" if e.get("note") else "")
                       + (f" — \"{e.get('comment')}\"" if e.get("comment") else ""))
    d = report.decision
    if d:
        out.append(f"Final decision: {d.get('decision')} (exit {d.get('exit_code')}) at "
                   f"{str(d.get('decided_at'))[:19]}Z: {d.get('summary')}")
        for v in d.get("verdicts", []):
            out.append(f"  {_MARK.get(v.get('phase'), '?')} {v.get('check')}: {v.get('reason')}")
    if report.checks:
        out.append("Checks:")
        out += [f"  {'✅' if c.ok else '❌'} {c.name}: {c.detail}" for c in report.checks]
    out += [f"Note: {n}" for n in report.notes]
    verdict = "reproduced" if report.reproduced else "NOT fully reproduced"
    out.append(f"Audit: decision {verdict} from the evidence.")
    return "\n".join(out) + "\n"
