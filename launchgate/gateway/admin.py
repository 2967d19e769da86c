"""The admin API under ``/admin`` (bearer token required), used by the canary and rollback steps.

    GET    /admin/state                      weights, release id, lease, last 50 events, upstreams
    POST   /admin/weights    {"candidate": 0..100, "reason": str, "release_id"?: str}     -> state
    GET    /admin/stats?since=<unix ts>&variant=<name>                                     -> windowed stats
    POST   /admin/lease      {"holder": str, "ttl_s": float}   acquire or renew; 409 if held by another
    DELETE /admin/lease?holder=<holder>                        release                   -> state
    POST   /admin/upstreams  {"candidate": {"url", "model", "prompt_version"}, "release_id"?} -> state
    GET    /admin/guard                      guardrails: level, breakers, in-flight, last level changes
    POST   /admin/degradation {"level": normal|reduced|fallback_only, "reason": str, "by": str}   -> guard

Errors use the OpenAI error shape: 400 ``invalid_request``, 401 ``unauthorized``, 409
``lease_held`` / ``no_upstream``, and for unknown paths or methods 404 ``not_found`` / 405
``method_not_allowed`` (fallback.py). The token is compared in constant time and never logged.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from launchgate.errors import LaunchgateError
from launchgate.gateway.config import Upstream
from launchgate.gateway.fallback import add_fallback
from launchgate.gateway.proxy import error_body
from launchgate.gateway.routing import CANDIDATE, STABLE
from launchgate.gateway.secretset import GatewaySecrets
from launchgate.gateway.state import GatewayState, StateConflict
from launchgate.gateway.window import StatsWindow

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WeightsBody(_Body):
    candidate: float = Field(ge=0, le=100, description="percent of traffic to the candidate")
    reason: str = Field(min_length=1, max_length=500)
    release_id: str | None = Field(default=None, max_length=200)


class LeaseBody(_Body):
    holder: str = Field(min_length=1, max_length=200)
    ttl_s: float = Field(gt=0, le=3600)


class DegradationBody(_Body):
    level: str = Field(pattern=r"^(normal|reduced|fallback_only)$")
    reason: str = Field(min_length=1, max_length=500)
    by: str = Field(min_length=1, max_length=200, description="who: a person or a tool, for the audit")


class UpstreamsBody(_Body):
    candidate: Upstream | None = None
    stable: Upstream | None = None
    release_id: str | None = Field(default=None, max_length=200)
    reason: str = Field(default="", max_length=500)


def _fail(status: int, code: str, message: str) -> web.Response:
    return web.json_response(error_body(status, code, message), status=status)


def token_guard(token: str | GatewaySecrets) -> Callable[[Handler], Handler]:
    """Wraps each admin handler in the token check. Not a middleware: any middleware in the app
    tree makes aiohttp run its middleware chain on every proxied request too. ``token`` is the
    gateway's secrets provider (secretset.py: every currently valid token, compared in constant
    time, re-read on SIGHUP), or one fixed token."""
    secrets = GatewaySecrets.static(token) if isinstance(token, str) else token

    def guard(handler: Handler) -> Handler:
        async def check(request: web.Request) -> web.StreamResponse:
            if not secrets.allows(request.headers.get("Authorization", "").encode()):
                resp = _fail(401, "unauthorized", "the admin API needs 'Authorization: Bearer <token>'")
                resp.headers["WWW-Authenticate"] = 'Bearer realm="launchgate-admin"'
                return resp
            return await handler(request)

        return check

    return guard


async def _json(request: web.Request, model: type[_Body]) -> Any:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text=json.dumps(error_body(400, "invalid_request", "body is not valid JSON")),
                                 content_type="application/json") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                             for e in exc.errors(include_url=False))
        raise web.HTTPBadRequest(text=json.dumps(error_body(400, "invalid_request", problems)),
                                 content_type="application/json") from None


def stats_query(request: web.Request) -> tuple[float, list[str]] | web.Response:
    """GET /admin/stats's parameters (since, variant), or the 400 that names the bad one."""
    try:
        since = float(request.query.get("since", "0"))
    except ValueError:
        return _fail(400, "invalid_request", "since must be a unix timestamp (seconds, float)")
    variant = request.query.get("variant")
    if variant is not None and variant not in (STABLE, CANDIDATE):
        return _fail(400, "invalid_request", f"unknown variant {variant!r}: use stable or candidate")
    return since, [variant] if variant else [STABLE, CANDIDATE]


