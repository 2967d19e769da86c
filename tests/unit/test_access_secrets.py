"""The gateway's secrets provider, API key tokens and the key registry reload (a resolver, a temporary local store)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from launchgate.access.tokens import from_authorization, key_id_of, matches, new_token, token_hash
from launchgate.errors import InputError
from launchgate.gateway.secretset import GatewaySecrets

TOKEN = "t" * 32


def test_an_unreachable_source_keeps_the_tokens_it_gave_and_start_needs_one() -> None:
    answers: dict[str, object] = {"current": TOKEN}

    def vault(name: str) -> str:
        value = answers[name]
        if isinstance(value, Exception):
            raise value
        return str(value)

    secrets = GatewaySecrets(["prefect:current", "prefect:next"], resolvers={"prefect": vault})
    secrets.load()
    assert secrets.allows(f"Bearer {TOKEN}".encode()) and not secrets.allows(b"Bearer " + b"x" * 32)
    answers["current"] = ConnectionError("down")  # the source fails: the token held stays valid
    assert secrets.load() == [] and secrets.allows(f"Bearer {TOKEN}".encode())
    assert secrets.last_reload["ok"] is False and TOKEN not in repr(secrets.last_reload)
    answers["current"] = "short"  # too short to be a token: a gateway cannot start on it alone
    with pytest.raises(InputError, match="no admin token"):
        GatewaySecrets(["prefect:current"], resolvers={"prefect": vault}).load()


def test_tokens_carry_a_public_id_and_are_matched_by_hash() -> None:
    key_id, token = new_token()
    assert token.startswith(f"lg_{key_id}_") and key_id_of(token) == key_id and len(token) > 50
    assert matches(token, token_hash(token)) and not matches(token + "x", token_hash(token))
    assert key_id_of("sk-something-else") is None and key_id_of("lg_short") is None
    assert from_authorization(f"Bearer {token}") == token and from_authorization("Basic abc") is None


def test_an_unreadable_registry_keeps_the_last_good_keys(tmp_path: Path) -> None:
    from launchgate.access.registry import ApiKey, KeyRegistry
    from launchgate.gateway.clientauth import ClientAuth, Refusal
    from launchgate.store import LocalStore, layout
    from launchgate.store.bundle import to_json_bytes

    store = LocalStore(tmp_path)
    key_id, token = new_token()
    good = KeyRegistry(version=1, keys=[ApiKey(id=key_id, tenant="acme", sha256=token_hash(token),
                                               created_at=datetime.now(UTC), created_by="alice")])
    store.put(layout.api_keys("svc"), to_json_bytes(good), "application/json")
    events: list[tuple[str, str]] = []
    auth = ClientAuth(store, "svc", poll_s=1, on_event=lambda kind, reason: events.append((kind, reason)))
    asyncio.run(auth.refresh())
    assert auth.authenticate(f"Bearer {token}") == auth.keys[key_id] and auth.last_error is None
    store.put(layout.api_keys("svc"), b"{not json", "application/json")  # a broken write, or the store is down
    asyncio.run(auth.refresh())
    assert auth.authenticate(f"Bearer {token}") == auth.keys[key_id]  # the last good set still holds
    assert auth.last_error is not None and events[-1][0] == "keys_reload_failed" and token not in auth.last_error
    store.put(layout.api_keys("svc"), to_json_bytes(good.model_copy(update={"version": 2, "keys": []})),
              "application/json")
    asyncio.run(auth.refresh())
    assert auth.last_error is None and isinstance(auth.authenticate(f"Bearer {token}"), Refusal)
