"""Shadow mode: a sampled share of stable's live requests is also sent to the candidate.

Users always get stable's answer, and their latency does not change: ``offer`` is called after
the user's answer was written and only draws a random number and counts; the mirror itself is a
task of its own on a bounded pool. When ``pool_size`` mirrors are in flight a new one is
dropped, never queued, and counted. Each mirrored pair carries a pair id; both answers are
recorded like the request log (status, latency, tokens, cost, schema validity and the parsed
output, with the prompt and every string in the output redacted). A streamed request is
mirrored as a non-streamed one (the pair says so): the candidate's answer is compared whole.

A daily cost cap bounds what mirroring may spend on the candidate: past it, mirroring stops
for the rest of the UTC day, with an event on /admin/state and ``capped`` on /admin/shadow.

Admin API (same bearer token as /admin): ``GET /admin/shadow`` (settings and counters),
``POST /admin/shadow`` (turn on/off, sample, pool size, cap, release id), and
``GET /admin/shadow/pairs?after=SEQ&limit=N`` (the pairs recorded since ``after``).
Pairs are also written to the store under ``layout.shadow_pairs`` every ``FLUSH_S`` (a batch taken
on the event loop, written in a worker thread).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections import deque
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from launchgate.gateway import jsoncodec
from launchgate.gateway.admin import token_guard
from launchgate.gateway.flusher import PeriodicFlush
from launchgate.gateway.httpclient import UpstreamError
from launchgate.gateway.logwriter import iso_ts
from launchgate.gateway.payload import Completion, read_completion, read_error_code
from launchgate.gateway.proxy import error_body
from launchgate.gateway.schemacheck import SchemaChecker
from launchgate.privacy.redact import redact
from launchgate.store import layout

if TYPE_CHECKING:
    from launchgate.gateway.app import Gateway
    from launchgate.gateway.recorder import Finished

log = logging.getLogger("launchgate.gateway.shadow")

SHADOW_HEADER = "X-LG-Shadow"  # sent to the candidate with the pair id: its own logs can join the pair
# Pairs kept in memory for /admin/shadow/pairs (older ones are in the store), as encoded bytes: a
# bytes object is invisible to the garbage collector, a nested dict per pair would make every full
# collection walk millions of objects.
MAX_KEPT = 50_000
_EMPTY = Completion()


class ShadowSettings(BaseModel):
    """What ``POST /admin/shadow`` sets; omitted fields keep their value."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    sample: float = Field(default=0.2, ge=0, le=1)
    pool_size: int = Field(default=64, ge=1, le=10_000)
    daily_cost_usd: float = Field(default=10.0, ge=0)
    release_id: str | None = Field(default=None, max_length=200)
    prompt_chars: int = Field(default=2000, ge=0)


_SHORT: dict[str, str] = {}  # redacted short strings: an answer's enum values (category, priority) repeat


