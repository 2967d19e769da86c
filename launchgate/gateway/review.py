"""Production quality sampling: a share of served answers goes to a human review queue.

``install_review`` also serves ``POST /v1/feedback`` (feedback.py): both are the quality side of
the gateway, fed by the same per-request hook.

``offer`` runs after the user's answer was written and draws one random number; a sampled
answer is read, redacted (the prompt and every string of the parsed answer, as in the request
log) and buffered with its request id, variant, model, prompt version and release id. Every
``FLUSH_S`` the buffer becomes one store object under ``layout.review_queue_batch``. People work
the queue with ``launchgate review-queue list|label``. The sample starts at release.yaml's
``quality.sample``; ``GET|POST /admin/review-queue`` read and change it (admin token).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from typing import TYPE_CHECKING, Any

from aiohttp import web

from launchgate.gateway import jsoncodec
from launchgate.gateway.admin import token_guard
from launchgate.gateway.feedback import FeedbackDesk, install_feedback
from launchgate.gateway.flusher import PeriodicFlush
from launchgate.gateway.logwriter import iso_ts
from launchgate.gateway.payload import read_completion
from launchgate.gateway.proxy import error_body
from launchgate.gateway.shadow import redacted_value
from launchgate.privacy.redact import redact
from launchgate.store import layout

if TYPE_CHECKING:
    from launchgate.gateway.app import Gateway
    from launchgate.gateway.recorder import Finished

log = logging.getLogger("launchgate.gateway.review")


class ReviewSampler(PeriodicFlush):
    flusher_name = "review-queue-flusher"

    def __init__(self, gateway: Gateway, sample: float = 0.0, rng: random.Random | None = None) -> None:
        self.gw = gateway
        self.sample = sample
        self.answer_chars = 2000
        self.rng = rng or random.Random()
        self.sampled = 0
        self._seq = 0
        self._buffer: list[bytes] = []
        self._first = (0, "")
        self.feedback: FeedbackDesk | None = None  # remembers each request for POST /v1/feedback

    def offer(self, f: Finished) -> None:
        if self.feedback is not None:
            self.feedback.seen(f)
        if not self.sample or f.outcome.status != 200 or f.chat is None or self.rng.random() >= self.sample:
            return
        asyncio.get_running_loop().call_soon(self._add, f)  # after this turn: the request path pays one draw

    def _add(self, f: Finished) -> None:
        o = f.outcome
        content = o.stream.finish().content if o.stream is not None else (
            read_completion(o.body).content if o.body is not None else None)
        try:
            parsed: Any = redacted_value(json.loads(content)) if content is not None else None
        except json.JSONDecodeError:
            parsed = None
        item = {"id": os.urandom(8).hex(), "ts": iso_ts(f.started), "service": self.gw.cfg.service,
                "request_id": f.request_id, "release_id": f.release_id, "variant": f.variant,
                "model": f.upstream.model if f.upstream else None,
                "prompt_version": f.upstream.prompt_version if f.upstream else None,
                "prompt_redacted": redact(f.chat.user_text if f.chat else "")[:2000],
                "answer": parsed, "answer_redacted": None if parsed is not None else redact(content or "")[
                    : self.answer_chars]}
        self._seq += 1
        self.sampled += 1
        if not self._buffer:
            self._first = (self._seq, item["ts"][:10])
        self._buffer.append(jsoncodec.dumps(item))

    def take(self) -> tuple[str, bytes] | None:
        batch, self._buffer = self._buffer, []
        if not batch:
            return None
        seq, day = self._first
        key = layout.review_queue_batch(self.gw.cfg.service, day, self.gw.cfg.writer_name(), seq)
        return key, b"\n".join(batch) + b"\n"

    def write(self, taken: tuple[str, bytes] | None) -> None:
        if taken is None:
            return
        try:
            self.gw.writer.store.put(taken[0], taken[1], "application/x-ndjson", overwrite=True)
        except Exception:  # noqa: BLE001 - a store outage loses review samples, never requests
            log.exception("review queue items could not be stored at %s", taken[0])

    async def get_sample(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"sample": self.sample, "sampled": self.sampled})

    async def post_sample(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            sample = float(body["sample"])
            if not 0 <= sample <= 1:
                raise ValueError
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
            return web.json_response(error_body(400, "invalid_request", "body must be {\"sample\": 0..1}",
                                                "sample"), status=400)
        self.sample = sample
        self.gw.state.record("review_sample", f"review queue sample {sample:.2%}")
        return await self.get_sample(request)


def install_review(gateway: Gateway, app: web.Application, admin_token: str) -> ReviewSampler:
    sampler = ReviewSampler(gateway, gateway.cfg.review_sample)  # release.yaml's quality.sample
    sampler.answer_chars = gateway.cfg.review_answer_chars
    sampler.feedback = install_feedback(gateway, app)  # POST /v1/feedback joins the requests seen here
    gateway.proxy.review = sampler
    guard = token_guard(admin_token)
    app.add_routes([web.get("/admin/review-queue", guard(sampler.get_sample)),
                    web.post("/admin/review-queue", guard(sampler.post_sample))])
    app.cleanup_ctx.append(sampler.lifecycle)
    return sampler
