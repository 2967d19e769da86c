"""Resuming a release id after its process died: what the earlier attempt left, and what may run.

A release process can die anywhere (OOM, a drained node, SIGKILL mid-canary). Its bundle is
write-once and its canary may already have promoted, so ``launchgate release --resume ID`` first
reads what is stored and takes exactly one of three paths:

* ``finished``: ``decision.json`` exists. The stored decision stands (same exit code); only the
  final records the crash left unwritten (decision.md, review, notifications, index) are added.
* ``promoted``: ``state/promotions/<id>.json`` (or last_known_good.json) names this release: the
  canary promoted it and the process died before the decision. Traffic is not touched again; the
  decision is written as promoted.
* ``rerun``: anything else. The steps run again as attempt n (the first attempt is 1 and wrote
  at the top of the bundle); attempt n writes its step evidence under ``attempts/<n>/`` and
  claims that number with a write-once ``attempts/<n>/resume.json``, so two resumes of the same
  id cannot both run. Its canary takes the gateway's lease only once the dead attempt's lease
  has lapsed (tasks/canary.py).

A resume must describe the same candidate: the model, endpoint, prompt and output schema hash
(``candidate_sha256``) and the golden set must match the stored manifest, or it is refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from launchgate.errors import ReleaseStateError, StoreError
from launchgate.release.promotion import find_promotion
from launchgate.release.records import EXIT_CODES, Decision
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import ReleaseBundle
from launchgate.store.jsonio import find_object
from launchgate.verdicts import Phase, Verdict

ResumePath = Literal["finished", "promoted", "rerun"]
# Inputs a resume must share with the first attempt: what is released, and what it is judged on.
PINNED_HASHES = ("prompt_candidate", "output_schema", "golden_set")
_ATTEMPT = re.compile(r"^attempts/(\d+)/")


class ResumeState(BaseModel):
    release_id: str
    path: ResumePath
    attempt: int = Field(description="the attempt this run is (rerun) or whose evidence it finalizes")
    reason: str = Field(description="one sentence: what was found and what this run does")
    found: list[str] = Field(default_factory=list, description="artifact names already in the bundle")
    decision: dict[str, Any] | None = None
    promotion: dict[str, Any] | None = None
    changed_inputs: list[str] = Field(default_factory=list, description="inputs that differ from attempt 1's")
    checked_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def latest_attempt(names: list[str]) -> int:
    """The highest attempt number among bundle-relative names (1 when none is under attempts/)."""
    found = [int(m.group(1)) for name in names if (m := _ATTEMPT.match(name))]
    return max(found, default=1)


def check_same_candidate(stored: dict[str, Any], candidate_sha256: str, hashes: dict[str, str]) -> list[str]:
    """Refuse a resume of another candidate; return the other inputs that changed (allowed, recorded)."""
    rid = stored.get("release_id", "?")
    if stored.get("candidate_sha256") != candidate_sha256:
        raise ReleaseStateError(
            f"--resume {rid}: the config describes another candidate than the one this release was started "
            f"with (candidate sha256 {str(stored.get('candidate_sha256'))[:12]} stored, {candidate_sha256[:12]} "
            f"now: model, endpoint, prompt or output schema differ). Restore the release's inputs, or start a "
            f"new release without --resume.")
    old = stored.get("hashes") or {}
    for name in PINNED_HASHES:
        if old.get(name) != hashes.get(name):
            raise ReleaseStateError(
                f"--resume {rid}: {name.replace('_', ' ')} changed since the release started (sha256 "
                f"{str(old.get(name))[:12]} stored, {str(hashes.get(name))[:12]} now). Restore the file, or "
                f"start a new release without --resume.")
    return sorted(k for k in set(old) | set(hashes) if old.get(k) != hashes.get(k))


def plan_resume(store: ArtifactStore, service: str, release_id: str, *, candidate_sha256: str,
                hashes: dict[str, str]) -> tuple[ResumeState, dict[str, Any]]:
    """Read the bundle of ``release_id``; return the resume plan and the stored manifest."""
    if not release_id.startswith(f"{service}-"):
        raise ReleaseStateError(f"--resume {release_id!r}: not a release id of service {service!r} (ids look "
                                f"like {service}-20261122T053300Z-1a2b3c4d); check the id and --config.")
    try:
        bundle = ReleaseBundle(store, service, release_id)
    except StoreError as exc:
        raise ReleaseStateError(f"--resume {release_id!r}: not a valid release id ({exc})") from exc
    manifest = find_object(store, bundle.key("manifest.json"))
    if manifest is None:
        raise ReleaseStateError(
            f"--resume {release_id}: no release with that id in {store.location(bundle.base.rstrip('/'))} "
            f"(manifest.json is missing): check the id and --artifacts (the store its first attempt wrote to).")
    changed = check_same_candidate(manifest, candidate_sha256, hashes)
    found = sorted(key.removeprefix(bundle.base) for key in store.list(bundle.base))
    decision = find_object(store, bundle.key("decision.json"))
    if decision is not None:
        return ResumeState(
            release_id=release_id, path="finished", attempt=int(decision.get("attempt") or 1), found=found,
            decision=decision, changed_inputs=changed,
            reason=(f"{release_id} was already decided ({decision.get('decision')}, exit "
                    f"{decision.get('exit_code')}); nothing runs again and no stored evidence changes."),
        ), manifest
    promotion = find_promotion(store, service, release_id)
    if promotion is not None:
        return ResumeState(
            release_id=release_id, path="promoted", attempt=int(promotion.get("attempt") or 1), found=found,
            promotion=promotion, changed_inputs=changed,
            reason=(f"{release_id} was promoted at {promotion.get('promoted_at')} before its process stopped; "
                    f"traffic is left as it is and only the decision is written."),
        ), manifest
    attempt = latest_attempt(found) + 1
    return ResumeState(
        release_id=release_id, path="rerun", attempt=attempt, found=found, changed_inputs=changed,
        reason=(f"{release_id} stopped before a decision ({len(found)} artifact(s) stored); attempt {attempt} "
                f"runs every step again and writes under attempts/{attempt}/, leaving earlier evidence as it is."),
    ), manifest


def promoted_decision(state: ResumeState, service: str, evidence: str,
                      canary_verdicts: list[Verdict]) -> Decision:
    """The decision of a release whose canary promoted it before its process died."""
    promo = state.promotion or {}
    where = f"state/promotions/{state.release_id}.json"
    recorded = Verdict(
        check="canary", phase=Phase.SUCCESSFUL, evidence=where,
        reason=(f"attempt {state.attempt} promoted the candidate at {promo.get('promoted_at')} and stopped before "
                f"recording its decision; the resume found the promotion record and left traffic as it was."))
    verdicts = [*canary_verdicts, recorded] if all(not v.blocks for v in canary_verdicts) else [recorded]
    return Decision(
        release_id=state.release_id, service=service, decision="promoted", exit_code=EXIT_CODES["promoted"],
        summary=(f"{state.release_id} was promoted before its process stopped and serves all traffic; this resume "
                 f"only recorded the decision, so there is nothing to do."),
        reasons=[v.reason for v in verdicts], verdicts=verdicts, evidence=evidence, attempt=state.attempt,
    )


def holder_for(release_id: str, attempt: int, kind: str = "canary") -> str:
    """The lease holder name of one attempt's drill or canary: attempts never share a lease, so a live
    attempt's lease is never taken over by a resume."""
    return f"{kind}-{release_id}" if attempt <= 1 else f"{kind}-{release_id}-attempt-{attempt}"


