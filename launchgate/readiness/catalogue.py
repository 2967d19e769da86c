"""The readiness catalogue (catalogue.yaml, shipped with the package) merged with a service's config.

A service may add items and mark items not applicable (an attestation by the owner, with a reason,
kept in release.yaml); it can never drop one: the merged list always holds every catalogue item.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import yaml
from pydantic import BaseModel

from launchgate.config.readiness import ROLES, ReadinessConfig
from launchgate.readiness.models import Item

CATALOGUE_FILE = "catalogue.yaml"


class Catalogue(BaseModel):
    sections: dict[str, str]
    domains: dict[str, str]
    items: list[Item]

    def get(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.id == item_id), None)


@cache
def load_catalogue() -> Catalogue:
    """The shipped catalogue, validated once per process (it is package data, not user input)."""
    text = files("launchgate.readiness").joinpath(CATALOGUE_FILE).read_text(encoding="utf-8")
    cat = Catalogue.model_validate(yaml.safe_load(text))
    for item in cat.items:
        if item.owner not in ROLES or item.domain not in cat.domains:
            raise ValueError(f"catalogue item {item.id}: unknown owner {item.owner!r} or domain {item.domain!r}")
        unknown = [s for s in item.sources if s not in cat.sections]
        if unknown or (item.verify != "attest") != (item.check is not None):
            raise ValueError(f"catalogue item {item.id}: unknown sections {unknown} or check/verify mismatch")
    return cat


def service_items(cfg: ReadinessConfig) -> list[Item]:
    """Every catalogue item, then the service's own (attested by their owner role)."""
    cat = load_catalogue()
    added = [Item(id=a.id, title=a.title, domain=a.domain, owner=a.owner, required=a.required, verify="attest",
                  sources=[], added=True) for a in cfg.items]
    return [*cat.items, *added]


def config_problems(cfg: ReadinessConfig, people: dict[str, list[str]]) -> list[str]:
    """What in the readiness section contradicts the catalogue: each a 'field: problem' line."""
    cat = load_catalogue()
    problems = [f"readiness.items: {a.id!r} is a catalogue item; pick another id" for a in cfg.items if cat.get(a.id)]
    known = {i.id: i for i in service_items(cfg)}
    for n, mark in enumerate(cfg.not_applicable):
        item = known.get(mark.item)
        if item is None:
            problems.append(f"readiness.not_applicable[{n}].item: unknown item {mark.item!r} (see `launchgate "
                            f"readiness` for the ids)")
        elif mark.by not in people.get(item.owner, []):
            problems.append(f"readiness.not_applicable[{n}].by: {mark.by!r} is not listed for {item.owner} in "
                            f"readiness.people; only the item's owner role may mark it not applicable")
    return problems