def redacted_value(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > 40:
            return redact(value)
        done = _SHORT.get(value)
        if done is None:
            if len(_SHORT) > 4096:
                _SHORT.clear()  # answers whose short strings never repeat: stay bounded
            done = _SHORT[value] = redact(value)
        return done
    if isinstance(value, dict):
        return {k: redacted_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted_value(v) for v in value]
    return value


def _parsed(content: str | None) -> Any:
    if content is None:
        return None
    try:
        return redacted_value(json.loads(content))
    except (json.JSONDecodeError, TypeError):
        return None


class ShadowMirror(PeriodicFlush):
    flusher_name = "shadow-flusher"
    flush_on_close = False  # on_shutdown stores the last pairs, before the proxy's connections close

    def __init__(self, gateway: Gateway, checker: SchemaChecker, rng: random.Random | None = None) -> None:
        self.gw = gateway
        self.cfg = gateway.cfg
        self.checker = checker
        self.settings = ShadowSettings()
        self.rng = rng or random.Random()
        self.in_flight = 0
        self.offered = self.mirrored = self.dropped = self.failed = self.unstored = 0
        self.capped = False
        self.spent_usd = 0.0
        self._day = ""
        self.seq = 0
        self.pairs: deque[tuple[int, bytes]] = deque(maxlen=MAX_KEPT)
        self._unflushed: list[bytes] = []
        self._unflushed_first = 0  # seq of the first unflushed pair: names the store object
        self._unflushed_day = ""
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------- on the request path

    def offer(self, f: Finished) -> None:
        """Called after the user's answer was written: mirror it, drop it, or let it be."""
        s = self.settings
        if not s.enabled or f.variant != "stable" or f.chat is None or self.rng.random() >= s.sample:
            return
        self.offered += 1
        if self.capped and self._today() == self._day:
            return
        if self.in_flight >= s.pool_size:
            self.dropped += 1
            return
        self.in_flight += 1
        task = asyncio.get_running_loop().create_task(self._mirror(f))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --------------------------------------------------------------------------- the mirror

    async def _mirror(self, f: Finished) -> None:
        try:
            await self._pair(f)
        except Exception:  # noqa: BLE001 - a bug in a mirror must never reach the user's side
            self.failed += 1
            log.exception("shadow mirror of %s failed", f.request_id)
        finally:
            self.in_flight -= 1

    async def _pair(self, f: Finished) -> None:
        cand = self.gw.state.upstreams.get("candidate")
        client = self.gw.proxy.client
        chat = f.chat
        if cand is None or client is None or chat is None:
            return
        pair_id = os.urandom(12).hex()
        mirrored_as = "non_stream" if chat.stream else "same"
        if chat.stream:  # compare whole answers: the candidate answers non-streamed
            body = {k: v for k, v in chat.body.items() if k not in ("stream", "stream_options")}
            chat = replace(chat, body=body, stream=False, client_wants_usage=False)
        headers = {"Content-Type": "application/json", "Accept": "application/json", "Accept-Encoding": "identity",
                   "X-Request-ID": f"{f.request_id}.shadow", SHADOW_HEADER: pair_id}
        key = cand.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        timeout = self.cfg.upstream_timeout_s
        t0 = time.perf_counter()
        status, raw, error_code = 0, b"", None
        try:
            up = await client.request("POST", f"{cand.url}/chat/completions", headers,
                                      chat.upstream_body(cand.model, cand.system_prompt),
                                      connect_timeout=self.cfg.connect_timeout_s, read_timeout=timeout,
                                      total_timeout=timeout)
            try:
                raw = await up.read()
                status = up.status
            finally:
                up.release()
        except UpstreamError as exc:
            error_code = "upstream_timeout" if "Timeout" in type(exc).__name__ else "upstream_error"
        latency_s = time.perf_counter() - t0
        self.mirrored += 1
        candidate = self._side(status, error_code, raw, None, latency_s, cand.model, cand.prompt_version)
        o = f.outcome
        stable = self._side(o.status, o.error_code, o.body, o.stream, f.latency_s,
                            f.upstream.model if f.upstream else None,
                            f.upstream.prompt_version if f.upstream else None)
        self._spend(candidate.get("cost_usd"))
        prompt = redact(f.chat.user_text)[: self.settings.prompt_chars] if self.settings.prompt_chars else ""
        self.seq += 1
        record = {"seq": self.seq, "pair_id": pair_id, "ts": iso_ts(f.started), "request_id": f.request_id,
                  "service": self.cfg.service, "release_id": self.settings.release_id or f.release_id,
                  "mirrored_as": mirrored_as, "prompt_redacted": prompt, "stable": stable, "candidate": candidate}
        line = jsoncodec.dumps(record)
        self.pairs.append((self.seq, line))
        if not self._unflushed:
            self._unflushed_first, self._unflushed_day = self.seq, record["ts"][:10]
        self._unflushed.append(line)

    def _side(self, status: int, error_code: str | None, body: bytes | None, stream: Any, latency_s: float,
              model: str | None, prompt_version: str | None) -> dict[str, Any]:
        done = _EMPTY
        if stream is not None:
            done = stream.finish()
            if done.error_code and status == 200:
                status, error_code = 502, done.error_code
        elif body is not None:
            if status == 200:
                done = read_completion(body)
            elif error_code is None:
                error_code = read_error_code(body) or f"upstream_{status}"
        ok = status == 200 and not done.error_code
        tin, tout = done.input_tokens, done.output_tokens
        cost = round(self.cfg.pricing.cost(tin, tout), 8) if tin is not None and tout is not None else None
        return {"model": model, "prompt_version": prompt_version, "status": status, "error_code": error_code,
                "latency_ms": round(latency_s * 1000, 3), "input_tokens": tin, "output_tokens": tout,
                "cost_usd": cost, "schema_ok": self.checker.check(done.content) if ok else None,
                "parsed": _parsed(done.content) if ok else None}

    @staticmethod
    def _today() -> str:
        return datetime.now(UTC).strftime("%Y-%m-%d")

    def _spend(self, cost: float | None) -> None:
        today = self._today()
        if today != self._day:
            self._day, self.spent_usd, self.capped = today, 0.0, False
        self.spent_usd += cost or 0.0
        if not self.capped and self.spent_usd >= self.settings.daily_cost_usd:
            self.capped = True
            self.gw.state.record("shadow_capped", f"shadow spend {self.spent_usd:.4f} USD reached the daily cap "
                                                  f"{self.settings.daily_cost_usd:g} USD: mirroring stops until "
                                                  f"the next UTC day")

    # ------------------------------------------------------------------------------ storage

    def take(self) -> tuple[str, bytes] | None:
        """On the event loop: the pairs recorded since the last take, as (store key, JSONL bytes)."""
        batch, self._unflushed = self._unflushed, []
        if not batch:
            return None
        key = layout.shadow_pairs(self.cfg.service, self._unflushed_day, self.cfg.writer_name(),
                                  self._unflushed_first)
        return key, b"\n".join(batch) + b"\n"

    def write(self, taken: tuple[str, bytes] | None) -> None:
        """In a worker thread: store one taken batch (its own object; a failed write is logged, not retried)."""
        if taken is None:
            return
        try:
            self.gw.writer.store.put(taken[0], taken[1], "application/x-ndjson", overwrite=True)
        except Exception:  # noqa: BLE001 - the pairs are still served by /admin/shadow/pairs
            self.unstored += taken[1].count(b"\n")
            log.exception("shadow pairs could not be stored at %s", taken[0])

    def status(self) -> dict[str, Any]:
        return {**self.settings.model_dump(), "in_flight": self.in_flight, "offered": self.offered,
                "mirrored": self.mirrored, "dropped": self.dropped, "failed": self.failed, "unstored": self.unstored,
                "capped": self.capped,
                "spent_usd": round(self.spent_usd, 6), "day": self._day or None, "recorded": self.seq}

    # ---------------------------------------------------------------------------- admin API

    async def get_status(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.status())

    async def post_settings(self, request: web.Request) -> web.StreamResponse:
        try:
            patch = await request.json()
            if not isinstance(patch, dict):
                raise TypeError
            new = ShadowSettings.model_validate({**self.settings.model_dump(), **patch})
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError):
            return web.json_response(error_body(400, "invalid_request", "body must be a JSON object"), status=400)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                                 for e in exc.errors(include_url=False))
            return web.json_response(error_body(400, "invalid_request", problems), status=400)
        if new.enabled and self.gw.state.upstreams.get("candidate") is None:
            return web.json_response(error_body(409, "no_upstream", "no candidate upstream is set: "
                                                "POST /admin/upstreams first"), status=409)
        if new.daily_cost_usd > self.spent_usd:
            self.capped = False
        was = self.settings.enabled
        self.settings = new
        if was != new.enabled:
            self.gw.state.record("shadow", f"shadow {'on' if new.enabled else 'off'} at {new.sample:.0%} "
                                           f"(pool {new.pool_size}, cap {new.daily_cost_usd:g} USD/day)")
        return web.json_response(self.status())

    async def get_pairs(self, request: web.Request) -> web.StreamResponse:
        try:
            after = int(request.query.get("after", "0"))
            limit = max(1, min(int(request.query.get("limit", "5000")), 50_000))
        except ValueError:
            return web.json_response(error_body(400, "invalid_request", "after and limit must be integers"),
                                     status=400)
        first = self.pairs[0][0] if self.pairs else self.seq + 1
        start = max(0, after + 1 - first)
        out = [self.pairs[i] for i in range(start, min(len(self.pairs), start + limit))]
        rest = json.dumps({"last_seq": out[-1][0] if out else after, "lost": max(0, first - after - 1),
                           **self.status()}).encode()
        body = b'{"pairs":[' + b",".join(line for _, line in out) + b"]," + rest[1:]
        return web.Response(body=body, content_type="application/json")

    async def on_shutdown(self, app: web.Application) -> None:
        """Before the proxy's connections close: stop the mirrors in flight, store what was paired."""
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush()


def install_shadow(gateway: Gateway, app: web.Application, admin_token: str) -> ShadowMirror:
    """Shadow mode for one gateway (off until ``POST /admin/shadow``); call before the /admin sub-app."""
    mirror = ShadowMirror(gateway, gateway.recorder.checker)
    gateway.proxy.shadow = mirror
    guard = token_guard(admin_token)
    app.add_routes([web.get("/admin/shadow", guard(mirror.get_status)),
                    web.post("/admin/shadow", guard(mirror.post_settings)),
                    web.get("/admin/shadow/pairs", guard(mirror.get_pairs))])
    app.cleanup_ctx.append(mirror.lifecycle)
    app.on_shutdown.append(mirror.on_shutdown)
    return mirror
