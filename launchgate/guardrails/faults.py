"""A fault injector in front of a model endpoint: what the drill puts at the candidate's address.

While ``mode`` is ``pass`` it answers like a healthy model: with ``ok_content`` (a valid answer
the drill knows, so healthy calls are instant and certain) or, without one, by relaying to the
real endpoint. The other modes answer as a broken model server would: ``http_500`` (an
OpenAI-style 500), ``timeout`` (no answer for ``hang_s``), ``invalid_json`` (a 200 whose content
is not the contract's JSON). The drill switches ``mode`` between requests.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from aiohttp import web

MODES = ("pass", "http_500", "timeout", "invalid_json")


class FaultInjector:
    def __init__(self, target_url: str, api_key: str | None = None, hang_s: float = 2.0,
                 ok_content: str | None = None) -> None:
        self.target_url = target_url.rstrip("/")
        self.ok_content = ok_content
        self.api_key = api_key
        self.hang_s = hang_s
        self.mode = "pass"
        self.calls: dict[str, int] = {}
        self._client: httpx.AsyncClient | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, app: web.Application) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def chat(self, request: web.Request) -> web.StreamResponse:
        mode = self.mode
        self.calls[mode] = self.calls.get(mode, 0) + 1
        body = await request.read()
        if mode == "http_500":
            return web.json_response({"error": {"message": "injected fault", "type": "server_error",
                                                "code": "internal_error", "param": None}}, status=500)
        if mode == "timeout":
            await asyncio.sleep(self.hang_s)
            return web.json_response({"error": {"message": "too late", "type": "server_error"}}, status=500)
        if mode == "invalid_json":
            return web.json_response(_completion("Sure! Here is the triage: {category: billing, priority: high"))
        if self.ok_content is not None:
            return web.json_response(_completion(self.ok_content))
        return await self._relay(body, request.headers.get("Accept", "application/json"))

    async def _relay(self, body: bytes, accept: str) -> web.StreamResponse:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=2.0))
        headers = {"Content-Type": "application/json", "Accept": accept}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            resp = await self._client.post(f"{self.target_url}/chat/completions", content=body, headers=headers)
        except httpx.HTTPError as exc:
            return web.json_response({"error": {"message": f"candidate unreachable: {type(exc).__name__}",
                                                "type": "server_error", "code": "upstream_unreachable"}}, status=502)
        return web.Response(body=resp.content, status=resp.status_code,
                            content_type=resp.headers.get("content-type", "application/json").split(";")[0])


def _completion(content: str) -> dict[str, Any]:
    return {"id": "chatcmpl-injected", "object": "chat.completion", "created": int(time.time()), "model": "injected",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}
