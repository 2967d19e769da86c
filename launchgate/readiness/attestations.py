"""Attestations: a person of the item's owner role vouches for it, with evidence, for a limited time.

Records are append-only JSON lines in ``<service>/state/attestations.jsonl`` (``store.update``, so
two people signing at once both land). A refusal (someone not listed for the role) is recorded
too. An attached file is copied into the store under its sha256. The clock is a parameter
(``now``) everywhere, so expiry is testable.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from launchgate.config import ReleaseConfig
from launchgate.errors import InputError, MalformedObjectError, NotAuthorised
from launchgate.readiness.models import Item, Status
from launchgate.store import layout
from launchgate.store.base import ArtifactStore, sha256_bytes
from launchgate.store.bundle import JSONL_TYPE

_DURATION = re.compile(r"^\s*(\d{1,4})\s*([hdw])\s*$")
_UNIT = {"h": "hours", "d": "days", "w": "weeks"}


class AttestationRefused(NotAuthorised):
    """The signer is not listed for the item's owner role (the attempt was recorded)."""


class Attestation(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:16])
    item: str
    action: Literal["sign", "revoke", "refused"]
    by: str
    role: str
    at: datetime
    expires_at: datetime | None = None
    evidence: str | None = Field(default=None, description="a URL, or the store key of the attached file")
    evidence_sha256: str | None = None
    note: str = ""
    subject_sha256: str | None = Field(default=None, description="what was approved (the runbook's sha256): "
                                                                 "a change to it voids the attestation")


def parse_expiry(text: str) -> timedelta:
    """``90d``, ``12w``, ``48h`` -> timedelta; anything else is bad input naming the flag."""
    m = _DURATION.match(text or "")
    if not m or int(m.group(1)) == 0:
        raise InputError(f"--expires {text!r}: expected a duration like 90d, 12w or 48h")
    return timedelta(**{_UNIT[m.group(2)]: int(m.group(1))})


def people(cfg: ReleaseConfig) -> dict[str, list[str]]:
    """Who may sign per owner role: readiness.people, else the release approvers of that role."""
    out = {role: list(names) for role, names in cfg.approvals.approvers.items()}
    out.update({role: list(names) for role, names in cfg.readiness.people.items()})
    return out


def read_attestations(store: ArtifactStore, service: str) -> list[Attestation]:
    key = layout.attestations(service)
    if not store.exists(key):
        return []
    out = []
    for n, line in enumerate(store.get(key).decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Attestation.model_validate_json(line))
        except ValidationError as exc:
            raise MalformedObjectError(f"{key} line {n} is not an attestation record ({exc.error_count()} "
                                       f"problems): restore the file from the bucket's versions") from exc
    return out


