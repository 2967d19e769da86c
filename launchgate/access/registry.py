"""The client API key registry of one service (``layout.api_keys``) and the commands that change it.

Each key: a public id, its tenant (the identity the gateway's per-tenant limits and budgets use), the
models it may ask for, its own requests/tokens per minute and daily budget, who created it and when,
an optional expiry, and who revoked it and when. Only the token's sha256 is stored.

Rotation is overlap, not replacement: ``create_key(..., rotates=OLD)`` makes a new key with OLD's
tenant, scopes and limits, marks OLD as replaced (``replaced_by``, ``rotated_at``) and, when asked,
gives OLD an expiry; OLD stays valid until it is revoked or expires, so callers can move at their pace.

Every change goes through ``ArtifactStore.update`` (conditional writes): two ``launchgate keys``
commands at once never lose one another's key. ``version`` goes up by one per change, which is all
a gateway compares to know it must re-index. Who may act: the freeze's people (engineering and
operations approvers, owners) plus ``access.managers``; every attempt, granted or refused, is
appended to ``layout.api_keys_log`` without any secret.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from launchgate.access.tokens import new_token, token_hash
from launchgate.config import ReleaseConfig
from launchgate.errors import InputError, MalformedObjectError, NotAuthorised
from launchgate.governance.freeze import authorised_names
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import JSON_TYPE, JSONL_TYPE, to_json_bytes
from launchgate.store.jsonio import parse_json

TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")  # what the gateway's tenant header allows
MODEL = re.compile(r"^(\*|[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127})$")
ANY_MODEL = "*"


class KeysRefused(NotAuthorised):
    """An unlisted person ran a keys command (recorded in the keys log). CLI exit 3, naming --as."""


class ApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[0-9a-f]{12}$")
    tenant: str = Field(pattern=TENANT.pattern)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the whole token; the token is kept nowhere")
    models: list[str] = Field(default_factory=lambda: [ANY_MODEL], description="body `model` values it may ask for")
    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)
    daily_usd: float | None = Field(default=None, gt=0)
    note: str = ""
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    rotates: str | None = Field(default=None, description="the key this one replaces")
    replaced_by: str | None = None
    rotated_at: datetime | None = Field(default=None, description="when a replacement for this key was made")
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def state(self, now: datetime) -> Literal["active", "revoked", "expired"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def listing(self, now: datetime) -> dict[str, object]:
        """What ``keys list`` and ``status`` show: everything but the hash."""
        return {**self.model_dump(mode="json", exclude={"sha256"}), "state": self.state(now)}


class KeyRegistry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 0
    keys: list[ApiKey] = Field(default_factory=list)

    def find(self, key_id: str) -> ApiKey | None:
        return next((k for k in self.keys if k.id == key_id), None)


class KeyEvent(BaseModel):
    action: Literal["create", "revoke", "list"]
    outcome: Literal["granted", "refused"]
    by: str
    at: datetime
    key_id: str | None = None
    tenant: str | None = None
    detail: str = ""


def parse_registry(data: bytes | None, key: str) -> KeyRegistry:
    if data is None:
        return KeyRegistry()
    try:
        return KeyRegistry.model_validate(parse_json(data, key))
    except ValidationError as exc:
        raise MalformedObjectError(f"{key} is not a valid key registry ({str(exc).splitlines()[0][:200]}): "
                                   "restore it from the bucket's versions") from exc


def read_registry(store: ArtifactStore, service: str) -> KeyRegistry:
    key = layout.api_keys(service)
    return parse_registry(store.get(key) if store.exists(key) else None, key)


def key_managers(config: ReleaseConfig) -> set[str]:
    return authorised_names(config) | set(config.access.managers)


def _log(store: ArtifactStore, service: str, event: KeyEvent) -> None:
    line = (event.model_dump_json() + "\n").encode("utf-8")
    store.update(layout.api_keys_log(service), lambda existing: (existing or b"") + line, JSONL_TYPE)


def authorise(store: ArtifactStore, config: ReleaseConfig, action: Literal["create", "revoke", "list"], by: str,
              now: datetime) -> KeyEvent:
    """The granted event (recorded by the caller once done), or record the refusal and raise KeysRefused."""
    event = KeyEvent(action=action, outcome="granted", by=by, at=now)
    if by in key_managers(config):
        return event
    _log(store, config.service, event.model_copy(update={"outcome": "refused"}))
    raise KeysRefused(
        f"--as {by!r}: not allowed to {action} API keys of {config.service}; only engineering or operations "
        f"approvers (approvals.approvers), owners or access.managers may. The attempt was recorded in "
        f"{layout.api_keys_log(config.service)}.")


def check_tenant(tenant: str) -> str:
    if not TENANT.match(tenant):
        raise InputError(f"--tenant {tenant!r}: use 1-64 letters, digits, '.', '_', ':' or '-', starting with a "
                         "letter or digit")
    return tenant


def check_models(models: list[str]) -> list[str]:
    for model in models:
        if not MODEL.match(model):
            raise InputError(f"--model {model!r}: a model name is 1-128 letters, digits and ._:/@- (or * for any)")
    return sorted(set(models)) or [ANY_MODEL]


def create_key(store: ArtifactStore, config: ReleaseConfig, *, by: str, tenant: str | None, models: list[str],
               requests_per_minute: int | None = None, tokens_per_minute: int | None = None,
               daily_usd: float | None = None, expires_in_days: float | None = None, rotates: str | None = None,
               old_expires_in_hours: float | None = None, note: str = "",
               now: datetime | None = None) -> tuple[ApiKey, str]:
    """Add a key; returns it and its token (the only time the token exists outside the caller's hands).

    With ``rotates``, unset fields (tenant, models, limits) are taken from that key, which is marked as
    replaced and, with ``old_expires_in_hours``, given an expiry (the overlap window)."""
    now = now or datetime.now(UTC)
    service = config.service
    event = authorise(store, config, "create", by, now)
    registry = read_registry(store, service)
    old = None
    if rotates is not None:
        old = registry.find(rotates)
        if old is None:
            raise InputError(f"--rotate {rotates!r}: no such key id in {service}'s registry (see `launchgate keys "
                             "list`)")
        if old.state(now) != "active":
            raise InputError(f"--rotate {rotates}: that key is {old.state(now)}; create a fresh key instead")
    if tenant is None and old is None:
        raise InputError("--tenant: required (whose requests this key carries), unless --rotate names the old key")
    owner = check_tenant(tenant) if tenant is not None else old.tenant if old is not None else ""
    key_id, token = new_token()
    key = ApiKey(
        id=key_id, tenant=owner, sha256=token_hash(token),
        models=check_models(models) if models else (old.models if old else [ANY_MODEL]),
        requests_per_minute=requests_per_minute or (old.requests_per_minute if old else None),
        tokens_per_minute=tokens_per_minute or (old.tokens_per_minute if old else None),
        daily_usd=daily_usd or (old.daily_usd if old else None), note=note, created_at=now, created_by=by,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None, rotates=rotates)
    old_expiry = now + timedelta(hours=old_expires_in_hours) if old_expires_in_hours is not None else None

    def change(current: bytes | None) -> bytes:
        reg = parse_registry(current, layout.api_keys(service))
        if reg.find(key.id) is not None:
            raise InputError("a new key id collided with an existing one; run the command again")
        keys = list(reg.keys)
        if rotates is not None:
            keys = [k.model_copy(update={"replaced_by": key.id, "rotated_at": now,
                                         **({"expires_at": old_expiry} if old_expiry is not None else {})})
                    if k.id == rotates else k for k in keys]
        return to_json_bytes(KeyRegistry(version=reg.version + 1, keys=[*keys, key]))

    store.update(layout.api_keys(service), change, JSON_TYPE)
    detail = f"rotates {rotates}" + (f"; old key expires {old_expiry.isoformat()}" if old_expiry else "") \
        if rotates else ""
    _log(store, service, event.model_copy(update={"key_id": key.id, "tenant": key.tenant, "detail": detail}))
    return key, token


def revoke_key(store: ArtifactStore, config: ReleaseConfig, key_id: str, *, by: str, reason: str = "",
               now: datetime | None = None) -> ApiKey:
    """Revoke ``key_id`` (already revoked: returned unchanged, and the attempt is still logged)."""
    now = now or datetime.now(UTC)
    service = config.service
    event = authorise(store, config, "revoke", by, now)
    if read_registry(store, service).find(key_id) is None:
        raise InputError(f"KEY_ID {key_id!r}: no such key in {service}'s registry (see `launchgate keys list`)")

    def change(current: bytes | None) -> bytes:
        reg = parse_registry(current, layout.api_keys(service))
        keys = [k.model_copy(update={"revoked_at": now, "revoked_by": by})
                if k.id == key_id and k.revoked_at is None else k for k in reg.keys]
        if keys == reg.keys:
            return current or b""  # unchanged: nothing is written
        return to_json_bytes(KeyRegistry(version=reg.version + 1, keys=keys))

    saved = parse_registry(store.update(layout.api_keys(service), change, JSON_TYPE), layout.api_keys(service))
    key = saved.find(key_id)
    assert key is not None
    _log(store, service, event.model_copy(update={"key_id": key_id, "tenant": key.tenant, "detail": reason}))
    return key


def list_keys(store: ArtifactStore, config: ReleaseConfig, *, by: str, now: datetime | None = None
              ) -> list[dict[str, object]]:
    now = now or datetime.now(UTC)
    event = authorise(store, config, "list", by, now)
    keys = read_registry(store, config.service).keys
    _log(store, config.service, event.model_copy(update={"detail": f"{len(keys)} keys"}))
    return [k.listing(now) for k in keys]
