"""The model client against a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiohttp import web

from launchgate.errors import ModelHTTPError, ModelTimeout
from launchgate.eval.modelclient import ModelClient, RetryPolicy

OK = {"choices": [{"message": {"content": "{}"}, "finish_reason": "stop"}],
      "usage": {"prompt_tokens": 7, "completion_tokens": 3}}


class Script:
    def __init__(self) -> None:
        self.responses: list[tuple[int, dict[str, str], float]] = []
        self.calls = 0


async def serve(script: Script) -> tuple[web.AppRunner, str]:
    async def handler(request: web.Request) -> web.Response:
        script.calls += 1
        body = await request.json()
        assert body["max_tokens"] == 50
        status, headers, delay = script.responses.pop(0) if script.responses else (200, {}, 0.0)
        if delay:
            await asyncio.sleep(delay)
        payload = OK if status == 200 else {"error": {"message": "nope", "type": "server_error"}}
        return web.Response(status=status, text=json.dumps(payload), headers=headers)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/v1"


def run(coro):
    return asyncio.run(coro)


def test_429_with_retry_after_is_honoured_then_succeeds() -> None:
    async def go():
        script = Script()
        runner, url = await serve(script)
        script.responses = [(429, {"Retry-After": "0.3"}, 0.0), (503, {}, 0.0)]
        try:
            async with ModelClient(url, "m", retry=RetryPolicy(max_retries=3, base_delay_s=0.01)) as c:
                t0 = time.perf_counter()
                comp = await c.chat([{"role": "user", "content": "hi"}], max_tokens=50)
                return comp, time.perf_counter() - t0, script.calls
        finally:
            await runner.cleanup()

    comp, elapsed, calls = run(go())
    assert calls == 3 and comp.retries == 2
    assert comp.input_tokens == 7 and comp.output_tokens == 3
    assert elapsed >= 0.3  # waited for Retry-After


def test_persistent_500_raises_after_bounded_retries() -> None:
    async def go():
        script = Script()
        runner, url = await serve(script)
        script.responses = [(500, {}, 0.0)] * 10
        try:
            async with ModelClient(url, "m", retry=RetryPolicy(max_retries=2, base_delay_s=0.01)) as c:
                with pytest.raises(ModelHTTPError) as ei:
                    await c.chat([{"role": "user", "content": "hi"}], max_tokens=50)
                return ei.value, script.calls
        finally:
            await runner.cleanup()

    err, calls = run(go())
    assert err.status == 500 and calls == 3


def test_400_is_not_retried() -> None:
    async def go():
        script = Script()
        runner, url = await serve(script)
        script.responses = [(400, {}, 0.0)]
        try:
            async with ModelClient(url, "m", retry=RetryPolicy(max_retries=3, base_delay_s=0.01)) as c:
                with pytest.raises(ModelHTTPError):
                    await c.chat([{"role": "user", "content": "hi"}], max_tokens=50)
                return script.calls
        finally:
            await runner.cleanup()

    assert run(go()) == 1


def test_timeout_is_bounded() -> None:
    async def go():
        script = Script()
        runner, url = await serve(script)
        script.responses = [(200, {}, 2.0)] * 3
        try:
            async with ModelClient(url, "m", timeout_s=0.2, retry=RetryPolicy(max_retries=1, base_delay_s=0.01)) as c:
                t0 = time.perf_counter()
                with pytest.raises(ModelTimeout):
                    await c.chat([{"role": "user", "content": "hi"}], max_tokens=50)
                return time.perf_counter() - t0
        finally:
            await runner.cleanup()

    assert run(go()) < 1.5


def test_unreachable_endpoint_is_an_endpoint_error() -> None:
    from launchgate.errors import ModelEndpointError

    async def go():
        async with ModelClient("http://127.0.0.1:9/v1", "m", retry=RetryPolicy(max_retries=1, base_delay_s=0.01)) as c:
            with pytest.raises(ModelEndpointError, match="cannot reach"):
                await c.chat([{"role": "user", "content": "hi"}], max_tokens=50)

    run(go())
