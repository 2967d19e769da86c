"""The ``readiness:`` section of release.yaml: who may vouch for what, and how strictly it gates.

Kept out of config/__init__.py so the readiness review can grow its knobs without touching the
shared file. Every field has a default, so a service without the section still gets the full
catalogue (launchgate/readiness/catalogue.yaml), blocking by default: unknown risk blocks.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Literal["product", "engineering", "operations", "security", "budget", "compliance"]
ROLES: tuple[str, ...] = ("product", "engineering", "operations", "security", "budget", "compliance")
_ITEM_ID = r"^[a-z0-9][a-z0-9-]{1,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class AddedItem(_Strict):
    """A service's own readiness item, on top of the catalogue (never instead of one)."""

    id: str = Field(pattern=_ITEM_ID)
    title: str = Field(min_length=3)
    owner: Role
    required: bool = True
    domain: str = Field(default="service", pattern=r"^[a-z0-9_-]+$")


class NotApplicable(_Strict):
    """An item its owner declares not applicable: an attestation with a reason, kept in release.yaml."""

    item: str = Field(pattern=_ITEM_ID)
    by: str = Field(min_length=1, description="a person listed under readiness.people for the item's owner role")
    reason: str = Field(min_length=10, description="why the item does not apply to this service")


class ReadinessConfig(_Strict):
    enforce: Literal["block", "warn"] = Field(
        default="block", description="block: a required item not verified or attested stops the release")
    attestation_days: int = Field(default=90, ge=1, le=366, description="default validity of an attestation "
                                                                       "(the seed's quarterly review)")
    people: dict[Role, list[str]] = Field(
        default_factory=dict, description="who may sign for each owner role; engineering and operations fall "
                                          "back to approvals.approvers")
    items: list[AddedItem] = Field(default_factory=list, description="the service's own items")
    not_applicable: list[NotApplicable] = Field(default_factory=list)
    runbook: str | None = Field(default=None, description="the incident runbook (path relative to release.yaml); "
                                                          "its approval is tied to the file's sha256")
    dashboard_url: str | None = Field(default=None, description="the canary/quality dashboard (Grafana) link")
    alert_rules: str | None = Field(default=None, description="Prometheus alert rules file (relative to "
                                                              "release.yaml) with error-rate and latency alerts")
    golden_min_tags: dict[str, Annotated[int, Field(ge=0, le=1_000_000)]] = Field(
        default_factory=lambda: {"edge": 10, "harmful": 10},
        description="minimum golden cases per tag: edge cases and harmful-output tests")
    drill_max_age_days: int = Field(default=30, ge=1, le=365, description="a rollback drill older than this "
                                                                          "does not count as tested")
    representative_psi: float = Field(default=0.25, gt=0, le=10, description="PSI (golden set vs the last 4 "
                                                                             "weeks of requests) above this fails")
    max_retry_rate: float = Field(default=3.0, ge=0, le=100, description="percent of requests retried (seed SLO)")
    max_timeout_rate: float = Field(default=1.0, ge=0, le=100, description="percent of requests timed out")
    retained_releases: int = Field(default=3, ge=1, le=100, description="previous bundles that must be complete")

    @model_validator(mode="after")
    def _consistent(self) -> ReadinessConfig:
        seen: set[str] = set()
        for item in self.items:
            if item.id in seen:
                raise ValueError(f"items: {item.id!r} is listed twice")
            seen.add(item.id)
        marked: set[str] = set()
        for mark in self.not_applicable:
            if mark.item in marked:
                raise ValueError(f"not_applicable: {mark.item!r} is marked twice")
            marked.add(mark.item)
        for role, names in self.people.items():
            bad = [n for n in names if not re.match(r"^[\w.@+-]{1,64}$", n)]
            if bad:
                raise ValueError(f"people.{role}: {bad[0]!r} is not a plain name (letters, digits, . @ + - _)")
        if not self.items and not self.not_applicable:
            return self  # nothing to hold against the catalogue (and ReleaseConfig's default is built at import)
        # Against the shipped catalogue, so a typo fails at load time (exit 2), not after the eval.
        from launchgate.readiness.catalogue import load_catalogue

        cat = load_catalogue()
        clash = next((a.id for a in self.items if cat.get(a.id)), None)
        if clash:
            raise ValueError(f"items: {clash!r} is a catalogue item; give your own item another id")
        owners = {i.id: i.owner for i in cat.items} | {a.id: a.owner for a in self.items}
        for mark in self.not_applicable:
            if mark.item not in owners:
                raise ValueError(f"not_applicable: unknown item {mark.item!r} (`launchgate readiness` lists the ids)")
            listed = self.people.get(owners[mark.item])  # type: ignore[call-overload]
            if listed is not None and mark.by not in listed:
                raise ValueError(f"not_applicable: {mark.by!r} may not mark {mark.item} not applicable: it is owned "
                                 f"by {owners[mark.item]}, and readiness.people lists {', '.join(listed)}")
        return self
