"""W3C trace context through the gateway, and OpenTelemetry spans when an OTLP endpoint is set.

Request ids: the proxy already accepts ``X-Request-ID`` (or makes one), sends it upstream and
returns it. Trace context: the client's ``traceparent`` / ``tracestate`` reach the upstream and
come back on the answer; W3C ``baggage`` is forwarded upstream (launchgate's own eval, load and
canary requests carry their release id in it, recorded on the gateway's span).

* Without ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) nothing is recorded: the
  gateway is a transparent hop and passes the client's headers on unchanged (no parsing, a few
  microseconds per request).
* With it, the gateway records spans with OpenTelemetry's SDK and exports them over OTLP/HTTP:
  ``gateway receive`` (server span, child of the client's traceparent, the whole request including
  a stream), ``upstream call`` (client span, from sending upstream until the gateway starts
  relaying the answer) and ``time to first byte`` (request start until the answer's headers go
  out). The upstream receives the ``upstream call`` span as its parent; the client gets the
  ``gateway receive`` span's traceparent back. With guardrails, each guard phase (rate limit, input
  contract, input guard, tenant and service budget, output validation) is a ``guard ...`` span
  through ``phase_span`` (guarded.py's TracedGuardedCall, chosen only when spans are recorded).

The W3C header format and the export protocol are OpenTelemetry's (its propagator and exporter),
not hand-written. Hooks: ``install_tracing`` on the app, ``trace_upstream`` where the proxy builds
its upstream headers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from launchgate.observability.baggage import release_of

TRACEPARENT, TRACESTATE, BAGGAGE = "traceparent", "tracestate", "baggage"
REQUEST_ID = "X-Request-ID"
VARIANT = "X-LG-Variant"
_PROPAGATOR = TraceContextTextMapPropagator()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class _Trace:
    """One request's tracing state (a contextvar: the handler runs in the middleware's task)."""

    tracer: Tracer | None
    passthrough: dict[str, str] = field(default_factory=dict)  # the client's headers, when not recording
    start_ns: int = 0
    server: Span | None = None
    upstream: Span | None = None
    first_byte_ns: int | None = None


_current: ContextVar[_Trace | None] = ContextVar("launchgate_trace", default=None)
_override: list[Any] = []  # a TracerProvider set by tests or an embedding process (use_provider)


@contextmanager
def use_provider(provider: Any) -> Iterator[None]:
    """Gateways built inside this block record to ``provider`` (e.g. the SDK's in-memory exporter)."""
    _override.append(provider)
    try:
        yield
    finally:
        _override.remove(provider)


def _provider(service: str) -> tuple[Any, bool]:
    """(TracerProvider or None, whether this gateway owns it and must shut it down)."""
    if _override:
        return _override[-1], False
    if not (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return None, False
    # Imported only when exporting: the SDK and the exporter cost ~100 ms to import.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"launchgate-gateway-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoint, headers: OTEL_* env
    return provider, True


def install_tracing(app: web.Application, service: str) -> bool:
    """Propagate trace context on every request of ``app``; record spans when an exporter is configured.
    Returns whether spans are recorded (the gateway then uses its span-recording guard phases)."""
    provider, owned = _provider(service)
    tracer = provider.get_tracer("launchgate.gateway") if provider is not None else None
    app.middlewares.append(_middleware(tracer, service))
    app.on_response_prepare.append(_on_prepare)
    if owned:
        async def flush(_: web.Application) -> None:
            provider.shutdown()  # exports what the batch processor still holds

        app.on_cleanup.append(flush)
    return tracer is not None


def _middleware(tracer: Tracer | None, service: str) -> Any:
    @web.middleware
    async def tracing(request: web.Request, handler: Handler) -> web.StreamResponse:
        if tracer is None:
            parent, bag = request.headers.get(TRACEPARENT), request.headers.get(BAGGAGE)
            if parent is None and bag is None:  # the common case: nothing to carry
                return await handler(request)
            given = {TRACEPARENT: parent} if parent else {}
            state_header = request.headers.get(TRACESTATE) if parent else None  # meaningless without it
            if state_header:
                given[TRACESTATE] = state_header
            if bag:
                given[BAGGAGE] = bag
            token = _current.set(_Trace(None, passthrough=given))
            try:
                response = await handler(request)
                if not response.prepared:
                    _echo(given, response)
                return response
            finally:
                _current.reset(token)
        state = _Trace(tracer, start_ns=time.time_ns())
        if BAGGAGE in request.headers:  # forwarded upstream as it came
            state.passthrough[BAGGAGE] = request.headers[BAGGAGE]
        parent = _PROPAGATOR.extract(request.headers)
        with tracer.start_as_current_span("gateway receive", context=parent, kind=SpanKind.SERVER,
                                          start_time=state.start_ns) as span:
            span.set_attribute("http.request.method", request.method)
            span.set_attribute("url.path", request.path)
            span.set_attribute("launchgate.service", service)
            sender = release_of(request.headers) if BAGGAGE in state.passthrough else None
            if sender:  # launchgate's own eval / load / canary traffic
                span.set_attribute("launchgate.sent_by_release", sender)
            state.server = span
            token = _current.set(state)
            try:
                response = await handler(request)
                if not response.prepared:
                    _answer_headers(state, response)
                _finish(state, response)
                return response
            finally:
                _current.reset(token)

    return tracing


def _echo(given: dict[str, str], response: web.StreamResponse) -> None:
    """The client's trace context back on the answer (baggage goes upstream only)."""
    for name in (TRACEPARENT, TRACESTATE):
        if name in given:
            response.headers[name] = given[name]


def _answer_headers(state: _Trace, response: web.StreamResponse) -> None:
    if state.first_byte_ns is None:
        state.first_byte_ns = time.time_ns()
    if state.server is not None:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(state.server))
        response.headers.update(carrier)


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    state = _current.get()
    if state is None:
        return
    if state.tracer is None:
        _echo(state.passthrough, response)
    else:
        _answer_headers(state, response)


def _finish(state: _Trace, response: web.StreamResponse) -> None:
    """Close the upstream and first-byte spans at the moment the answer started; tag the server span."""
    assert state.tracer is not None and state.server is not None
    first = state.first_byte_ns or time.time_ns()
    if state.upstream is not None and state.upstream.is_recording():
        state.upstream.end(end_time=first)
    ttfb = state.tracer.start_span("time to first byte", context=trace.set_span_in_context(state.server),
                                   start_time=state.start_ns)
    ttfb.set_attribute("launchgate.ttfb_ms", round((first - state.start_ns) / 1e6, 3))
    ttfb.end(end_time=first)
    span = state.server
    span.set_attribute("http.response.status_code", response.status)
    for header, attr in ((REQUEST_ID, "launchgate.request_id"), (VARIANT, "launchgate.variant")):
        value = response.headers.get(header)
        if value:
            span.set_attribute(attr, value)
    if response.status >= 500:
        span.set_status(trace.StatusCode.ERROR)


def trace_upstream(headers: dict[str, str]) -> None:
    """Add trace context to a request going upstream (the proxy calls this once per forwarded request)."""
    state = _current.get()
    if state is None:
        return
    if state.tracer is None or state.server is None:
        headers.update(state.passthrough)
        return
    if state.upstream is not None and state.upstream.is_recording():
        state.upstream.end()  # a retried call (the output contract's retry): the earlier attempt ended here
    state.upstream = state.tracer.start_span("upstream call", context=trace.set_span_in_context(state.server),
                                             kind=SpanKind.CLIENT)
    headers.update(state.passthrough)
    _PROPAGATOR.inject(headers, context=trace.set_span_in_context(state.upstream))


@contextmanager
def phase_span(name: str) -> Iterator[None]:
    """A span for one phase of a request (a guard, say) when recording; nothing otherwise."""
    state = _current.get()
    if state is None or state.tracer is None or state.server is None:
        yield
        return
    with state.tracer.start_as_current_span(name, context=trace.set_span_in_context(state.server)):
        yield
