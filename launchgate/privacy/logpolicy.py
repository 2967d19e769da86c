"""The data policy applied to a request-log record, and the production guard on raw prompts.

``apply_policy`` is pure: it keeps every field of the record (readers rely on every contract key
being present), sets those outside ``data.log_fields`` to null, empties the prompt when
``data.prompt`` is ``none``, and replaces the end user's id (``record["subject"]``, put there by
whoever read the header or body field named by ``data.subject``) with its HMAC-SHA256 under the
key from ``data.subject.hmac_secret``. The raw id never reaches the log.

The gateway's log writer asks ``encoder(service, base)`` for its line encoder once per batch: the
writer's own encoder when no policy is installed for the service (today's behaviour, no cost),
else one that filters first. ``install`` is called at gateway start (the ``gateway`` command).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from launchgate.access.secrets import read_secret
from launchgate.config import ReleaseConfig
from launchgate.config.datapolicy import SUBJECT_FIELD, DataPolicy
from launchgate.errors import InputError
from launchgate.privacy.access import authorise, authorised_names, record
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import JSONL_TYPE
from launchgate.store.jsonio import parse_json

Encoder = Callable[[Mapping[str, Any]], bytes]
RAW_SUBJECT = "subject"  # where the gateway puts the end user's id for the policy to hash
_installed: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {}


def subject_hmac(key: bytes, subject: str) -> str:
    """HMAC-SHA256 of the end user's id: stable for export and delete, useless without the key."""
    return hmac.digest(key, subject.encode("utf-8"), "sha256").hex()


def compile_policy(policy: DataPolicy, key: bytes | None) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``apply_policy`` for one policy and key, with the policy read once: it runs for every logged line
    (a dict copy plus a cached HMAC, about 1-2 us, instead of a comprehension over every field)."""
    from launchgate.config.datapolicy import log_contract

    nulls = () if policy.log_fields is None else tuple(f for f in log_contract() if f not in policy.log_fields)
    empty_prompt = policy.prompt == "none"
    keep_hashed = policy.allows(SUBJECT_FIELD)
    mac = hmac.new(key, digestmod="sha256") if policy.subject is not None and key is not None else None
    known: dict[str, str] = {}  # the same users come back: skip recomputing their HMAC

    def digest(subject: str) -> str:
        found = known.get(subject)
        if found is None:
            m = mac.copy()  # type: ignore[union-attr]
            m.update(subject.encode("utf-8"))
            found = m.hexdigest()
            if len(known) >= 4096:
                known.clear()
            known[subject] = found
        return found

    def apply(record: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(record)
        raw = out.pop(RAW_SUBJECT, None)
        hashed = out.pop(SUBJECT_FIELD, None)
        for name in nulls:
            if name in out:
                out[name] = None
        if empty_prompt and out.get("prompt_redacted") is not None:
            out["prompt_redacted"] = ""
        if mac is not None and raw not in (None, ""):
            out[SUBJECT_FIELD] = digest(str(raw))
        elif keep_hashed and isinstance(hashed, str):
            out[SUBJECT_FIELD] = hashed  # already hashed upstream (a replay, a backfill)
        return out

    return apply


def apply_policy(record: Mapping[str, Any], policy: DataPolicy, key: bytes | None) -> dict[str, Any]:
    """The log line ``policy`` allows for ``record`` (pure; see the module docstring)."""
    return compile_policy(policy, key)(record)


def subject_of(policy: DataPolicy, headers: Mapping[str, str], body: Mapping[str, Any] | None) -> str | None:
    """The end user's id as the request carries it (``data.subject``'s header or top-level body field), for the
    gateway to put in ``record["subject"]``; the log writer hashes it and never writes it."""
    subject = policy.subject
    if subject is None:
        return None
    if subject.header is not None:
        value: Any = headers.get(subject.header) or headers.get(subject.header.title())
    else:
        value = (body or {}).get(subject.field or "")
    return value if isinstance(value, str) and value else None


def install(service: str, policy: DataPolicy, key: bytes | None) -> None:
    """From now on, this process's log writers of ``service`` write what ``policy`` allows."""
    _installed[service] = compile_policy(policy, key)


