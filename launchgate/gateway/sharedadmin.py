"""The admin API of a gateway replica with shared routing state (gateway.replicas.shared_state).

Same routes and bodies as admin.py; every change is written through to the shared routing-state
document first (a conditional write) and then applied here, so no admin call changes only the
replica it reached: the others apply the new version within their poll interval. When the store
cannot take the write the answer is 503 ``state_unavailable`` and nothing changed anywhere, except
a move to 0% candidate, which this replica applies anyway (stable is always safe; the others
return to stable on their own once the state has been unreadable for the lease's ttl).

GET /admin/stats answers the sum over all replicas (replicas.py), with a ``replicas`` table and the
``missing_replicas`` whose requests the sum may lack. GET /admin/state adds a ``shared`` block.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from launchgate.errors import LaunchgateError, StoreError
from launchgate.gateway.admin import (
    AdminAPI,
    DegradationBody,
    LeaseBody,
    UpstreamsBody,
    WeightsBody,
    _fail,
    _json,
    stats_query,
)
from launchgate.gateway.replicas import SharedState
from launchgate.gateway.routing import STABLE
from launchgate.gateway.routingdoc import ChangeDoc, DegradationDoc, Operation, RoutingDoc
from launchgate.gateway.state import GatewayState, StateConflict
from launchgate.gateway.window import StatsWindow


class SharedAdminAPI(AdminAPI):
    def __init__(self, shared: SharedState, state: GatewayState, stats: StatsWindow, drain: Any = lambda: None,
                 guard: Any = None) -> None:
        super().__init__(state, stats, drain, guard)
        self.shared = shared

    def _state(self) -> web.Response:
        body = self.state.snapshot()
        if self.guard is not None:
            body["guard"] = self.guard.snapshot()
        sh = self.shared
        body["shared"] = {"replica": sh.replica, "version": sh.applied, "read_at": sh.read_at,
                          "applied_at": sh.applied_at, "store_error": sh.last_error,
                          "change": sh.doc.change.model_dump() if sh.doc and sh.doc.change else None}
        return web.json_response(body)

    async def _write(self, op: Operation) -> web.Response | None:
        """None when written and applied; else the error answer."""
        try:
            await self.shared.write_through(op)
        except StateConflict as exc:
            return _fail(409, exc.code, str(exc))
        except ValueError as exc:
            return _fail(400, "invalid_request", str(exc))
        except StoreError as exc:
            return _fail(503, "state_unavailable", f"the shared routing state cannot be written ({str(exc)[:300]}): "
                                                   f"nothing changed on any replica; retry when the store answers")
        return None

    async def post_weights(self, request: web.Request) -> web.StreamResponse:
        body: WeightsBody = await _json(request, WeightsBody)

        def op(s: GatewayState, d: RoutingDoc) -> None:
            s.set_weights(body.candidate, body.reason, body.release_id)

        failed = await self._write(op)
        if failed is not None and failed.status == 503 and body.candidate == 0:
            self.state.set_weights(0, f"{body.reason} (this replica only: the shared state is unwritable)")
            return _fail(503, "state_unavailable", "the shared routing state cannot be written: this replica now "
                                                   "routes 100% to stable; the others do so once the state has been "
                                                   "unreadable for the lease's ttl")
        return failed or self._state()

    async def post_lease(self, request: web.Request) -> web.StreamResponse:
        body: LeaseBody = await _json(request, LeaseBody)

        def op(s: GatewayState, d: RoutingDoc) -> None:
            s.acquire_lease(body.holder, body.ttl_s)

        return await self._write(op) or self._state()

    async def delete_lease(self, request: web.Request) -> web.StreamResponse:
        holder = request.query.get("holder", "")
        if not holder:
            return _fail(400, "invalid_request", "holder query parameter is required")

        def op(s: GatewayState, d: RoutingDoc) -> None:
            s.release_lease(holder)

        return await self._write(op) or self._state()

    async def post_upstreams(self, request: web.Request) -> web.StreamResponse:
        body: UpstreamsBody = await _json(request, UpstreamsBody)
        if body.candidate is None and body.stable is None:
            return _fail(400, "invalid_request",
                         "give a candidate (and/or stable) upstream: {url, model, prompt_version}")

        def op(s: GatewayState, d: RoutingDoc) -> None:
            if body.stable is not None:
                s.upstreams[STABLE] = body.stable
                s.record("upstream", f"stable -> {body.stable.model}@{body.stable.url} "
                                     f"(prompt {body.stable.prompt_version}) {body.reason}".rstrip())
            if body.candidate is not None:
                s.set_candidate(body.candidate, body.release_id, body.reason)
            elif body.release_id:
                s.release_id = body.release_id

        return await self._write(op) or self._state()

    async def post_degradation(self, request: web.Request) -> web.StreamResponse:
        if self.guard is None:
            return self._no_guard()
        body: DegradationBody = await _json(request, DegradationBody)
        previous = self.guard.level.label

        def op(s: GatewayState, d: RoutingDoc) -> None:
            d.degradation = DegradationDoc(level=body.level, by=body.by, reason=body.reason)
            d.change = ChangeDoc(kind="degradation", reason=f"level -> {body.level} by {body.by}: {body.reason}",
                                 by="", at=0.0)

        failed = await self._write(op)
        if failed is not None:
            return failed
        from launchgate.guardrails.degradation import LevelChange

        change = LevelChange(level=body.level, previous=previous, by=body.by, reason=body.reason)
        try:  # the audit record, as a single gateway keeps it
            await asyncio.to_thread(self.guard.persist_change, change)
        except LaunchgateError as exc:
            return web.json_response({**self.guard.snapshot(), "audit_error": str(exc)[:300]}, status=207)
        return web.json_response(self.guard.snapshot())

    async def get_stats(self, request: web.Request) -> web.StreamResponse:
        query = stats_query(request)
        if isinstance(query, web.Response):
            return query
        since, variants = round(query[0], 3), query[1]
        try:
            merged = await self.shared.stats(since, variants, self.stats, self.drain)
        except StoreError as exc:
            return _fail(503, "state_unavailable", f"the replicas' stats cannot be read: {str(exc)[:300]}")
        return web.json_response({"since": since, "now": time.time(), "variants": merged["variants"],
                                  "window_complete": merged["window_complete"], "replicas": merged["replicas"],
                                  "missing_replicas": merged["missing"], "pending_replicas": merged["pending"]})
