"""The release freeze: ``<service>/state/freeze.json``, set by a review or a person, lifted by a person.

While it is active, the release flow's first gate (governance/release_freeze.py) answers a failed
``release_freeze`` verdict, so nothing is evaluated or shifted and ``launchgate release`` exits 3;
the go/no-go rubric (launchgate/governance/rubric.py) reads the same file at decision time.

Who may change it: the drift and cost reviews set it on their own findings. A person setting or
lifting it must be named in ``approvals.approvers`` for engineering or operations, or be one of
the ``owners``. Every change, and every refused attempt, is appended to
``<service>/state/freeze_log.jsonl``; the file itself also keeps its ``history``. Names are
self-declared (``--as NAME``), as with ``launchgate approve``: the audit log is what keeps them honest.

The state file and the log are changed with the store's conditional update (``ArtifactStore.update``):
each change is applied to the file as stored at that moment, so two changes at once (a review's
freeze and a person's lift) both land, in some order, and both reach the log and the history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from launchgate.config import ReleaseConfig
from launchgate.errors import MalformedObjectError, NotAuthorised, StoreError
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import JSON_TYPE, JSONL_TYPE, to_json_bytes
from launchgate.store.jsonio import parse_json
from launchgate.verdicts import Phase, Verdict

CHECK = "release_freeze"
Source = Literal["drift_review", "cost_review", "manual"]
AUTHORISED_APPROVER_ROLES = ("engineering", "operations")
HISTORY_KEEP = 50  # the log keeps everything; the state file only the recent past


class FreezeRefused(NotAuthorised):
    """A person not authorised to change the freeze tried to (recorded in freeze_log.jsonl)."""


class FreezeEvent(BaseModel):
    action: Literal["set", "lift", "refused"]
    by: str
    at: datetime
    reason: str
    source: Source | None = None
    evidence: str | None = None


class FreezeRecord(BaseModel):
    """The state file. ``active``/``reason``/``set_by``/``set_at`` are what rubric.FreezeState reads."""

    active: bool = False
    reason: str | None = None
    set_by: str | None = None
    set_at: datetime | None = None
    source: Source | None = None
    evidence: str | None = Field(default=None, description="store key of the report behind the freeze")
    lifted_by: str | None = None
    lifted_at: datetime | None = None
    lift_reason: str | None = None
    history: list[FreezeEvent] = Field(default_factory=list)




def read_freeze(store: ArtifactStore, service: str) -> FreezeRecord | None:
    """The freeze state, or None when the file is absent. A malformed file raises StoreError:
    an unreadable freeze must never read as "not frozen"."""
    key = layout.freeze(service)
    if not store.exists(key):  # a store that cannot answer raises StoreError: never "not frozen"
        return None
    return _parse(store, key, store.get(key))


def _parse(store: ArtifactStore, key: str, data: bytes) -> FreezeRecord:
    parsed = parse_json(data, store.location(key))
    try:
        return FreezeRecord.model_validate(parsed)
    except ValidationError as exc:
        detail = str(exc).splitlines()[0][:200]
        raise MalformedObjectError(f"{store.location(key)} is not a valid freeze file ({detail})") from exc


def authorised_names(config: ReleaseConfig) -> set[str]:
    names = {n for role in AUTHORISED_APPROVER_ROLES for n in config.approvals.approvers.get(role, [])}
    for owner in config.owners.model_dump().values():
        if owner:
            names.add(owner)
            names.add(owner.lstrip("@#"))  # "@support-oncall" may sign as "support-oncall"
    return names


def _append_log(store: ArtifactStore, service: str, event: FreezeEvent) -> None:
    line = (event.model_dump_json() + "\n").encode("utf-8")
    store.update(layout.freeze_log(service), lambda existing: (existing or b"") + line, JSONL_TYPE)


def _check_person(store: ArtifactStore, config: ReleaseConfig, by: str, action: str, reason: str,
                  now: datetime) -> None:
    if not reason.strip():
        raise FreezeRefused(f"give a reason to {action} the freeze of {config.service}: it goes into the audit log")
    if by in authorised_names(config):
        return
    _append_log(store, config.service, FreezeEvent(action="refused", by=by, at=now, reason=f"{action}: {reason}"))
    raise FreezeRefused(
        f"{by!r} may not {action} the release freeze of {config.service}: only approvers listed under "
        f"approvals.approvers for {' or '.join(AUTHORISED_APPROVER_ROLES)}, or an owner, may. The attempt was "
        f"recorded in {layout.freeze_log(config.service)}."
    )


def _save(store: ArtifactStore, service: str, event: FreezeEvent, fields: dict[str, Any]) -> FreezeRecord:
    """Set ``fields`` on the freeze as stored right now and add ``event`` to its history (the store
    runs this again on the newer file if someone wrote in between), then log the event."""
    key = layout.freeze(service)

    def apply(current: bytes | None) -> bytes:
        record = _parse(store, key, current) if current is not None else FreezeRecord()
        record = record.model_copy(update=fields)
        record.history = [*record.history, event][-HISTORY_KEEP:]
        return to_json_bytes(record)

    saved = _parse(store, key, store.update(key, apply, JSON_TYPE))
    _append_log(store, service, event)
    return saved


def set_freeze(store: ArtifactStore, config: ReleaseConfig, *, by: str, reason: str, source: Source = "manual",
               evidence: str | None = None, now: datetime | None = None) -> FreezeRecord:
    """Freeze releases of ``config.service``. A manual freeze needs an authorised ``by``.

    Setting an active freeze again replaces its reason (the newest finding is the one to act on);
    the earlier one stays in the history and the log.
    """
    now = now or datetime.now(UTC)
    if source == "manual":
        _check_person(store, config, by, "set", reason, now)
    fields = {"active": True, "reason": reason, "set_by": by, "set_at": now, "source": source,
              "evidence": evidence, "lifted_by": None, "lifted_at": None, "lift_reason": None}
    return _save(store, config.service,
                 FreezeEvent(action="set", by=by, at=now, reason=reason, source=source, evidence=evidence), fields)


def lift_freeze(store: ArtifactStore, config: ReleaseConfig, *, by: str, reason: str,
                now: datetime | None = None) -> FreezeRecord:
    """Lift the freeze (authorised people only). Lifting an inactive freeze is recorded but changes nothing."""
    now = now or datetime.now(UTC)
    _check_person(store, config, by, "lift", reason, now)
    fields = {"active": False, "lifted_by": by, "lifted_at": now, "lift_reason": reason}
    return _save(store, config.service, FreezeEvent(action="lift", by=by, at=now, reason=reason), fields)


def lift_command(service: str) -> str:
    return f"launchgate freeze lift --service {service} --as NAME --reason '...'"


def freeze_verdict(store: ArtifactStore, service: str) -> Verdict:
    """``release_freeze``: failed while frozen, error when the state cannot be read (never a silent pass)."""
    key = layout.freeze(service)
    try:
        record = read_freeze(store, service)
    except (StoreError, OSError) as exc:
        return Verdict(check=CHECK, phase=Phase.ERROR, evidence=key,
                       reason=f"Cannot tell whether releases of {service} are frozen ({exc}). Fix or remove "
                              f"{key}, then rerun.")
    if record is None or not record.active:
        state = "absent" if record is None else "lifted"
        return Verdict(check=CHECK, phase=Phase.SUCCESSFUL, value=False, threshold=False, evidence=key,
                       reason=f"No release freeze for {service} ({key} is {state}).")
    at = f" at {record.set_at:%Y-%m-%d %H:%M}Z" if record.set_at else ""
    source = f" ({record.source})" if record.source else ""
    see = f" See {record.evidence}." if record.evidence else ""
    return Verdict(check=CHECK, phase=Phase.FAILED, value=True, threshold=False, evidence=record.evidence or key,
                   reason=f"Releases of {service} are frozen since{at} by {record.set_by}{source}: {record.reason}."
                          f"{see} Mitigate, then lift it: {lift_command(service)}.")


def freeze_summary(record: FreezeRecord | None) -> dict[str, Any]:
    """A compact dict for CLI output and reports."""
    if record is None:
        return {"active": False, "state": "absent"}
    return record.model_dump(mode="json", exclude={"history"}) | {"history_events": len(record.history)}
