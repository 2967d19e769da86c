"""API key tokens: ``lg_<id>_<secret>``, where only the id is ever shown, logged or listed.

The secret is 32 bytes from ``secrets.token_urlsafe`` (256 bits), so the stored hash is a plain
sha256 of the whole token: with that much entropy no guessing attack can use a fast hash, and a
deliberately slow one (bcrypt, argon2: tens of milliseconds by design) would cost every request
that much. sha256 of a ~55-byte token is about a microsecond on the request path.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

PREFIX = "lg_"
# The key launchgate's own callers of a gateway's /v1 send (the canary's and the shadow step's traffic),
# for a gateway that requires keys; unset, they send none.
CLIENT_KEY_ENV = "LAUNCHGATE_GATEWAY_API_KEY"
ID_CHARS = 12  # hex: 48 bits, unique within any registry a person will keep
_ID_END = len(PREFIX) + ID_CHARS


def new_token() -> tuple[str, str]:
    """A fresh ``(key_id, token)``; the token is shown once and never stored."""
    key_id = secrets.token_hex(ID_CHARS // 2)
    return key_id, f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def key_id_of(token: str) -> str | None:
    """The public id inside a token, or None when it is not shaped like one of ours."""
    if len(token) <= _ID_END + 1 or not token.startswith(PREFIX) or token[_ID_END] != "_":
        return None
    return token[len(PREFIX):_ID_END]


def from_authorization(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None when absent or another scheme)."""
    if not header or not header.startswith("Bearer "):
        return None
    return header[7:].strip() or None


def matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(token), stored_hash)


def with_client_key(headers: dict[str, str] | None) -> dict[str, str] | None:
    """``headers`` plus ``Authorization: Bearer $LAUNCHGATE_GATEWAY_API_KEY`` when that is set (and no
    Authorization is given)."""
    key = os.environ.get(CLIENT_KEY_ENV)
    if not key or (headers and "Authorization" in headers):
        return headers
    return {**(headers or {}), "Authorization": f"Bearer {key}"}