def attach_file(store: ArtifactStore, service: str, path: Path) -> tuple[str, str]:
    """Copy ``path`` into the store under its sha256; returns (store key, sha256)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"--evidence {path}: cannot read the file ({exc.strerror or exc})") from None
    digest = sha256_bytes(data)
    key = layout.attestation_file(service, digest, path.name)
    if not store.exists(key):  # same content, same key: a second attestation reuses the stored copy
        store.put(key, data, overwrite=True)
    return key, digest


def refusal(cfg: ReleaseConfig, item: Item, by: str, action: str) -> str:
    allowed = people(cfg).get(item.owner, [])
    who = ", ".join(allowed) if allowed else f"nobody yet (add names under readiness.people.{item.owner})"
    return (f"{by!r} may not {action} {item.id}: it is owned by {item.owner}, and only {who} may. The attempt was "
            f"recorded in {layout.attestations(cfg.service)}.")


def attest_many(store: ArtifactStore, cfg: ReleaseConfig, items: Sequence[Item], by: str, *, now: datetime,
                evidence: str | None = None, evidence_sha256: str | None = None, note: str = "",
                expires: timedelta | None = None, revoke: bool = False,
                subjects: dict[str, str | None] | None = None) -> tuple[list[Attestation], list[Attestation]]:
    """Sign (or revoke) ``items`` as ``by`` in one append; returns (recorded, refused).

    Items whose owner role does not list ``by`` are refused, and the refusal is recorded too.
    ``subjects``: per item, the sha256 of what is approved (the runbook), which a change voids.
    """
    action: Literal["sign", "revoke"] = "revoke" if revoke else "sign"
    days = expires if expires is not None else timedelta(days=cfg.readiness.attestation_days)
    who = people(cfg)
    done: list[Attestation] = []
    refused: list[Attestation] = []
    for item in items:
        if by not in who.get(item.owner, []):
            refused.append(Attestation(item=item.id, action="refused", by=by, role=item.owner, at=now,
                                       note=f"{action}: {note}".strip(": ")))
            continue
        done.append(Attestation(item=item.id, action=action, by=by, role=item.owner, at=now,
                                expires_at=None if revoke else now + days, evidence=evidence,
                                evidence_sha256=evidence_sha256, note=note,
                                subject_sha256=(subjects or {}).get(item.id)))
    records = done + refused
    if records:
        lines = b"".join((r.model_dump_json() + "\n").encode("utf-8") for r in records)
        store.update(layout.attestations(cfg.service), lambda existing: (existing or b"") + lines, JSONL_TYPE)
    return done, refused


def attest(store: ArtifactStore, cfg: ReleaseConfig, item: Item, by: str, *, now: datetime,
           subject_sha256: str | None = None, **kw: Any) -> Attestation:
    """One item: its record, or AttestationRefused (recorded) when ``by`` is not listed for its owner role."""
    done, refused = attest_many(store, cfg, [item], by, now=now, subjects={item.id: subject_sha256}, **kw)
    if refused:
        raise AttestationRefused(refusal(cfg, item, by, "revoke" if kw.get("revoke") else "sign"))
    return done[0]


class Standing(BaseModel):
    """Where an item's attestations stand at ``now``."""

    status: Literal[Status.ATTESTED, Status.EXPIRED, Status.MISSING]
    reason: str
    record: Attestation | None = None


def standing(records: Sequence[Attestation], item: Item, now: datetime, *, people_of_role: Sequence[str],
             subject_sha256: str | None = None) -> Standing:
    """The newest signature after the newest revocation; expired, stale or unlisted ones do not count.

    A signer since removed from readiness.people no longer vouches: the list is the authority now.
    """
    mine = [r for r in records if r.item == item.id and r.action != "refused"]
    revoked_at = max((r.at for r in mine if r.action == "revoke"), default=None)
    signs = sorted((r for r in mine if r.action == "sign" and (revoked_at is None or r.at > revoked_at)),
                   key=lambda r: r.at, reverse=True)
    signs = [r for r in signs if r.by in people_of_role]
    if not signs:
        why = "revoked" if revoked_at is not None else "no attestation"
        return Standing(status=Status.MISSING, reason=f"{why}: a person listed for {item.owner} signs with "
                                                      f"`launchgate attest {item.id} --as NAME --evidence ...`")
    if subject_sha256 is not None:
        stale = [r for r in signs if r.subject_sha256 != subject_sha256]
        signs = [r for r in signs if r.subject_sha256 == subject_sha256]
        if not signs:
            return Standing(status=Status.MISSING, record=stale[0],
                            reason=f"approved by {stale[0].by} on {stale[0].at:%Y-%m-%d}, but the file changed "
                                   f"since (sha256 {(stale[0].subject_sha256 or '-')[:12]} -> "
                                   f"{subject_sha256[:12]}): approve the new version")
    current = [r for r in signs if r.expires_at is None or r.expires_at > now]
    if current:
        r = current[0]
        note = f": {r.note}" if r.note else ""
        return Standing(status=Status.ATTESTED, record=r,
                        reason=f"attested by {r.by} on {r.at:%Y-%m-%d}, valid until {r.expires_at:%Y-%m-%d}{note}")
    r = signs[0]
    return Standing(status=Status.EXPIRED, record=r,
                    reason=f"attestation by {r.by} expired on {r.expires_at:%Y-%m-%d}: re-attest with evidence")


def runbook_sha256(cfg: ReleaseConfig, config_path: Path) -> str | None:
    """The runbook's current sha256 (what an approval binds to); None when there is none or it is unreadable."""
    if not cfg.readiness.runbook:
        return None
    try:
        return sha256_bytes((config_path.resolve().parent / cfg.readiness.runbook).read_bytes())
    except OSError:
        return None
