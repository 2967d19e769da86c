"""The OpenAI-compatible half of the gateway: ``POST /v1/chat/completions`` and ``GET /v1/models``.

One request: pick a variant (weights, or sticky by ``X-LG-Session``), forward the body with the
upstream's model name, relay the answer (streamed chunk by chunk when ``stream`` is set), then
hand what happened to the recorder (recorder.py). Reading the answer, the schema check, cost,
redaction, the request log line, stats and Prometheus all run there, in batches after the last
byte is written, so none of it adds to the latency a client sees. Upstream calls go through
httpclient.py's keep-alive pool.

Errors the gateway itself produces use OpenAI's error shape with these codes:

    invalid_request   400  body is not JSON / has no messages
    request_too_large 413  body above max_body_bytes
    no_upstream       503  the chosen variant has no upstream configured
    upstream_error    502  connection refused/reset, or an unreadable answer
    upstream_timeout  504  no answer (or no next chunk) within upstream_timeout_s
    budget_exceeded   429  the day's budget (budget.daily_usd) is spent: see launchgate/gateway/budget.py
    gateway_error     500  a bug in the gateway (logged with its traceback)
    not_found         404  no such path (fallback.py, for the whole gateway)
    method_not_allowed 405 the path exists, not with this method (``Allow`` lists the methods)

Upstream HTTP errors (429, 500, ...) are relayed unchanged, since they already speak OpenAI.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from launchgate.gateway.budget import BUDGET_EXCEEDED, BudgetGuard
from launchgate.gateway.config import GatewayConfig, Upstream
from launchgate.gateway.httpclient import (
    UpstreamClient,
    UpstreamClosedError,
    UpstreamConnectError,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
)
from launchgate.gateway.payload import ChatRequest, PayloadError, SSEAccumulator, parse_chat_request
from launchgate.gateway.recorder import GATEWAY_CODES, Finished, Outcome, Recorder
from launchgate.gateway.routing import choose_variant
from launchgate.gateway.state import GatewayState
from launchgate.gateway.tracing import trace_upstream
from launchgate.gateway.window import CLIENT_CLOSED

log = logging.getLogger("launchgate.gateway")

__all__ = ["GATEWAY_CODES", "Outcome", "Proxy", "error_body", "error_response"]

SESSION_HEADER = "X-LG-Session"
VARIANT_HEADER = "X-LG-Variant"
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")  # anything else is replaced: it goes into logs
# (name in the upstream's answer, lower case as httpclient keeps it; name relayed to the client)
_RELAYED_HEADERS = (("content-type", "Content-Type"), ("retry-after", "Retry-After"),
                    ("retry-after-ms", "retry-after-ms"))
KEEPALIVE_S = 30.0  # idle upstream connections are dropped after this
_DONE = b"data: [DONE]\n\n"


def _request_id(request: web.Request) -> str:
    """The client's X-Request-ID if it is safe to log, else a fresh one (urandom: 10x cheaper than uuid4)."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _REQUEST_ID.match(given) else os.urandom(16).hex()


