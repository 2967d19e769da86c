"""Trace context and request ids through the real gateway; spans in the SDK's in-memory exporter and over
OTLP/HTTP to a local receiver.

The upstream is a small recording model server on loopback (it answers like an OpenAI endpoint and
keeps the headers it was sent), so the test sees exactly what the gateway forwarded.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from launchgate.config import load_config
from launchgate.eval.modelclient import ModelClient
from launchgate.gateway.tracing import use_provider
from launchgate.loadtest.analysis import LoadPlan, build_command
from launchgate.observability.baggage import release_baggage
from tests.conftest import EXAMPLE
from tests.support.gateway import running_gateway
from tests.support.sim import EXAMPLE_VARIANTS, running_sim

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
ANSWER = {"id": "c1", "object": "chat.completion", "model": "m",
          "choices": [{"index": 0, "finish_reason": "stop",
                       "message": {"role": "assistant", "content": json.dumps(
                           {"category": "shipping", "priority": "low", "reply": "It is on its way."})}}],
          "usage": {"prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22}}


@contextmanager
def serving(app: web.Application) -> Iterator[str]:
    """Run an aiohttp app on a free loopback port in a thread; yields its base URL."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        box["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        box["stop"] = asyncio.Event()
        started.set()
        await box["stop"].wait()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield f"http://127.0.0.1:{box['port']}"
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(10)


