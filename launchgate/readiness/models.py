"""The readiness review's records: catalogue items, a check's result, an item's status, the report."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class Status(StrEnum):
    VERIFIED = "verified"  # an automated check passed
    ATTESTED = "attested"  # a listed person vouched, and the attestation is current
    NOT_APPLICABLE = "not_applicable"  # its owner signed that it does not apply, with a reason
    FAILED = "failed"  # a check looked and found the item not done
    MISSING = "missing"  # no evidence either way: counts as not done
    EXPIRED = "expired"  # the only attestation ran out: counts as not done


READY = (Status.VERIFIED, Status.ATTESTED, Status.NOT_APPLICABLE)
Verification = Literal["check", "attest", "both"]


class Item(BaseModel):
    id: str
    title: str
    domain: str
    owner: str
    required: bool
    verify: Verification
    check: str | None = None
    sources: list[str] = Field(default_factory=list, description="seed sections, first = where it is listed")
    added: bool = Field(default=False, description="added by the service's release.yaml")

    @property
    def section(self) -> str:
        return self.sources[0] if self.sources else "release.yaml"


class CheckResult(BaseModel):
    """What one automated check found: verified / failed / missing, one sentence, and the evidence key."""

    status: Literal[Status.VERIFIED, Status.FAILED, Status.MISSING]
    reason: str
    evidence: str | None = None


def verified(reason: str, evidence: str | None = None) -> CheckResult:
    return CheckResult(status=Status.VERIFIED, reason=reason, evidence=evidence)


def failed(reason: str, evidence: str | None = None) -> CheckResult:
    return CheckResult(status=Status.FAILED, reason=reason, evidence=evidence)


def missing(reason: str, evidence: str | None = None) -> CheckResult:
    return CheckResult(status=Status.MISSING, reason=reason, evidence=evidence)


class ItemResult(BaseModel):
    id: str
    title: str
    domain: str
    owner: str
    required: bool
    verify: Verification
    section: str
    status: Status
    reason: str
    evidence: str | None = None
    by: str | None = Field(default=None, description="who attested or marked it not applicable")
    expires_at: datetime | None = None

    @property
    def ready(self) -> bool:
        return self.status in READY


class Counts(BaseModel):
    total: int = 0
    verified: int = 0
    attested: int = 0
    not_applicable: int = 0
    failed: int = 0
    missing: int = 0
    expired: int = 0
    ready: bool = False


class ReadinessReport(BaseModel):
    service: str
    release_id: str | None = Field(description="the release whose bundle the checks read (None: no release yet)")
    checked_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    enforce: Literal["block", "warn"] = "block"
    items: list[ItemResult]
    counts: Counts
    blocking: list[str] = Field(default_factory=list, description="required items not verified, attested or n/a")
    summary: str = ""