def wait_for_lapsed_lease(read_lease: Callable[[], dict[str, Any] | None], release_id: str, holder: str, *,
                          sleep: Callable[[float], None] = time.sleep,
                          clock: Callable[[], float] = time.monotonic, poll_s: float = 0.5) -> str | None:
    """Before a resumed attempt touches traffic: wait until no other attempt of this release holds the lease.

    A dead attempt's lease lapses within its ttl (the gateway then sets the candidate to 0 itself);
    one still held after twice its ttl is being renewed, so that attempt is alive and this one must
    not shift anything. Returns what happened in a sentence (None when nothing was held).
    """
    started = clock()
    seen: str | None = None
    while True:
        lease = read_lease()
        other = str((lease or {}).get("holder") or "")
        if not _same_release(other, release_id) or other == holder:
            return None if seen is None else f"waited {clock() - started:.1f}s for the lease of {seen} to lapse"
        seen = other
        ttl = float((lease or {}).get("ttl_s") or 30.0)
        if clock() - started > 2 * ttl + 2 * poll_s:
            raise ReleaseStateError(
                f"--resume {release_id}: the earlier attempt {other!r} still renews the gateway's lease, so it "
                f"is alive: nothing was shifted by this attempt. Let that run finish (or stop it), then resume.")
        sleep(poll_s)


def wait_out_other_attempts(router: Any, release_id: str, holder: str) -> str | None:
    """``wait_for_lapsed_lease`` on a router that reports its lease (the gateway); others have none."""
    read = getattr(router, "state", None)
    if read is None:
        return None
    return wait_for_lapsed_lease(lambda: read().get("lease"), release_id, holder)


def _same_release(holder: str, release_id: str) -> bool:
    kind, _, rest = holder.partition("-")
    return kind in ("canary", "drill") and (rest == release_id or rest.startswith(f"{release_id}-attempt-"))


def unfinished_releases(store: ArtifactStore, service: str, *, limit: int = 10) -> list[dict[str, Any]]:
    """Releases of ``service`` with a manifest but no decision, newest first: what ``--resume`` is for.

    A release still running also shows here; the gateway's lease (``launchgate status``) tells the two apart.
    """
    prefix = layout.releases_prefix(service)
    per_release: dict[str, list[str]] = {}
    for key in store.list(prefix):
        rid, _, name = key.removeprefix(prefix).partition("/")
        per_release.setdefault(rid, []).append(name)
    out = []
    for rid in sorted(per_release, reverse=True):  # ids embed the UTC start time
        names = per_release[rid]
        if "manifest.json" in names and "decision.json" not in names:
            out.append({"release_id": rid, "attempts": latest_attempt(names), "artifacts": len(names)})
        if len(out) >= limit:
            break
    return out
