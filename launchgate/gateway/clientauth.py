"""Client authentication on ``/v1``: API keys from the store's registry (launchgate/access/registry.py).

Every ``/v1`` route (chat completions, models, feedback, and any added later) passes one aiohttp
middleware, installed only when keys are required (``access.required``, by default whenever the
gateway listens beyond loopback): a gateway without it pays nothing. The middleware answers
``401 invalid_api_key`` (OpenAI's shape) for a missing, unknown, revoked or expired key, and
otherwise puts the key on the request. Per request that is a dict lookup by the token's public id
and one sha256 of the token compared in constant time (~1-2 us).

Chat completions then ask ``admit``: the key's allowed models (``403 model_not_allowed``), its own
requests/tokens per minute (``429 rate_limited``) and daily budget (``429 key_budget_exceeded``).
The key's tenant becomes the request's tenant, the identity the guardrails' per-tenant limits and
budgets use (a header cannot claim another tenant), and the request log records the key id and
tenant, never the key.

The registry is re-read every ``access.poll_s`` and on SIGHUP, in a worker thread: the stored bytes
are fetched (the store protocol has no conditional GET; the object is a few KB) and only re-indexed
when their sha256 changed. When the store cannot be read the last good set stays in force and the
failure is logged and kept for ``/admin/state``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from limits import RateLimitItemPerMinute
from limits.aio import storage, strategies

from launchgate.access.registry import ANY_MODEL, KeyRegistry, parse_registry
from launchgate.access.tokens import from_authorization, key_id_of, matches
from launchgate.errors import LaunchgateError
from launchgate.gateway.guard import TenantSpend
from launchgate.gateway.payload import ChatRequest, message_text
from launchgate.gateway.proxy import REQUEST_ID_HEADER, error_body
from launchgate.store import layout
from launchgate.store.base import ArtifactStore

if TYPE_CHECKING:
    from launchgate.gateway.recorder import Outcome, Recorder

log = logging.getLogger("launchgate.gateway.access")

INVALID_API_KEY = "invalid_api_key"
LOAD_TIMEOUT_S = 30.0
_HINT = "send 'Authorization: Bearer lg_...' (keys come from `launchgate keys create`)"


@dataclass(frozen=True, slots=True)
class ClientKey:
    id: str
    tenant: str
    sha256: str
    models: frozenset[str] | None  # None: any model
    expires: float | None
    revoked: bool
    requests_per_minute: int | None
    tokens_per_minute: int | None
    daily_usd: float | None


CLIENT_KEY = web.RequestKey("client_key", ClientKey)  # where the middleware leaves the authenticated key


def index(registry: KeyRegistry) -> dict[str, ClientKey]:
    return {k.id: ClientKey(k.id, k.tenant, k.sha256, None if ANY_MODEL in k.models else frozenset(k.models),
                            k.expires_at.timestamp() if k.expires_at else None, k.revoked_at is not None,
                            k.requests_per_minute, k.tokens_per_minute, k.daily_usd)
            for k in registry.keys}


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str  # missing | unknown | revoked | expired: the metric's label
    message: str


def _unauthorized(message: str) -> web.Response:
    return web.json_response(error_body(401, INVALID_API_KEY, message), status=401,
                             headers={"WWW-Authenticate": 'Bearer realm="launchgate"'})


class ClientAuth:
    def __init__(self, store: ArtifactStore, service: str, poll_s: float,
                 on_event: Callable[[str, str], None] | None = None,
                 on_refusal: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.service = service
        self.poll_s = poll_s
        self.on_event = on_event or (lambda kind, reason: None)
        # A 401 never reaches the request log (no variant, no model call): a counter is how a flood of
        # unknown keys (a leaked URL, a brute force) shows up in Prometheus.
        self.on_refusal = on_refusal or (lambda reason: None)
        self.keys: dict[str, ClientKey] = {}
        self.version: int | None = None
        self._digest: bytes | None = None
        self.loaded_at: float | None = None
        self.last_error: str | None = None
        self.spend = TenantSpend()  # per key id, this process, the current UTC day
        mem = storage.MemoryStorage()
        self._limiter = strategies.SlidingWindowCounterRateLimiter(mem)
        self._items: dict[int, Any] = {}

    # ------------------------------------------------------------------------- the registry

    def load(self) -> bool:
        """Read the registry (blocking); True when it changed. Raises LaunchgateError when unreadable."""
        key = layout.api_keys(self.service)
        data = self.store.get(key) if self.store.exists(key) else None
        digest = hashlib.sha256(data or b"").digest()
        self.loaded_at = time.time()
        if digest == self._digest:
            return False
        registry = parse_registry(data, key)
        self.keys, self.version, self._digest = index(registry), registry.version, digest  # swapped whole
        return True

    async def refresh(self) -> None:
        """``load`` in a worker thread, bounded; on failure the last good set stays and the error is kept."""
        try:
            changed = await asyncio.wait_for(asyncio.to_thread(self.load), LOAD_TIMEOUT_S)
        except (LaunchgateError, TimeoutError, OSError) as exc:
            message = f"key registry not re-read, the last good set ({len(self.keys)} keys) stays: " \
                      f"{type(exc).__name__}: {str(exc)[:300]}"
            if self.last_error is None:
                log.warning("%s", message)
                self.on_event("keys_reload_failed", message)
            self.last_error = message
            return
        if self.last_error is not None:
            self.on_event("keys_reloaded", "key registry readable again")
        self.last_error = None
        if changed:
            log.info("key registry version %s: %d keys", self.version, len(self.keys))

    async def poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            await self.refresh()

    def status(self) -> dict[str, Any]:
        now = time.time()
        active = sum(1 for k in self.keys.values() if not k.revoked and (k.expires is None or k.expires > now))
        return {"required": True, "registry_version": self.version, "keys": len(self.keys), "active": active,
                "loaded_at": self.loaded_at, "last_error": self.last_error}

    # ----------------------------------------------------------------------------- requests

    def authenticate(self, authorization: str | None) -> ClientKey | Refusal:
        """The key, or why not (a message that never holds the token)."""
        token = from_authorization(authorization)
        if token is None:
            return Refusal("missing", f"this gateway needs an API key: {_HINT}")
        key_id = key_id_of(token)
        key = self.keys.get(key_id) if key_id is not None else None
        if key is None or not matches(token, key.sha256):
            return Refusal("unknown", f"unknown API key: {_HINT}")
        if key.revoked:
            return Refusal("revoked", f"API key {key.id} was revoked: ask for a new one")
        if key.expires is not None and key.expires <= time.time():
            return Refusal("expired", f"API key {key.id} has expired: ask for a new one")
        return key

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.path.startswith("/v1"):
            key = self.authenticate(request.headers.get("Authorization"))
            if isinstance(key, Refusal):
                self.on_refusal(key.reason)
                return _unauthorized(key.message)
            request[CLIENT_KEY] = key
        return await handler(request)

    async def admit(self, request: web.Request, chat: ChatRequest, outcome: Outcome, request_id: str,
                    recorder: Recorder) -> web.Response | None:
        """None: the key may make this call (and it is counted). Else the refusal to send."""
        key: ClientKey | None = request.get(CLIENT_KEY)
        if key is None:
            return None
        outcome.key_id, outcome.tenant = key.id, key.tenant
        if key.models is not None:
            model = chat.body.get("model")
            if model not in key.models:
                return self._refuse(outcome, request_id, 403, "model_not_allowed",
                                    f"API key {key.id} may not call model {model!r}; it may call "
                                    f"{', '.join(sorted(key.models))}", param="model")
        if key.requests_per_minute or key.tokens_per_minute:
            wait = await self._rate(key, chat)
            if wait is not None:
                return self._refuse(outcome, request_id, 429, "rate_limited",
                                    f"rate limit of API key {key.id} reached (requests or tokens per minute); "
                                    f"retry in {wait:.0f}s", headers={"Retry-After": str(int(wait))})
        if key.daily_usd is not None:
            now = time.time()
            if recorder.pending:  # every answered request's spend counts before the next is admitted
                recorder.drain()
            spent = self.spend.of(key.id, now)
            if spent >= key.daily_usd:
                midnight = (int(now) // 86400 + 1) * 86400
                return self._refuse(outcome, request_id, 429, "key_budget_exceeded",
                                    f"the daily budget of ${key.daily_usd:.2f} of API key {key.id} is spent "
                                    f"(${spent:.2f}); requests are refused until 00:00 UTC",
                                    headers={"Retry-After": str(max(1, midnight - int(now)))})
        return None

    async def _rate(self, key: ClientKey, chat: ChatRequest) -> float | None:
        if key.requests_per_minute:
            item = self._item(key.requests_per_minute)
            if not await self._limiter.hit(item, key.id):
                return self._wait((await self._limiter.get_window_stats(item, key.id)).reset_time)
        if key.tokens_per_minute:
            item = self._item(key.tokens_per_minute)
            est = sum(len(message_text(m.get("content"))) for m in chat.body["messages"]) // 4
            est += int(chat.body.get("max_tokens") or chat.body.get("max_completion_tokens") or 0)
            if not await self._limiter.hit(item, key.id, "tok", cost=max(1, min(est, item.amount))):
                return self._wait((await self._limiter.get_window_stats(item, key.id, "tok")).reset_time)
        return None

    def _item(self, per_minute: int) -> Any:
        item = self._items.get(per_minute)
        if item is None:
            item = self._items[per_minute] = RateLimitItemPerMinute(per_minute)
        return item

    @staticmethod
    def _wait(reset_time: float) -> float:
        return max(1.0, math.ceil(reset_time - time.time()))

    @staticmethod
    def _refuse(outcome: Outcome, request_id: str, status: int, code: str, message: str, *,
                param: str | None = None, headers: dict[str, str] | None = None) -> web.Response:
        outcome.status, outcome.error_code, outcome.no_evidence = status, code, True
        return web.json_response(error_body(status, code, message, param), status=status,
                                 headers={REQUEST_ID_HEADER: request_id, **(headers or {})})