class AdminAPI:
    def __init__(self, state: GatewayState, stats: StatsWindow, drain: Callable[[], object] = lambda: None,
                 guard: Any = None) -> None:
        self.state = state
        self.stats = stats
        self.drain = drain  # records the requests answered so far (recorder.py) before stats are read
        self.guard = guard  # launchgate.gateway.guard.Guard when the config has guardrails

    def app(self, token: str | GatewaySecrets) -> web.Application:
        """The admin API as a sub-application for ``/admin``: the token check guards exactly these
        routes, and the proxy's routes never pay for it."""
        guard = token_guard(token)
        app = web.Application()
        app.add_routes([
            web.get("/state", guard(self.get_state)),
            web.post("/weights", guard(self.post_weights)),
            web.get("/stats", guard(self.get_stats)),
            web.post("/lease", guard(self.post_lease)),
            web.delete("/lease", guard(self.delete_lease)),
            web.post("/upstreams", guard(self.post_upstreams)),
            web.get("/guard", guard(self.get_guard)),
            web.post("/degradation", guard(self.post_degradation)),
        ])
        add_fallback(app, subapp=True)  # unknown admin paths and methods: JSON too, token or not
        return app

    def _state(self) -> web.Response:
        body = self.state.snapshot()
        if self.guard is not None:  # breakers and level: what `launchgate status` shows beside the weights
            body["guard"] = self.guard.snapshot()
        return web.json_response(body)

    async def get_state(self, request: web.Request) -> web.StreamResponse:
        return self._state()

    async def post_weights(self, request: web.Request) -> web.StreamResponse:
        body: WeightsBody = await _json(request, WeightsBody)
        try:
            self.state.set_weights(body.candidate, body.reason, body.release_id)
        except StateConflict as exc:
            return _fail(409, exc.code, str(exc))
        return self._state()

    async def get_stats(self, request: web.Request) -> web.StreamResponse:
        self.drain()
        now = time.time()
        query = stats_query(request)
        if isinstance(query, web.Response):
            return query
        since, variants = query
        return web.json_response({
            "since": since,
            "now": now,
            "variants": self.stats.query(since, variants),
            # False when the ring buffer has already forgotten part of the window.
            "window_complete": self.stats.complete(since, variants),
        })

    async def post_lease(self, request: web.Request) -> web.StreamResponse:
        body: LeaseBody = await _json(request, LeaseBody)
        try:
            self.state.acquire_lease(body.holder, body.ttl_s)
        except StateConflict as exc:
            return _fail(409, exc.code, str(exc))
        return self._state()

    async def delete_lease(self, request: web.Request) -> web.StreamResponse:
        holder = request.query.get("holder", "")
        if not holder:
            return _fail(400, "invalid_request", "holder query parameter is required")
        try:
            self.state.release_lease(holder)
        except StateConflict as exc:
            return _fail(409, exc.code, str(exc))
        return self._state()

    async def post_upstreams(self, request: web.Request) -> web.StreamResponse:
        body: UpstreamsBody = await _json(request, UpstreamsBody)
        if body.candidate is None and body.stable is None:
            return _fail(400, "invalid_request",
                         "give a candidate (and/or stable) upstream: {url, model, prompt_version}")
        if body.stable is not None:
            self.state.upstreams[STABLE] = body.stable
            self.state.record("upstream", f"stable -> {body.stable.model}@{body.stable.url} "
                                          f"(prompt {body.stable.prompt_version}) {body.reason}".rstrip())
        if body.candidate is not None:
            self.state.set_candidate(body.candidate, body.release_id, body.reason)
        elif body.release_id:
            self.state.release_id = body.release_id
        return self._state()

    # ----------------------------------------------------------------------------- guardrails

    def _no_guard(self) -> web.Response:
        return _fail(409, "no_guardrails", "this gateway runs without guardrails: add a guardrails: section to "
                                           "release.yaml and restart it")

    async def get_guard(self, request: web.Request) -> web.StreamResponse:
        if self.guard is None:
            return self._no_guard()
        return web.json_response(self.guard.snapshot())

    async def post_degradation(self, request: web.Request) -> web.StreamResponse:
        """Set the degradation level; the change (who, when, why) is stored before the answer."""
        if self.guard is None:
            return self._no_guard()
        body: DegradationBody = await _json(request, DegradationBody)
        from launchgate.guardrails.degradation import Level
        change = self.guard.set_level(Level.parse(body.level), body.by, body.reason)
        try:
            await asyncio.to_thread(self.guard.persist_change, change)
        except LaunchgateError as exc:  # the level holds in this process; say the audit record is missing
            return web.json_response({**self.guard.snapshot(), "audit_error": str(exc)[:300]}, status=207)
        return web.json_response(self.guard.snapshot())
