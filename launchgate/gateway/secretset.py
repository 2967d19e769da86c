"""The gateway's own secrets: the valid admin tokens and the upstream API keys, re-read on SIGHUP.

One provider object for every admin check (admin.py's ``token_guard``, used by review.py and
shadow.py too): ``allows`` compares the request's ``Authorization`` header with each valid token
in constant time (``hmac.compare_digest``, every token compared whatever the first gave).

A rotation window is two valid tokens: ``access.admin_tokens`` lists secret references (env, file,
prefect, aws; launchgate/access/secrets.py) and every one that resolves is valid. A reference that names
nothing (SecretNotFound: the "next" slot between rotations) is simply not a token; one whose
source did not answer (SecretsUnavailable) keeps the value it had, so an AWS hiccup during a
reload locks nobody out. At start at least one token must resolve.

Upstream keys named in ``access.upstream_keys`` (env var name -> reference) are read the same way
and handed to gateway/config.py's ``set_upstream_keys``, where every upstream call looks them up.

Every change (a token or key that changed, appeared or went away) is returned as a RotationEvent
with the secret's name only; values are kept in memory and compared by an HMAC under a
per-process random key, never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from launchgate.access.rotations import Kind, RotationEvent
from launchgate.access.secrets import Resolver, read_secret
from launchgate.errors import InputError, SecretNotFound, SecretsUnavailable

if TYPE_CHECKING:
    from launchgate.gateway.config import GatewayConfig

log = logging.getLogger("launchgate.gateway.secrets")
MIN_TOKEN_CHARS = 16


class GatewaySecrets:
    def __init__(self, admin_refs: list[str], upstream_refs: Mapping[str, str] | None = None,
                 resolvers: Mapping[str, Resolver] | None = None, *, writer: str = "gateway") -> None:
        if not admin_refs:
            raise ValueError("at least one admin token reference is needed")
        self.admin_refs = list(admin_refs)
        self.upstream_refs = dict(upstream_refs or {})
        self.resolvers = resolvers
        self.writer = writer
        self._salt = os.urandom(32)
        self._values: dict[str, str] = {}  # name -> value, this process's memory only
        self._expected: tuple[bytes, ...] = ()
        self.upstream_keys: dict[str, str] = {}
        self.last_reload: dict[str, object] = {}
        self._events: list[RotationEvent] = []  # changes not yet recorded in the store (take_events)
        self.fixed = False  # one token given by the caller: nothing to re-read

    @classmethod
    def static(cls, token: str) -> GatewaySecrets:
        """One fixed admin token (tests, benchmarks, callers that pass the token itself)."""
        secrets = cls(["static:"], writer="static")
        secrets.fixed = True
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"the admin token must be at least {MIN_TOKEN_CHARS} characters")
        secrets._values = {"static:": token}
        secrets._expected = (f"Bearer {token}".encode(),)
        return secrets

    @classmethod
    def from_config(cls, cfg: GatewayConfig, resolvers: Mapping[str, Resolver] | None = None) -> GatewaySecrets:
        refs = list(cfg.access.admin_tokens) or [f"env:{cfg.admin_token_env}"]
        return cls(refs, cfg.access.upstream_keys, resolvers, writer=cfg.writer_name())

    # ------------------------------------------------------------------------------ reading

    def load(self) -> list[RotationEvent]:
        """Read every reference (blocking: call it off the event loop once serving). Returns what changed.
        Raises InputError when no admin token resolves and none is held from before."""
        if self.fixed:
            return []
        now = datetime.now(UTC)
        first = not self._values
        errors: list[str] = []
        absent: list[str] = []
        values = dict(self._values)
        kinds: dict[str, Kind] = {}
        for ref in self.admin_refs:
            kinds[ref] = "admin_token"
            self._read(ref, ref, values, errors, absent)
        for env_name, ref in self.upstream_refs.items():
            kinds[env_name] = "upstream_key"
            self._read(env_name, ref, values, errors, absent)
        tokens = [values[r] for r in self.admin_refs if r in values]
        short = [r for r in self.admin_refs if r in values and len(values[r]) < MIN_TOKEN_CHARS]
        if short:
            errors.append(f"{', '.join(short)}: shorter than {MIN_TOKEN_CHARS} characters, not accepted")
            tokens = [t for t in tokens if len(t) >= MIN_TOKEN_CHARS]
        if not tokens:
            problem = "no admin token: " + "; ".join(errors + [f"{r} names no secret" for r in absent])
            self.last_reload = {"at": now.isoformat(), "ok": False, "errors": errors}
            if first or not self._expected:
                raise InputError(f"{problem} (access.admin_tokens, or the env var gateway.admin_token_env names)")
            log.error("secrets reload kept the previous admin tokens: %s", problem)
            return []
        events = self._changes(values, kinds, now, first)
        self._values = values
        self._expected = tuple(f"Bearer {t}".encode() for t in tokens)
        self.upstream_keys = {name: values[name] for name in self.upstream_refs if name in values}
        from launchgate.gateway.config import set_upstream_keys

        set_upstream_keys(self.upstream_keys)
        self.last_reload = {"at": now.isoformat(), "ok": not errors, "errors": errors, "absent": absent,
                            "admin_tokens": len(tokens),
                            "changed": [e.name for e in events if e.change != "first_seen"]}
        self._events.extend(events)
        return events

    def take_events(self) -> list[RotationEvent]:
        events, self._events = self._events, []
        return events

    def _read(self, name: str, ref: str, values: dict[str, str], errors: list[str], absent: list[str]) -> None:
        try:
            values[name] = read_secret(ref, resolvers=self.resolvers)
        except SecretNotFound:
            values.pop(name, None)  # an empty slot (e.g. "next" between rotations) is no secret
            absent.append(ref)
        except SecretsUnavailable as exc:
            errors.append(f"{exc} (kept the value held before)" if name in values else str(exc))

    def _fingerprint(self, value: str) -> bytes:
        return hmac.new(self._salt, value.encode(), hashlib.sha256).digest()

    def _changes(self, values: dict[str, str], kinds: dict[str, Kind], now: datetime,
                 first: bool) -> list[RotationEvent]:
        events = []
        for name, kind in kinds.items():
            old, new = self._values.get(name), values.get(name)
            if first:
                change = "first_seen" if new is not None else None
            elif old is None and new is not None:
                change = "appeared"
            elif old is not None and new is None:
                change = "cleared"
            elif old is not None and new is not None and self._fingerprint(old) != self._fingerprint(new):
                change = "rotated"
            else:
                change = None
            if change is not None:
                events.append(RotationEvent(name=name, kind=kind, change=change, at=now, by=self.writer))
        return events

    # ------------------------------------------------------------------------------ checking

    def allows(self, authorization: bytes) -> bool:
        """Whether ``authorization`` (the raw header) is ``Bearer <a valid admin token>``."""
        ok = False
        for expected in self._expected:
            ok |= hmac.compare_digest(authorization, expected)
        return ok