def uninstall(service: str) -> None:
    _installed.pop(service, None)


def encoder(service: str, base: Encoder) -> Encoder:
    """``base`` (the writer's contract-field encoder) behind the installed policy of ``service``, if any."""
    policy = _installed.get(service)
    if policy is None:
        return base

    def encode(rec: Mapping[str, Any]) -> bytes:
        data = policy(rec)
        line = base(data)
        digest = data.get(SUBJECT_FIELD)
        if digest is None:
            return line
        # base writes the contract fields only; the HMAC (hex, nothing to escape) joins the object's end.
        return line[:-2] + b',"' + SUBJECT_FIELD.encode() + b'":"' + str(digest).encode("ascii") + b'"}\n'

    return encode


# ----------------------------------------------------------------------------- raw prompts in production


class RawPromptOverride(BaseModel):
    by: str
    at: datetime
    until: datetime
    reason: str


def record_raw_prompt_override(store: ArtifactStore, config: ReleaseConfig, *, by: str, reason: str, hours: float,
                               now: datetime | None = None) -> RawPromptOverride:
    """An authorised person lets a production gateway log raw prompts for ``hours`` (recorded, audited)."""
    now = now or datetime.now(UTC)
    event = authorise(store, config, "override_raw_prompts", by, reason, now=now)
    override = RawPromptOverride(by=by, at=now, until=now + timedelta(hours=hours), reason=reason)
    line = (override.model_dump_json() + "\n").encode("utf-8")
    store.update(layout.data_overrides(config.service), lambda old: (old or b"") + line, JSONL_TYPE)
    record(store, config.service, event)
    return override


def active_override(store: ArtifactStore, config: ReleaseConfig, now: datetime) -> RawPromptOverride | None:
    """The newest override still in force and given by someone authorised *now* (a name removed from the
    list since no longer counts)."""
    key = layout.data_overrides(config.service)
    if not store.exists(key):
        return None
    allowed = authorised_names(config, "override_raw_prompts")
    found = None
    for line in store.get(key).splitlines():
        if line.strip():
            item = RawPromptOverride.model_validate(parse_json(line, store.location(key)))
            if item.by in allowed and item.at <= now < item.until:
                found = item
    return found


def check_gateway_start(store: ArtifactStore, config: ReleaseConfig, now: datetime | None = None) -> str | None:
    """None when the gateway may start; raises InputError when the policy logs raw prompts in production
    without an override in force; returns the override's description when one allows it."""
    policy = config.data
    if not (policy.environment == "production" and policy.logs_raw_prompts):
        return None
    override = active_override(store, config, now or datetime.now(UTC))
    if override is None:
        raise InputError(
            "data.prompt: 'raw' logs users' prompts unredacted and data.environment is production: the gateway "
            "will not start. Set data.prompt to redacted (or none), or have someone listed under "
            "data.access.override_raw_prompts record an override: launchgate data allow-raw-prompts --config ... "
            "--as NAME --reason '...' --hours N")
    return f"raw prompts logged under an override by {override.by} until {override.until:%Y-%m-%d %H:%M}Z"


def subject_key(config: ReleaseConfig, resolvers: Mapping[str, Callable[[str], str]] | None = None) -> bytes:
    """The HMAC key of ``data.subject`` from its secret; InputError naming the field when there is none."""
    subject = config.data.subject
    if subject is None:
        raise InputError("data.subject: not set in release.yaml, so the request log holds no subject key and "
                         "nothing can be found by subject; add data.subject (header or field, hmac_secret)")
    return read_secret(subject.hmac_secret, resolvers=resolvers).encode("utf-8")
