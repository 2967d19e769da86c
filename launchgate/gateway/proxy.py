"""The OpenAI-compatible half of the gateway: ``POST /v1/chat/completions`` and ``GET /v1/models``.

One request: pick a variant (weights, or sticky by ``X-LG-Session``), forward the body with the
upstream's model name, relay the answer (streamed chunk by chunk when ``stream`` is set), then
record it: request log line, windowed stats, Prometheus. The bookkeeping (redaction, schema
check, cost) runs after the last byte is written, so it never adds to the latency a client sees.

Errors the gateway itself produces use OpenAI's error shape with these codes:

    invalid_request   400  body is not JSON / has no messages
    request_too_large 413  body above max_body_bytes
    no_upstream       503  the chosen variant has no upstream configured
    upstream_error    502  connection refused/reset, or an unreadable answer
    upstream_timeout  504  no answer (or no next chunk) within upstream_timeout_s
    budget_exceeded   429  the day's budget (budget.daily_usd) is spent: see launchgate/budget.py
    gateway_error     500  a bug in the gateway (logged with its traceback)

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
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from launchgate.budget import BUDGET_EXCEEDED, BudgetGuard
from launchgate.gateway.config import GatewayConfig, Upstream
from launchgate.gateway.metrics import GatewayMetrics
from launchgate.gateway.payload import (
    ChatRequest,
    Completion,
    PayloadError,
    SSEAccumulator,
    parse_chat_request,
    read_completion,
    read_error_code,
)
from launchgate.gateway.requestlog import RequestLogWriter, iso_ts
from launchgate.gateway.routing import choose_variant
from launchgate.gateway.schemacheck import SchemaChecker
from launchgate.gateway.state import GatewayState
from launchgate.gateway.stats import CLIENT_CLOSED, RequestRecord, StatsWindow
from launchgate.redact import redact

log = logging.getLogger("launchgate.gateway")

SESSION_HEADER = "X-LG-Session"
VARIANT_HEADER = "X-LG-Variant"
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")  # anything else is replaced: it goes into logs
_RELAYED_HEADERS = ("Content-Type", "Retry-After", "retry-after-ms")
GATEWAY_CODES = frozenset({"invalid_request", "request_too_large", "no_upstream", "upstream_error",
                           "upstream_timeout", "client_closed", "gateway_error",
                           BUDGET_EXCEEDED})


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


@dataclass
class Outcome:
    """What one request ended as; filled in by the handler, recorded by ``Proxy.record``."""

    status: int = 0
    error_code: str | None = None
    ttft_s: float | None = None
    completion: Completion | None = None
    retries: int = 0


class _UpstreamTimeout(Exception):
    pass


class Proxy:
    def __init__(self, cfg: GatewayConfig, state: GatewayState, stats: StatsWindow, writer: RequestLogWriter,
                 metrics: GatewayMetrics, checker: SchemaChecker, rng: random.Random | None = None) -> None:
        self.cfg = cfg
        self.state = state
        self.stats = stats
        self.writer = writer
        self.metrics = metrics
        self.checker = checker
        self.budget: BudgetGuard | None = None  # set by Gateway when cfg.budget is set (issue 7)
        self.rng = rng or random.Random()
        self.session: aiohttp.ClientSession | None = None
        t, connect = cfg.upstream_timeout_s, cfg.connect_timeout_s
        # Streams have no total bound (a long answer is fine) but each chunk must come within t.
        self._timeouts = {False: aiohttp.ClientTimeout(total=t, connect=connect, sock_read=t),
                          True: aiohttp.ClientTimeout(total=None, connect=connect, sock_read=t)}

    async def start(self) -> None:
        # aiohttp, not httpx: as the upstream client of the same bare relay on 2 cores, aiohttp
        # carried 9-20x the req/s of httpx's AsyncClient (809 vs 92 at best; reproduce with
        # benchmarks/gateway_overhead.py --compare-clients).
        # A bounded pool: when the upstream slows down, requests wait for a connection (within the
        # connect timeout) instead of opening ever more sockets, which only deepens the backlog.
        connector = aiohttp.TCPConnector(limit=self.cfg.upstream_max_connections, ttl_dns_cache=300,
                                         keepalive_timeout=30)
        # DummyCookieJar: one client session serves every user, so an upstream's Set-Cookie must
        # never be replayed on someone else's request (and skipping the jar saves time too).
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                             cookie_jar=aiohttp.DummyCookieJar(), skip_auto_headers=("User-Agent",))

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    # ------------------------------------------------------------------------ upstream call

    def _headers(self, upstream: Upstream, request_id: str, stream: bool) -> dict[str, str]:
        headers = {"Content-Type": "application/json", REQUEST_ID_HEADER: request_id,
                   "Accept": "text/event-stream" if stream else "application/json",
                   "Accept-Encoding": "identity"}  # bytes are relayed as they come: no re-encoding
        key = upstream.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def _send(self, method: str, url: str, outcome: Outcome, **kwargs: Any) -> aiohttp.ClientResponse:
        """Send with retries on connection failures only (nothing reached the model, so a retry is safe)."""
        assert self.session is not None
        attempt = 0
        while True:
            try:
                return await self.session.request(method, url, **kwargs)
            except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError):
                # ServerDisconnected here is a pooled keep-alive connection the upstream had closed.
                if attempt >= self.cfg.upstream_retries:
                    raise
                attempt += 1
                outcome.retries = attempt

    def _timeout(self, stream: bool) -> aiohttp.ClientTimeout:
        return self._timeouts[stream]

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
            if self.budget is not None and not self.budget.allow(started):  # the day's budget is spent
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
        self.record(started, latency_s, request_id, release_id, variant, upstream, chat, outcome)
        return response

    async def _forward(self, request: web.Request, chat: ChatRequest, upstream: Upstream, variant: str,
                       request_id: str, outcome: Outcome, t0: float) -> web.StreamResponse:
        """Call the upstream and relay its answer; ``t0`` is when the client's request arrived (for TTFT)."""
        try:
            up = await self._send(
                "POST", f"{upstream.url}/chat/completions", outcome,
                data=chat.upstream_body(upstream.model, upstream.system_prompt),
                headers=self._headers(upstream, request_id, chat.stream),
                timeout=self._timeout(chat.stream),
            )
        except (TimeoutError, aiohttp.ServerTimeoutError):
            outcome.status, outcome.error_code = 504, "upstream_timeout"
            return error_response(504, "upstream_timeout", f"the {variant} upstream did not answer within "
                                  f"{self.cfg.upstream_timeout_s:g}s", request_id, variant=variant)
        except aiohttp.ClientError as exc:
            outcome.status, outcome.error_code = 502, "upstream_error"
            return error_response(502, "upstream_error", f"the {variant} upstream is unreachable "
                                  f"({type(exc).__name__})", request_id, variant=variant)
        headers = {REQUEST_ID_HEADER: request_id, VARIANT_HEADER: variant}
        for name in _RELAYED_HEADERS:
            if name in up.headers:
                headers[name] = up.headers[name]
        try:
            is_sse = up.status == 200 and up.content_type == "text/event-stream"
            if chat.stream and is_sse:
                return await self._relay_stream(request, up, chat, headers, outcome, t0, variant, request_id)
            try:
                body = await up.read()
            except (TimeoutError, aiohttp.ServerTimeoutError):
                outcome.status, outcome.error_code = 504, "upstream_timeout"
                return error_response(504, "upstream_timeout", f"the {variant} upstream did not finish its answer "
                                      f"within {self.cfg.upstream_timeout_s:g}s", request_id, variant=variant)
            except aiohttp.ClientError as exc:
                outcome.status, outcome.error_code = 502, "upstream_error"
                return error_response(502, "upstream_error", f"the {variant} upstream broke off its answer "
                                      f"({type(exc).__name__})", request_id, variant=variant)
            outcome.status = up.status
            if up.status == 200:
                outcome.completion = read_completion(body)
            else:
                outcome.error_code = read_error_code(body) or f"upstream_{up.status}"
            return web.Response(body=body, status=up.status, headers=headers)
        finally:
            up.release()

    async def _relay_stream(self, request: web.Request, up: aiohttp.ClientResponse, chat: ChatRequest,
                            headers: dict[str, str], outcome: Outcome, t0: float, variant: str,
                            request_id: str) -> web.StreamResponse:
        acc = SSEAccumulator(strip_usage=not chat.client_wants_usage)
        headers["Cache-Control"] = "no-cache"
        resp = web.StreamResponse(status=200, headers=headers)
        outcome.status = 200
        try:
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                out = acc.feed(chunk)
                if out:
                    if outcome.ttft_s is None:
                        outcome.ttft_s = time.perf_counter() - t0
                    await resp.write(out)
            tail = acc.flush()
            if tail:
                await resp.write(tail)
        except (TimeoutError, aiohttp.ServerTimeoutError):
            outcome.status, outcome.error_code = 504, "upstream_timeout"
            await self._stream_error(resp, error_body(504, "upstream_timeout", f"the {variant} upstream sent "
                                     f"nothing for {self.cfg.upstream_timeout_s:g}s mid-stream"))
        except ConnectionError:  # the client went away; stop reading the upstream too
            outcome.status, outcome.error_code = CLIENT_CLOSED, "client_closed"
        except aiohttp.ClientError as exc:
            outcome.status, outcome.error_code = 502, "upstream_error"
            await self._stream_error(resp, error_body(502, "upstream_error", f"the {variant} upstream broke off "
                                     f"the stream ({type(exc).__name__})"))
        outcome.completion = acc.finish()
        if outcome.completion.error_code and outcome.status == 200:
            # The upstream sent an error event inside a 200 stream: the user saw a failed request,
            # so it is recorded (and counted by the canary) as one.
            outcome.status, outcome.error_code = 502, outcome.completion.error_code
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
        outcome = Outcome()
        try:
            up = await self._send("GET", f"{upstream.url}/models", outcome,
                                  headers=self._headers(upstream, request_id, False), timeout=self._timeout(False))
            async with up:
                body = await up.read()
                ctype = up.headers.get("Content-Type", "application/json")
                return web.Response(body=body, status=up.status,
                                    headers={"Content-Type": ctype, REQUEST_ID_HEADER: request_id})
        except (TimeoutError, aiohttp.ServerTimeoutError):
            return error_response(504, "upstream_timeout", "the stable upstream did not answer", request_id)
        except aiohttp.ClientError as exc:
            return error_response(502, "upstream_error", f"the stable upstream is unreachable ({type(exc).__name__})",
                                  request_id)

    # ----------------------------------------------------------------------------- records

    def record(self, started: float, latency_s: float, request_id: str, release_id: str | None, variant: str,
               upstream: Upstream | None, chat: ChatRequest | None, outcome: Outcome) -> None:
        done = outcome.completion or Completion()
        ok = outcome.status == 200
        schema_ok = self.checker.check(done.content) if ok and not done.error_code else None
        cost = None
        if done.input_tokens is not None and done.output_tokens is not None:
            cost = round(self.cfg.pricing.cost(done.input_tokens, done.output_tokens), 8)
        if self.budget is not None:  # the budget guard's per-request hook (issue 7)
            self.budget.record(cost, started)
        prompt = ""
        if chat is not None and self.cfg.prompt_log_chars:
            # Redact the whole text before cutting it: a cut could split a secret past recognition.
            prompt = redact(chat.user_text)[: self.cfg.prompt_log_chars]
        latency_ms = round(latency_s * 1000, 3)
        ttft_ms = None if outcome.ttft_s is None else round(outcome.ttft_s * 1000, 3)
        self.writer.append({
            "ts": iso_ts(started), "request_id": request_id, "service": self.cfg.service, "release_id": release_id,
            "variant": variant, "model": upstream.model if upstream else None,
            "prompt_version": upstream.prompt_version if upstream else None,
            "prompt_sha256": chat.effective_prompt_sha256(upstream.system_prompt if upstream else None)
            if chat else None, "status": outcome.status,
            "error_code": outcome.error_code, "latency_ms": latency_ms, "ttft_ms": ttft_ms,
            "input_tokens": done.input_tokens, "output_tokens": done.output_tokens, "cost_usd": cost,
            "schema_ok": schema_ok, "retries": outcome.retries, "prompt_redacted": prompt,
        }, started)
        if outcome.error_code != BUDGET_EXCEEDED:  # a budget stop asked no variant: no evidence about either
            self.stats.add(RequestRecord(ts=time.time(), variant=variant, status=outcome.status,
                                         latency_ms=latency_ms, ttft_ms=ttft_ms, schema_ok=schema_ok, cost_usd=cost,
                                         input_tokens=done.input_tokens, output_tokens=done.output_tokens))
        code = outcome.error_code
        if code and code not in GATEWAY_CODES:
            code = f"upstream_{outcome.status}"  # upstream codes are free text: keep metric labels bounded
        self.metrics.observe(variant, outcome.status, latency_s, outcome.ttft_s, done.input_tokens,
                             done.output_tokens, cost, schema_ok, code, outcome.retries)
