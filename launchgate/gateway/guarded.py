"""One request through the guardrails (guard.py holds their state; proxy.py calls this when set).

Order, cheapest refusal first, and nothing reaches a model that a guard refuses:

    rate limit -> input contract -> input guard -> tenant budget -> service budget
    -> degradation level -> circuit breaker -> in-flight slot -> the upstream call
    -> output contract and filter (retried once on the same variant) -> answer or fallback

Every decision appends ``(control, outcome)`` to the request's ``Outcome.guard``; the recorder
turns those into the request-log field ``guard`` and ``launchgate_gateway_guardrail_events``
after the answer is written. Answers the fallback serves carry ``X-LG-Degraded: fallback;
reason=<reason>`` and, with a handoff, ``X-LG-Handoff: <id>``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from launchgate.gateway import jsoncodec
from launchgate.gateway.config import upstream_key
from launchgate.gateway.guard import (
    CLAMPED_HEADER,
    DEGRADED_HEADER,
    GUARD_HEADER,
    HANDOFF_HEADER,
    Guard,
    GuardReject,
    OutputCheck,
)
from launchgate.gateway.httpclient import UpstreamError, UpstreamTimeout
from launchgate.gateway.payload import ChatRequest, read_completion
from launchgate.gateway.proxy import _RELAYED_HEADERS, REQUEST_ID_HEADER, VARIANT_HEADER, error_body
from launchgate.gateway.recorder import Outcome
from launchgate.gateway.tracing import phase_span
from launchgate.guardrails.canonical import canonical
from launchgate.guardrails.degradation import Level, reduce_body

if TYPE_CHECKING:
    from launchgate.gateway.config import Upstream
    from launchgate.gateway.proxy import Proxy


class GuardedCall:
    """The guarded handling of one chat completion (one object per request: no shared mutable state)."""

    def __init__(self, proxy: Proxy, guard: Guard, request: web.Request, chat: ChatRequest, variant: str,
                 upstream: Upstream | None, request_id: str, outcome: Outcome, t0: float, started: float) -> None:
        self.proxy, self.g, self.request, self.chat = proxy, guard, request, chat
        self.variant, self.upstream, self.request_id = variant, upstream, request_id
        self.outcome, self.t0, self.started = outcome, t0, started
        self.events: list[tuple[str, str]] = []
        outcome.guard = self.events
        self.headers: dict[str, str] = {REQUEST_ID_HEADER: request_id, VARIANT_HEADER: variant}

    def _error(self, status: int, code: str, message: str, *, param: str | None = None,
               headers: dict[str, str] | None = None) -> web.Response:
        self.outcome.status, self.outcome.error_code = status, code
        # Not the upstream's relayed Content-Type: this answer is the gateway's own JSON.
        out = {k: v for k, v in self.headers.items() if k != "Content-Type"}
        return web.json_response(error_body(status, code, message, param), status=status,
                                 headers={**out, **(headers or {})})

    async def run(self) -> web.StreamResponse:
        g, chat, outcome = self.g, self.chat, self.outcome
        # An authenticated API key's tenant (clientauth.py) is the identity; the header only without keys.
        outcome.tenant = tenant = outcome.tenant or g.tenant(self.request.headers)
        try:
            await self._rate_limit(tenant)
            clamped = self._input_contract()
            await self._input_guard()
            self._tenant_budget(tenant)
        except GuardReject as r:
            self.events.append((r.control, r.code))
            outcome.no_evidence = True  # refused before any model was asked: says nothing about a variant
            return self._error(r.status, r.code, r.message, param=r.param, headers=r.headers)
        if clamped:
            self.headers[CLAMPED_HEADER] = clamped
        proxy = self.proxy
        if proxy.budget is not None and not self._service_budget():
            outcome.no_evidence = True
            if g.wants_fallback("budget_exceeded"):
                return await self.fallback("budget_exceeded")
            status, body, extra = proxy.budget.rejection(self.started)
            outcome.status, outcome.error_code = status, "budget_exceeded"
            self.events.append(("budget", "budget_exceeded"))
            return web.json_response(body, status=status, headers={**self.headers, **extra})
        # The operator's level; an automatic fallback_only (every serving breaker open) is answered by the
        # breaker below, with its own reason, and still lets the half-open probe through.
        level = g.level
        if level is Level.FALLBACK_ONLY:
            outcome.no_evidence = True
            return await self.fallback("degraded")
        if level is Level.REDUCED:
            d = g.rails.degradation
            reduce_body(chat.body, d.reduced_max_tokens, d.drop_features)
            self.headers[DEGRADED_HEADER] = "reduced"
            self.events.append(("degradation", "reduced"))
        if self.upstream is None:
            return self._error(503, "no_upstream", f"no upstream configured for variant {self.variant!r}")
        breaker = g.breakers.get(self.variant)
        if breaker is not None and not breaker.allow(time.monotonic()):
            self.events.append(("breaker", "breaker_open"))
            outcome.status, outcome.error_code = 503, "breaker_open"
            if g.wants_fallback("breaker_open"):
                return await self.fallback("breaker_open")
            return self._error(503, "breaker_open", f"the {self.variant} upstream is failing; its circuit breaker "
                               "is open", headers={"Retry-After": str(int(g.rails.breaker.open_s))})
        slots = g.slots.get(self.variant)
        if slots is not None and not await slots.acquire():
            if breaker is not None:
                breaker.abandon()
            self.events.append(("backpressure", "overloaded"))
            outcome.no_evidence = True
            return self._error(503, "overloaded", f"the {self.variant} upstream has {slots.limit} requests in "
                               f"flight and {slots.queued} waiting; retry shortly",
                               headers={"Retry-After": str(g.retry_after_s)})
        recorded: list[bool] = []

        def record(ok: bool, now: float) -> None:
            recorded.append(ok)
            if breaker is not None:
                breaker.record(ok, now)

        try:
            return await self._call(record)
        finally:
            if slots is not None:
                slots.release()
            if breaker is not None and not recorded:
                breaker.abandon()  # a half-open probe that never got an answer must not block the next one

    # The guard phases, one method each: TracedGuardedCall wraps each in a span when tracing records.

    async def _rate_limit(self, tenant: str | None) -> None:
        await self.g.check_rate(self.request.headers, tenant, self.chat)

    def _input_contract(self) -> str | None:
        return self.g.check_input(self.chat, self.events)

    async def _input_guard(self) -> None:
        g = self.g
        hits = await self._classify() if g.rails.input_guard.classifier_url else None
        if g.check_guard(self.chat, self.events, hits):
            self.outcome.flag = "input_guard"
            self.headers[GUARD_HEADER] = "flagged"

    def _tenant_budget(self, tenant: str | None) -> None:
        g, recorder = self.g, self.proxy.recorder
        pending = recorder.pending
        if tenant is not None and pending and g.tenant_near_cap(tenant, self.started, pending):
            recorder.drain()  # near the cap, every answered request's spend counts first
        g.check_tenant_budget(tenant, self.started)

    def _service_budget(self) -> bool:
        return self.proxy._budget_allows(self.started)

    def _output_check(self, body: bytes) -> OutputCheck:
        return self.g.check_answer(body)

    async def _call(self, record: Callable[[bool, float], None]) -> web.StreamResponse:
        g, chat, outcome, proxy = self.g, self.chat, self.outcome, self.proxy
        upstream = self.upstream
        assert upstream is not None
        body_out = chat.upstream_body(upstream.model, upstream.system_prompt)
        attempt = 0
        while True:
            try:
                up = await proxy._send("POST", f"{upstream.url}/chat/completions", outcome,
                                       proxy._headers(upstream, self.request_id, chat.stream), body_out, chat.stream)
            except UpstreamTimeout:
                return await self._failed(record, 504, "upstream_timeout", f"the {self.variant} upstream did not "
                                          f"answer within {proxy.cfg.upstream_timeout_s:g}s")
            except UpstreamError as exc:
                return await self._failed(record, 502, "upstream_error", f"the {self.variant} upstream is "
                                          f"unreachable ({type(exc).__name__})")
            try:
                for key, name in _RELAYED_HEADERS:
                    value = up.headers.get(key)
                    if value is not None:
                        self.headers[name] = value
                if chat.stream and up.status == 200 and up.content_type == "text/event-stream":
                    record(True, time.monotonic())
                    return await proxy._relay_stream(self.request, up, chat, self.headers, outcome, self.t0,
                                                     self.variant, validate=g.stream_validator())
                try:
                    body = await up.read()
                except UpstreamTimeout:
                    return await self._failed(record, 504, "upstream_timeout", f"the {self.variant} upstream did not "
                                              f"finish its answer within {proxy.cfg.upstream_timeout_s:g}s")
                except UpstreamError as exc:
                    return await self._failed(record, 502, "upstream_error", f"the {self.variant} upstream broke "
                                              f"off its answer ({type(exc).__name__})")
            finally:
                up.release()
            record(up.status < 500, time.monotonic())
            outcome.status, outcome.body = up.status, body
            if up.status >= 500:
                outcome.error_code = None  # the recorder reads the upstream's own code from the body
                if g.wants_fallback("upstream_error"):
                    return await self.fallback("upstream_error")
                return web.Response(body=body, status=up.status, headers=self.headers)
            if up.status != 200 or not g.checks_output:
                return web.Response(body=body, status=up.status, headers=self.headers)
            check = self._output_check(body)
            self.events.extend(check.events)
            if check.body is not None:
                if check.repaired:  # the caller gets clean JSON; the log keeps the model's own failure
                    outcome.first_invalid = True
                if check.flagged:
                    outcome.flag = "output_filter"
                    self.headers[GUARD_HEADER] = "flagged"
                if any(e == ("output_filter", "redacted") for e in check.events):
                    self.headers[GUARD_HEADER] = "redacted"
                outcome.body = check.body
                return web.Response(body=check.body, status=200, headers=self.headers)
            reason = check.reason or "output_invalid"
            if reason == "output_invalid":
                outcome.first_invalid = True  # logged as schema_ok false: the judge sees the model's real rate
            if reason == "output_invalid" and attempt < g.output_retries:
                attempt += 1
                outcome.retries += 1
                self.events.append(("output_contract", "retried"))
                continue
            if reason == "output_invalid":
                self.events.append(("output_contract", "output_invalid"))
            if g.wants_fallback(reason):
                return await self.fallback(reason)
            return self._error(502, reason, f"the {self.variant} answer failed the service's output "
                               f"{'contract' if reason == 'output_invalid' else 'filter'}")

    async def _failed(self, record: Callable[[bool, float], None], status: int, code: str,
                      message: str) -> web.StreamResponse:
        record(False, time.monotonic())
        self.outcome.status, self.outcome.error_code = status, code
        if code == "upstream_timeout":
            self.outcome.timed_out = True
        if self.g.wants_fallback(code):
            return await self.fallback(code)
        return self._error(status, code, message)

    async def _classify(self) -> list[str] | None:
        """Ask the configured classifier (POST {"text"} -> {"flagged", "label"}); None = it failed, so
        the heuristics decide (the request is never refused because the classifier is down)."""
        ig = self.g.rails.input_guard
        client = self.proxy.client
        assert ig.classifier_url is not None and client is not None
        body = jsoncodec.dumps({"text": self.chat.user_text})
        try:
            up = await client.request("POST", ig.classifier_url, {"Content-Type": "application/json"}, body,
                                      connect_timeout=ig.classifier_timeout_s, read_timeout=ig.classifier_timeout_s,
                                      total_timeout=ig.classifier_timeout_s)
            try:
                raw = await up.read()
            finally:
                up.release()
            verdict = jsoncodec.loads(raw) if up.status == 200 else None
        except (UpstreamError, ValueError):
            verdict = None
        if not isinstance(verdict, dict) or not isinstance(verdict.get("flagged"), bool):
            self.events.append(("input_guard", "classifier_failed"))
            return None
        return ["classifier"] if verdict["flagged"] else []

    async def fallback(self, reason: str) -> web.StreamResponse:
        """The fallback answer (endpoint first when configured, then the static answer), with a handoff."""
        g, outcome = self.g, self.outcome
        self.events.append(("fallback", reason))
        outcome.fallback = reason
        if g.rails.handoff.enabled and g.rails.handoff.on_fallback:
            outcome.handoff_id = os.urandom(8).hex()
            self.headers[HANDOFF_HEADER] = outcome.handoff_id
        content = await self._endpoint_answer() if g.fallback_endpoint is not None else None
        if content is None and g.fallback_content is None:
            self.events.append(("fallback", "fallback_unavailable"))
            return self._error(503, "fallback_unavailable", "the service cannot answer right now and has no "
                               "fallback; retry later", headers={"Retry-After": str(g.retry_after_s)})
        self.headers[DEGRADED_HEADER] = f"fallback; reason={reason}"
        body = g.fallback_body(self.request_id, self.chat.stream, content)
        ctype = "text/event-stream" if self.chat.stream else "application/json"
        return web.Response(body=body, status=200, headers={**self.headers, "Content-Type": ctype})

    async def _endpoint_answer(self) -> str | None:
        """The fallback model's answer content, if it answers in time and passes the output checks."""
        ep = self.g.fallback_endpoint
        client = self.proxy.client
        assert ep is not None and client is not None
        headers = {"Content-Type": "application/json", "Accept": "application/json", "Accept-Encoding": "identity",
                   REQUEST_ID_HEADER: self.request_id}
        key = upstream_key(ep.api_key_env) if ep.api_key_env else None  # re-read on SIGHUP when configured
        if key:
            headers["Authorization"] = f"Bearer {key}"
        stream, self.chat.stream = self.chat.stream, False
        try:
            body = self.chat.upstream_body(ep.model)
        finally:
            self.chat.stream = stream
        try:
            up = await client.request("POST", f"{ep.url}/chat/completions", headers, body,
                                      connect_timeout=min(ep.timeout_s, 2.0), read_timeout=ep.timeout_s,
                                      total_timeout=ep.timeout_s)
            try:
                raw = await up.read()
            finally:
                up.release()
        except UpstreamError:
            self.events.append(("fallback", "endpoint_failed"))
            return None
        if up.status != 200:
            self.events.append(("fallback", "endpoint_failed"))
            return None
        parsed, reason, _, _ = self.g.check_content(read_completion(raw).content)
        if reason is not None or parsed is None:
            self.events.append(("fallback", "endpoint_invalid"))
            return None
        return canonical(parsed, self.g.output_schema)


class TracedGuardedCall(GuardedCall):
    """GuardedCall with a span per guard phase; used only when the gateway records spans (app.py picks
    the class once), so a gateway without tracing pays nothing for it."""

    async def _rate_limit(self, tenant: str | None) -> None:
        with phase_span("guard rate limit"):
            await super()._rate_limit(tenant)

    def _input_contract(self) -> str | None:
        with phase_span("guard input contract"):
            return super()._input_contract()

    async def _input_guard(self) -> None:
        with phase_span("guard input guard"):
            await super()._input_guard()

    def _tenant_budget(self, tenant: str | None) -> None:
        with phase_span("guard tenant budget"):
            super()._tenant_budget(tenant)

    def _service_budget(self) -> bool:
        with phase_span("guard service budget"):
            return super()._service_budget()

    def _output_check(self, body: bytes) -> OutputCheck:
        with phase_span("guard output validation"):
            return super()._output_check(body)
