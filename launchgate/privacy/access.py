"""Who may export, delete or otherwise act on logged data, and the append-only log of every attempt.

As with the release freeze (governance/freeze.py): names are self-declared (``--as NAME``) and
checked against release.yaml, here ``data.access.<action>`` plus the compliance owner
(``owners.compliance``, who may do all). Every attempt, granted or refused, is appended to
``<service>/state/data_access_log.jsonl`` with who, what, why and when: never the subject's id,
only its HMAC when one is known.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from launchgate.config import ReleaseConfig
from launchgate.errors import NotAuthorised
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import JSONL_TYPE

Action = Literal["export", "delete", "override_raw_prompts", "read_logs"]


class DataAccessRefused(NotAuthorised):
    """A person not listed for the action tried it (recorded in the data access log). CLI exit 3."""


class AccessEvent(BaseModel):
    action: Action
    outcome: Literal["granted", "refused"]
    by: str
    at: datetime
    reason: str
    subject_hmac: str | None = None
    receipt: str | None = None


def authorised_names(config: ReleaseConfig, action: Action) -> set[str]:
    names = set(getattr(config.data.access, action))
    owner = config.owners.compliance
    if owner:
        names |= {owner, owner.lstrip("@#")}  # "@privacy-team" may sign as "privacy-team"
    return names


def record(store: ArtifactStore, service: str, event: AccessEvent) -> None:
    line = (event.model_dump_json() + "\n").encode("utf-8")
    store.update(layout.data_access_log(service), lambda existing: (existing or b"") + line, JSONL_TYPE)


def authorise(store: ArtifactStore, config: ReleaseConfig, action: Action, by: str, reason: str, *,
              subject_hmac: str | None = None, now: datetime | None = None) -> AccessEvent:
    """Return the granted event (not yet recorded: the caller records it with its receipt), or record the
    refusal and raise DataAccessRefused."""
    now = now or datetime.now(UTC)
    if not reason.strip():
        raise DataAccessRefused(f"give a --reason for {action}: it goes into the data access log")
    event = AccessEvent(action=action, outcome="granted", by=by, at=now, reason=reason, subject_hmac=subject_hmac)
    allowed = authorised_names(config, action)
    if by in allowed:
        return event
    record(store, config.service, event.model_copy(update={"outcome": "refused"}))
    who = f"data.access.{action}" + (" or owners.compliance" if config.owners.compliance else "")
    raise DataAccessRefused(
        f"{by!r} may not {action.replace('_', ' ')} data of {config.service}: only people listed under {who} may "
        f"({len(allowed)} listed). The attempt was recorded in {layout.data_access_log(config.service)}.")