def error_body(status: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "api_error"
    return {"error": {"message": message, "type": kind, "code": code, "param": param}}


def error_response(status: int, code: str, message: str, request_id: str, *, param: str | None = None,
                   variant: str | None = None) -> web.Response:
    headers = {REQUEST_ID_HEADER: request_id}
    if variant:
        headers[VARIANT_HEADER] = variant
    return web.json_response(error_body(status, code, message, param), status=status, headers=headers)


class Proxy:
    def __init__(self, cfg: GatewayConfig, state: GatewayState, recorder: Recorder,
                 rng: random.Random | None = None) -> None:
        self.cfg = cfg
        self.state = state
        self.recorder = recorder
        self.budget: BudgetGuard | None = None  # set by Gateway when cfg.budget is set
        # Set by Gateway when the config has guardrails: the guard's state and the per-request flow
        # (guarded.py), which then answers every chat completion in place of the plain relay below.
        self.guard: Any = None
        self.guarded: Any = None
        self.rng = rng or random.Random()
        self.client: UpstreamClient | None = None
        self.shadow: Any = None  # set by Gateway: mirrors a sample of stable's requests (shadow.py)
        self.review: Any = None  # set by Gateway: samples served answers for human review (review.py)
        self.access: Any = None  # set by Gateway when /v1 needs API keys: the key's scopes and limits (clientauth.py)
        self._subject_header = cfg.subject_header
        self._subject_field = cfg.subject_field

    async def start(self) -> None:
        # A bounded pool per upstream: when an upstream slows down, requests wait for a connection
        # (within the connect timeout) instead of opening ever more sockets, which only deepens the
        # backlog, and a stuck candidate cannot take the connections stable needs.
        self.client = UpstreamClient(limit=self.cfg.upstream_max_connections, keepalive_s=KEEPALIVE_S)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()

    # ------------------------------------------------------------------------ upstream call

    def _headers(self, upstream: Upstream, request_id: str, stream: bool) -> dict[str, str]:
        headers = {"Content-Type": "application/json", REQUEST_ID_HEADER: request_id,
                   "Accept": "text/event-stream" if stream else "application/json",
                   "Accept-Encoding": "identity"}  # bytes are relayed as they come: no re-encoding
        key = upstream.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        trace_upstream(headers)
        return headers

    async def _send(self, method: str, url: str, outcome: Outcome, headers: dict[str, str], body: bytes,
                    stream: bool) -> UpstreamResponse:
        """Send with retries when nothing reached the model: a refused connection, or a pooled
        keep-alive connection the upstream had closed just as the request went out."""
        assert self.client is not None
        t = self.cfg.upstream_timeout_s
        attempt = 0
        while True:
            try:
                # Streams have no total bound (a long answer is fine) but each chunk must come within t.
                return await self.client.request(method, url, headers, body, connect_timeout=self.cfg.connect_timeout_s,
                                                 read_timeout=t, total_timeout=None if stream else t)
            except (UpstreamConnectError, UpstreamClosedError) as exc:
                if isinstance(exc, UpstreamClosedError) and not exc.retry_safe:
                    raise
                if attempt >= self.cfg.upstream_retries:
                    raise
                attempt += 1
                outcome.retries = attempt

    def _budget_allows(self, now: float) -> bool:
        assert self.budget is not None
        if self.recorder.pending:  # the spend of every answered request counts before the next is admitted
            self.recorder.drain()
        return self.budget.allow(now)

    # ----------------------------------------------------------------------------- handlers

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        t0 = time.perf_counter()
        started = time.time()
        request_id = _request_id(request)
        self.state.check_lease(started)
        variant = choose_variant(self.state.weights, request.headers.get(SESSION_HEADER), self.rng)
        upstream = self.state.upstreams.get(variant)
        release_id = self.state.release_id
        outcome = Outcome()
        chat: ChatRequest | None = None
        response: web.StreamResponse
        try:
            raw = await request.read()
            chat = parse_chat_request(raw)
            if self._subject_header is not None or self._subject_field is not None:
                outcome.subject = self._subject(request, chat)
            refused = None if self.access is None else await self.access.admit(request, chat, outcome, request_id,
                                                                               self.recorder)
            if refused is not None:  # the key may not call this model, or its own limit or budget is spent
                response = refused
            elif self.guarded is not None:
                response = await self.guarded(self, self.guard, request, chat, variant, upstream, request_id,
                                              outcome, t0, started).run()
            elif self.budget is not None and not self._budget_allows(started):  # the day's budget is spent
                outcome.status, outcome.error_code = 429, BUDGET_EXCEEDED
                status, body, extra = self.budget.rejection(started)
                response = web.json_response(body, status=status, headers={REQUEST_ID_HEADER: request_id, **extra})
            elif upstream is None:
                outcome.status, outcome.error_code = 503, "no_upstream"
                response = error_response(503, "no_upstream", f"no upstream configured for variant {variant!r}",
                                          request_id, variant=variant)
            else:
                response = await self._forward(request, chat, upstream, variant, request_id, outcome, t0)
        except web.HTTPRequestEntityTooLarge:
            outcome.status, outcome.error_code = 413, "request_too_large"
            response = error_response(413, "request_too_large",
                                      f"request body exceeds {self.cfg.max_body_bytes} bytes", request_id)
        except PayloadError as exc:
            outcome.status, outcome.error_code = 400, "invalid_request"
            response = error_response(400, "invalid_request", str(exc), request_id, param=exc.param)
        except Exception:  # noqa: BLE001 - a gateway bug still answers, and the request is still recorded
            log.exception("gateway error on request %s", request_id)
            outcome.status, outcome.error_code = 500, "gateway_error"
            response = error_response(500, "gateway_error", "the gateway failed on this request", request_id)
        if not response.prepared:
            try:
                await response.prepare(request)
                await response.write_eof()
            except ConnectionError:
                outcome.status, outcome.error_code = CLIENT_CLOSED, "client_closed"
            except RuntimeError:
                pass  # a gateway_error after a stream had started: its headers are already out
        latency_s = time.perf_counter() - t0
        finished = Finished(started, time.time(), latency_s, request_id, release_id, variant, upstream, chat, outcome)
        self.recorder.submit(finished)
        if self.shadow is not None:  # after the answer was written: the mirror never delays the user
            self.shadow.offer(finished)
        if self.review is not None:
            self.review.offer(finished)
        return response

    def _subject(self, request: web.Request, chat: ChatRequest) -> str | None:
        """The end user's id (data.subject's header, else its top-level body field); None when absent."""
        if self._subject_header is not None:
            value: Any = request.headers.get(self._subject_header)
        else:
            value = chat.body.get(self._subject_field or "")
        return value if isinstance(value, str) and value else None

    async def _forward(self, request: web.Request, chat: ChatRequest, upstream: Upstream, variant: str,
                       request_id: str, outcome: Outcome, t0: float) -> web.StreamResponse:
        """Call the upstream and relay its answer; ``t0`` is when the client's request arrived (for TTFT)."""
        try:
            up = await self._send("POST", f"{upstream.url}/chat/completions", outcome,
                                  self._headers(upstream, request_id, chat.stream),
                                  chat.upstream_body(upstream.model, upstream.system_prompt), chat.stream)
        except UpstreamTimeout:
            outcome.status, outcome.error_code = 504, "upstream_timeout"
            return error_response(504, "upstream_timeout", f"the {variant} upstream did not answer within "
                                  f"{self.cfg.upstream_timeout_s:g}s", request_id, variant=variant)
        except UpstreamError as exc:
            outcome.status, outcome.error_code = 502, "upstream_error"
            return error_response(502, "upstream_error", f"the {variant} upstream is unreachable "
                                  f"({type(exc).__name__})", request_id, variant=variant)
        try:
            headers = {REQUEST_ID_HEADER: request_id, VARIANT_HEADER: variant}
            for key, name in _RELAYED_HEADERS:
                value = up.headers.get(key)
                if value is not None:
                    headers[name] = value
            if chat.stream and up.status == 200 and up.content_type == "text/event-stream":
                return await self._relay_stream(request, up, chat, headers, outcome, t0, variant)
            try:
                body = await up.read()
            except UpstreamTimeout:
                outcome.status, outcome.error_code = 504, "upstream_timeout"
                return error_response(504, "upstream_timeout", f"the {variant} upstream did not finish its answer "
                                      f"within {self.cfg.upstream_timeout_s:g}s", request_id, variant=variant)
            except UpstreamError as exc:
                outcome.status, outcome.error_code = 502, "upstream_error"
                return error_response(502, "upstream_error", f"the {variant} upstream broke off its answer "
                                      f"({type(exc).__name__})", request_id, variant=variant)
            outcome.status = up.status
            outcome.body = body  # read by the recorder: usage and content, or the error code
            return web.Response(body=body, status=up.status, headers=headers)
        finally:
            up.release()

    async def _relay_stream(self, request: web.Request, up: UpstreamResponse, chat: ChatRequest,
                            headers: dict[str, str], outcome: Outcome, t0: float, variant: str,
                            validate: Callable[[str | None], bool] | None = None) -> web.StreamResponse:
        """Relay an SSE stream. With ``validate`` (the output contract) the ``[DONE]`` event is held
        back until the whole answer is read: an invalid answer gets a final ``output_invalid``
        error event before it, the way OpenAI reports an error mid-stream."""
        acc = outcome.stream = SSEAccumulator(strip_usage=not chat.client_wants_usage)
        headers["Cache-Control"] = "no-cache"
        resp = web.StreamResponse(status=200, headers=headers)
        outcome.status = 200
        done_seen = False
        try:
            await resp.prepare(request)
            while chunk := await up.next_chunk():
                out = acc.feed(chunk)
                if out:
                    if validate is not None and _DONE in out:
                        out, done_seen = out.replace(_DONE, b""), True
                    if outcome.ttft_s is None:
                        outcome.ttft_s = time.perf_counter() - t0
                    if out:
                        await resp.write(out)
            tail = acc.flush()
            if validate is not None and _DONE.strip() in tail:
                tail, done_seen = tail.replace(_DONE.strip(), b""), True
            if tail.strip():
                await resp.write(tail)
            if validate is not None:
                if not validate(acc.finish().content):
                    outcome.error_code = "output_invalid"
                    if outcome.guard is not None:
                        outcome.guard.append(("output_contract", "output_invalid"))
                    await self._stream_error(resp, error_body(502, "output_invalid", f"the {variant} answer failed "
                                             "the service's output contract; discard the streamed text"))
                if done_seen:
                    await resp.write(_DONE)
        except UpstreamTimeout:
            outcome.status, outcome.error_code = 504, "upstream_timeout"
            await self._stream_error(resp, error_body(504, "upstream_timeout", f"the {variant} upstream sent "
                                     f"nothing for {self.cfg.upstream_timeout_s:g}s mid-stream"))
        except ConnectionError:  # the client went away; stop reading the upstream too
            outcome.status, outcome.error_code = CLIENT_CLOSED, "client_closed"
        except UpstreamError as exc:
            outcome.status, outcome.error_code = 502, "upstream_error"
            await self._stream_error(resp, error_body(502, "upstream_error", f"the {variant} upstream broke off "
                                     f"the stream ({type(exc).__name__})"))
        try:
            await resp.write_eof()
        except ConnectionError:
            outcome.status, outcome.error_code = CLIENT_CLOSED, "client_closed"
        return resp

    @staticmethod
    async def _stream_error(resp: web.StreamResponse, body: dict[str, Any]) -> None:
        # Headers (200) are already sent: the error travels as a final event, as OpenAI does.
        with contextlib.suppress(ConnectionError):
            await resp.write(b"data: " + json.dumps(body).encode() + b"\n\n")

    async def models(self, request: web.Request) -> web.StreamResponse:
        """The stable upstream's model list (clients discover what the service serves)."""
        request_id = _request_id(request)
        upstream = self.state.upstreams["stable"]
        assert upstream is not None
        try:
            up = await self._send("GET", f"{upstream.url}/models", Outcome(),
                                  self._headers(upstream, request_id, False), b"", False)
            try:
                body = await up.read()
            finally:
                up.release()
        except UpstreamTimeout:
            return error_response(504, "upstream_timeout", "the stable upstream did not answer", request_id)
        except UpstreamError as exc:
            return error_response(502, "upstream_error", f"the stable upstream is unreachable ({type(exc).__name__})",
                                  request_id)
        ctype = up.headers.get("content-type", "application/json")
        return web.Response(body=body, status=up.status, headers={"Content-Type": ctype, REQUEST_ID_HEADER: request_id})