@pytest.fixture(scope="module")
def upstream() -> Iterator[dict[str, Any]]:
    seen: list[dict[str, str]] = []

    async def chat(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        await request.read()
        return web.json_response(ANSWER)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    with serving(app) as url:
        yield {"url": f"{url}/v1", "seen": seen}


def _ask(base: str, **headers: str) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": "where is my parcel?"}]}
    return httpx.post(f"{base}/v1/chat/completions", json=body, headers=headers, timeout=10)


def test_without_a_collector_the_gateway_passes_trace_context_and_request_id_through(
        upstream: dict[str, Any], tmp_path: Path) -> None:
    with running_gateway(upstream["url"], None, str(tmp_path / "gw")) as (base, _):
        resp = _ask(base, traceparent=TRACEPARENT, tracestate="vendor=1", **{"X-Request-ID": "req-42"})
        plain = _ask(base)
    assert resp.status_code == 200
    sent = upstream["seen"][-2]
    assert sent["traceparent"] == TRACEPARENT and sent["tracestate"] == "vendor=1"
    assert sent["X-Request-ID"] == "req-42"
    assert resp.headers["traceparent"] == TRACEPARENT and resp.headers["X-Request-ID"] == "req-42"
    # A request without trace context gets none invented, but always a request id.
    assert "traceparent" not in upstream["seen"][-1] and "traceparent" not in plain.headers
    assert plain.headers["X-Request-ID"] == upstream["seen"][-1]["X-Request-ID"]


def test_spans_in_memory_link_client_gateway_and_upstream(upstream: dict[str, Any], tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with use_provider(provider), running_gateway(upstream["url"], None, str(tmp_path / "gw")) as (base, _):
        resp = _ask(base, traceparent=TRACEPARENT, **{"X-Request-ID": "req-7"})
    assert resp.status_code == 200
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"gateway receive", "upstream call", "time to first byte"}, list(spans)
    server, call, ttfb = spans["gateway receive"], spans["upstream call"], spans["time to first byte"]
    assert all(format(s.context.trace_id, "032x") == TRACE_ID for s in spans.values())
    assert server.parent is not None and format(server.parent.span_id, "016x") == CLIENT_SPAN
    assert call.parent.span_id == server.context.span_id and ttfb.parent.span_id == server.context.span_id
    assert server.attributes["launchgate.request_id"] == "req-7"
    assert server.attributes["launchgate.variant"] == "stable"
    assert server.attributes["http.response.status_code"] == 200
    # The upstream's parent is the upstream call; the client gets the gateway's span back.
    assert upstream["seen"][-1]["traceparent"] == f"00-{TRACE_ID}-{format(call.context.span_id, '016x')}-01"
    assert resp.headers["traceparent"] == f"00-{TRACE_ID}-{format(server.context.span_id, '016x')}-01"
    assert server.start_time <= call.start_time <= call.end_time <= server.end_time
    assert ttfb.end_time <= server.end_time and ttfb.attributes["launchgate.ttfb_ms"] > 0


def test_streamed_answer_spans_cover_the_stream(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with running_sim(EXAMPLE_VARIANTS, "stable") as sim, use_provider(provider), \
            running_gateway(sim, None, str(tmp_path / "gw")) as (base, _):
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, timeout=10,
                          headers={"traceparent": TRACEPARENT}) as resp:
            assert resp.status_code == 200 and resp.headers["traceparent"].startswith(f"00-{TRACE_ID}-")
            resp.read()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    server, ttfb = spans["gateway receive"], spans["time to first byte"]
    assert ttfb.end_time <= server.end_time  # the headers went out before the stream ended
    assert server.end_time - server.start_time >= ttfb.end_time - ttfb.start_time


def test_otlp_http_export_to_a_local_receiver(upstream: dict[str, Any], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[ExportTraceServiceRequest] = []

    async def traces(request: web.Request) -> web.Response:
        msg = ExportTraceServiceRequest()
        msg.ParseFromString(await request.read())
        received.append(msg)
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    with serving(app) as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
        with running_gateway(upstream["url"], None, str(tmp_path / "gw")) as (base, _):
            assert _ask(base, traceparent=TRACEPARENT).status_code == 200
        # leaving the gateway shut its provider down, which exported the batch
    spans = [s for req in received for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert {s.name for s in spans} == {"gateway receive", "upstream call", "time to first byte"}
    assert all(s.trace_id.hex() == TRACE_ID for s in spans)
    service = {a.value.string_value for req in received for rs in req.resource_spans
               for a in rs.resource.attributes if a.key == "service.name"}
    assert service == {"launchgate-gateway-support-bot"}


def test_pipeline_requests_carry_the_release_id_as_baggage(upstream: dict[str, Any], tmp_path: Path) -> None:
    """The eval's client (and aiperf's command line) inside release_baggage; the gateway's span records it."""
    release = "support-bot-20261130T084447Z-16a679db"
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def one_eval_call(base: str) -> None:
        async with ModelClient(f"{base}/v1", "m", timeout_s=10) as client:
            await client.chat([{"role": "user", "content": "hi"}], max_tokens=50)

    with use_provider(provider), running_gateway(upstream["url"], None, str(tmp_path / "gw")) as (base, _):
        with release_baggage(release):
            asyncio.run(one_eval_call(base))
            cfg = load_config(EXAMPLE / "release.yaml", {"load_test.enabled": True}, check_files=False)
            cmd = build_command("aiperf", LoadPlan.from_config(cfg.load_test, cfg.candidate, 400),
                                tokenizer_dir="/t", input_file="/i", system_prompt_file=None, artifact_dir="/a")
        asyncio.run(one_eval_call(base))  # outside a release: no baggage
    assert upstream["seen"][-2]["baggage"] == f"launchgate.release_id={release}"
    assert "baggage" not in upstream["seen"][-1]
    assert cmd[cmd.index("--header") + 1] == f"baggage:launchgate.release_id={release}"
    servers = [s for s in exporter.get_finished_spans() if s.name == "gateway receive"]
    assert servers[0].attributes["launchgate.sent_by_release"] == release
    assert "launchgate.sent_by_release" not in servers[1].attributes


GUARD_PHASES = {"guard rate limit", "guard input contract", "guard input guard", "guard tenant budget",
                "guard service budget", "guard output validation"}


def test_guard_phases_are_spans_under_the_gateway_span(tmp_path: Path) -> None:
    from launchgate.config import Budget

    rails = load_config(str(EXAMPLE / "release.yaml")).guardrails
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ticket = json.dumps({"subject": "Refund", "body": "I was charged twice", "customer_tier": "pro"})
    body = {"model": "support-bot", "messages": [{"role": "user", "content": ticket}]}
    with running_sim(EXAMPLE_VARIANTS, "stable") as sim, use_provider(provider), \
            running_gateway(sim, None, str(tmp_path / "gw"), guardrails=rails, budget=Budget(),
                            input_schema=EXAMPLE / "schemas" / "input.schema.json", input_schema_enforced=True,
                            output_schema_enforced=True) as (base, _):
        resp = httpx.post(f"{base}/v1/chat/completions", json=body, headers={"traceparent": TRACEPARENT}, timeout=10)
    assert resp.status_code == 200, resp.text
    spans = exporter.get_finished_spans()
    server = next(s for s in spans if s.name == "gateway receive")
    phases = [s for s in spans if s.name.startswith("guard ")]
    assert {s.name for s in phases} == GUARD_PHASES
    assert all(s.parent is not None and s.parent.span_id == server.context.span_id for s in phases)
    assert all(server.start_time <= s.start_time <= s.end_time <= server.end_time for s in phases)
