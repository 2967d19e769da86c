"""The release review: the seed's template, filled in from the bundle (pure over the store).

    - Release ID / Prompt version / Dataset hash / Eval score / Canary results / Rollback tested

plus the approvals and the decision. Every line names the artifact it was read from, so the
review is a summary of evidence, never a second source of truth. Written as review.md and
review.json before index.json, so the index carries the review's sha256 too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from launchgate.errors import StoreError
from launchgate.lifecycle.changes import DIFF_EVIDENCE, config_change_line
from launchgate.release.records import Decision
from launchgate.store.bundle import ReleaseBundle
from launchgate.store.jsonio import find_object
from launchgate.verdicts import Verdict


class ReviewLine(BaseModel):
    label: str
    value: str
    evidence: str | None = None


class Review(BaseModel):
    release_id: str
    service: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    decision: str
    exit_code: int
    summary: str
    prompt_version: str | None
    prompt_sha256: str | None
    dataset_sha256: str | None
    config_sha256: str | None
    model: str | None
    eval_score: dict[str, Any] | None = Field(description="candidate, baseline, delta as measured")
    canary: list[Verdict] = Field(default_factory=list)
    rollback_tested: str
    approvals_outcome: str | None
    approvals: list[dict[str, Any]] = Field(default_factory=list)
    lines: list[ReviewLine] = Field(description="the template, in the seed's order, as rendered in review.md")
    unreadable: list[str] = Field(default_factory=list, description="artifacts that exist but could not be read")


def _load(bundle: ReleaseBundle, name: str, unreadable: list[str]) -> dict[str, Any] | None:
    try:
        return find_object(bundle.store, bundle.key(name))
    except StoreError:  # listed in the review as unreadable, never a crash of finalize
        unreadable.append(name)
        return None


def _find(verdicts: list[Verdict], check: str) -> Verdict | None:
    return next((v for v in verdicts if v.check == check), None)


def _eval_line(verdicts: list[Verdict], report: dict[str, Any] | None) -> tuple[str, dict[str, Any] | None]:
    v = _find(verdicts, "eval_score")
    if v is not None and isinstance(v.value, dict):
        val = v.value
        text = (f"{val.get('candidate', 0):.3f} vs baseline {val.get('baseline', 0):.3f} "
                f"(delta {val.get('delta', 0):+.3f}, min_delta {v.threshold}): {v.phase.value}")
        return text, val
    cand = ((report or {}).get("variants") or {}).get("candidate") or {}
    if "score" in cand:
        return f"{cand['score']:.3f} (no eval_score verdict: the gate did not judge it)", {"candidate": cand["score"]}
    return "not measured: the eval gate did not run or did not finish", None


def _canary_line(verdicts: list[Verdict], canary_enabled: bool, summary: dict[str, Any] | None) -> tuple[
    str, list[Verdict]
]:
    found = [v for v in verdicts if v.check.startswith("canary")]
    if found:
        failed = [v for v in found if v.blocks]
        head = failed[0] if failed else found[-1]
        return f"{head.phase.value}: {head.reason}", found
    if summary:
        return f"see canary/canary_summary.json ({summary.get('phase', 'no phase recorded')})", found
    if not canary_enabled:
        return "not run: canary.enabled is false, no traffic was shifted", found
    return "not run: the release stopped before the canary", found


def _rollback_line(verdicts: list[Verdict], gonogo: dict[str, Any] | None) -> str:
    v = _find(verdicts, "rollback_tested")
    if v is not None:
        return f"{v.phase.value}: {v.reason}"
    item = next((i for i in (gonogo or {}).get("items", []) if i.get("item") == "rollback_tested"), None)
    if item is not None and item.get("phase") == "not_applicable":
        return str(item["reason"])  # already says "Not applicable: ..."
    if item is not None:
        return f"{str(item['phase']).replace('_', ' ')}: {item['reason']}"
    return "not tested: no rollback drill ran and no go/no-go record exists"


def _approvals_line(ledger: dict[str, Any] | None) -> tuple[str, str | None, list[dict[str, Any]]]:
    if ledger is None:
        return "none recorded: the release did not reach the approval step", None, []
    entries = ledger.get("entries", [])
    signed = [f"{e['approver']} ({e['role']}, {str(e['at'])[:19]}Z)" for e in entries
              if e.get("status") == "accepted" and e.get("decision") == "approve"]
    rejected = [f"{e['approver']} ({e['role']}): {e.get('comment') or 'no comment'}" for e in entries
                if e.get("status") == "accepted" and e.get("decision") == "reject"]
    refused = sum(1 for e in entries if e.get("status") == "refused")
    outcome = str(ledger.get("outcome"))
    text = outcome.replace("_", " ")
    if signed:
        text += "; signed by " + ", ".join(signed)
    if rejected:
        text += "; rejected by " + ", ".join(rejected)
    if refused:
        text += f"; {refused} submission(s) refused (unlisted approver or wrong role)"
    if ledger.get("auto"):
        text += " (auto-approved: demo/test config)"
    return text, outcome, entries


def _readiness_line(report: dict[str, Any] | None) -> str:
    """The readiness review's counts and what still blocks, from readiness/readiness.json."""
    if not report:
        return "not judged (no readiness step in this run)"
    c = report.get("counts") or {}
    counts = (f"{c.get('verified', 0)} verified, {c.get('attested', 0)} attested, {c.get('not_applicable', 0)} "
              f"n/a, {c.get('failed', 0)} failed, {c.get('missing', 0)} missing, {c.get('expired', 0)} expired of "
              f"{c.get('total', 0)} items")
    blocking = report.get("blocking") or []
    if not blocking:
        return f"ready: every required item verified, attested or not applicable ({counts})"
    return f"not ready ({report.get('enforce', 'block')}): {len(blocking)} required items lack evidence " \
           f"({', '.join(blocking[:8])}{' ...' if len(blocking) > 8 else ''}); {counts}"


