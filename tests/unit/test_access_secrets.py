"""The gateway's secrets provider and API key tokens: pure logic, no I/O beyond a resolver."""

from __future__ import annotations

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