def build_review(bundle: ReleaseBundle, decision: Decision) -> Review:
    unreadable: list[str] = []
    manifest = _load(bundle, "manifest.json", unreadable) or {}
    report = _load(bundle, "eval/eval_report.json", unreadable)
    gonogo = _load(bundle, "gonogo.json", unreadable)
    ledger = _load(bundle, "approvals/approvals.json", unreadable)
    canary_summary = _load(bundle, "canary/canary_summary.json", unreadable)
    readiness = _load(bundle, "readiness/readiness.json", unreadable)
    changes_text, changes_found = config_change_line(bundle.store, bundle.key(DIFF_EVIDENCE))

    cand = manifest.get("candidate") or {}
    hashes = manifest.get("hashes") or {}
    canary_enabled = bool(((manifest.get("config") or {}).get("canary") or {}).get("enabled"))
    eval_text, eval_value = _eval_line(decision.verdicts, report)
    canary_text, canary = _canary_line(decision.verdicts, canary_enabled, canary_summary)
    rollback_text = _rollback_line(decision.verdicts, gonogo)
    approvals_text, outcome, entries = _approvals_line(ledger)
    prompt = cand.get("prompt_version")
    prompt_sha = cand.get("prompt_sha256")
    lines = [
        ReviewLine(label="Release ID", value=decision.release_id, evidence="manifest.json"),
        ReviewLine(label="Prompt version", value=f"{prompt} (sha256 {prompt_sha})" if prompt else "unknown",
                   evidence="manifest.json"),
        ReviewLine(label="Dataset hash", value=f"sha256 {hashes['golden_set']}" if "golden_set" in hashes
                   else "unknown", evidence="manifest.json"),
        ReviewLine(label="Eval score", value=eval_text,
                   evidence=bundle.path("eval/eval_report.json") if report else None),
        ReviewLine(label="Canary results", value=canary_text,
                   evidence=bundle.path("canary/canary_summary.json") if canary_summary or canary else None),
        ReviewLine(label="Rollback tested", value=rollback_text,
                   evidence=bundle.path("gonogo.json") if gonogo else None),
        ReviewLine(label="Approvals", value=approvals_text,
                   evidence=bundle.path("approvals/approvals.json") if ledger else None),
        ReviewLine(label="Readiness", value=_readiness_line(readiness),
                   evidence=bundle.path("readiness/readiness.md") if readiness else None),
        ReviewLine(label="Config changes", value=changes_text, evidence=DIFF_EVIDENCE if changes_found else None),
        ReviewLine(label="Decision", value=f"{decision.decision} (exit {decision.exit_code}): {decision.summary}",
                   evidence="decision.json"),
    ]
    return Review(
        release_id=decision.release_id, service=decision.service, decision=decision.decision,
        exit_code=decision.exit_code, summary=decision.summary, prompt_version=prompt, prompt_sha256=prompt_sha,
        dataset_sha256=hashes.get("golden_set"), config_sha256=hashes.get("config"), model=cand.get("model"),
        eval_score=eval_value, canary=canary, rollback_tested=rollback_text, approvals_outcome=outcome,
        approvals=entries, lines=lines, unreadable=unreadable,
    )


def review_markdown(review: Review) -> str:
    out = [f"# Release review: {review.release_id}", ""]
    out += [f"- {line.label}: {line.value}" + (f" ([{line.evidence}]({line.evidence}))" if line.evidence else "")
            for line in review.lines]
    out += ["", f"Model deployment `{review.model}`, config sha256 `{review.config_sha256}`.", "",
            "`index.json` in this folder lists every artifact of the release, this review included, with its "
            "sha256."]
    if review.unreadable:
        out += ["", f"Could not read: {', '.join(review.unreadable)}."]
    return "\n".join(out) + "\n"


def write_review(bundle: ReleaseBundle, decision: Decision, *, skip_existing: bool = False) -> Review:
    """review.json + review.md into the bundle (write-once, like every bundle artifact).

    ``skip_existing`` (a resumed release completing its records) leaves a stored file as it is.
    """
    review = build_review(bundle, decision)
    if not (skip_existing and bundle.exists("review.json")):
        bundle.put_json("review.json", review)
    if not (skip_existing and bundle.exists("review.md")):
        bundle.put_text("review.md", review_markdown(review), "text/markdown")
    return review
