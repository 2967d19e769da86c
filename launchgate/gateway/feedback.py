"""``POST /v1/feedback``: an end user's verdict on one answer, joined to its request and release.

    {"request_id": "...", "thumbs": "up" | "down"}   or   {"request_id": "...", "score": 1..5}
    optional "comment" (at most 2000 characters, redacted before it is stored)

Served beside the OpenAI API and open to the same callers (the gateway itself authenticates
no client; whatever fronts /v1 fronts this too). The body is bounded (``MAX_BODY`` bytes, 413
past it). The request id must be one this gateway answered recently (the last ``RECENT``
requests): an unknown id is 404 ``unknown_request``, so feedback always joins a real request,
its variant and its release. Stored every ``FLUSH_S`` under ``layout.feedback_batch``.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from launchgate.gateway import jsoncodec
from launchgate.gateway.flusher import PeriodicFlush
from launchgate.gateway.logwriter import iso_ts
from launchgate.gateway.proxy import error_body
from launchgate.privacy.redact import redact
from launchgate.store import layout

if TYPE_CHECKING:
    from launchgate.gateway.app import Gateway
    from launchgate.gateway.recorder import Finished

log = logging.getLogger("launchgate.gateway.feedback")
MAX_BODY = 8 * 1024
RECENT = 200_000  # request ids remembered for joining feedback (~20 MB at most)


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=128)
    thumbs: Literal["up", "down"] | None = None
    score: int | None = Field(default=None, ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _one_rating(self) -> FeedbackBody:
        if (self.thumbs is None) == (self.score is None):
            raise ValueError("give exactly one of thumbs (up|down) or score (1..5)")
        return self


class FeedbackDesk(PeriodicFlush):
    flusher_name = "feedback-flusher"

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self.recent: OrderedDict[str, tuple[str | None, str]] = OrderedDict()  # request id -> (release, variant)
        self.received = 0
        self._seq = 0
        self._buffer: list[bytes] = []
        self._first = (0, "")

    def seen(self, f: Finished) -> None:
        """Per request, after the answer: remember its release and variant for a later verdict."""
        self.recent[f.request_id] = (f.release_id, f.variant)
        if len(self.recent) > RECENT:
            self.recent.popitem(last=False)

    async def post(self, request: web.Request) -> web.StreamResponse:
        if (request.content_length or 0) > MAX_BODY:
            return _fail(413, "request_too_large", f"feedback bodies are at most {MAX_BODY} bytes")
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return _fail(413, "request_too_large", f"feedback bodies are at most {MAX_BODY} bytes")
        try:
            body = FeedbackBody.model_validate_json(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                                 for e in exc.errors(include_url=False))
            return _fail(400, "invalid_request", problems)
        joined = self.recent.get(body.request_id)
        if joined is None:
            return _fail(404, "unknown_request", f"no recent request {body.request_id!r} on this gateway: send the "
                                                 f"X-Request-ID of the answer you rate")
        now = time.time()
        record = {"ts": iso_ts(now), "service": self.gw.cfg.service, "request_id": body.request_id,
                  "release_id": joined[0], "variant": joined[1], "thumbs": body.thumbs, "score": body.score,
                  "comment_redacted": redact(body.comment) if body.comment else None}
        self._seq += 1
        self.received += 1
        if not self._buffer:
            self._first = (self._seq, record["ts"][:10])
        self._buffer.append(jsoncodec.dumps(record))
        return web.json_response({"ok": True, "request_id": body.request_id, "release_id": joined[0]})

    def take(self) -> tuple[str, bytes] | None:
        batch, self._buffer = self._buffer, []
        if not batch:
            return None
        seq, day = self._first
        return (layout.feedback_batch(self.gw.cfg.service, day, self.gw.cfg.writer_name(), seq),
                b"\n".join(batch) + b"\n")

    def write(self, taken: tuple[str, bytes] | None) -> None:
        if taken is None:
            return
        try:
            self.gw.writer.store.put(taken[0], taken[1], "application/x-ndjson", overwrite=True)
        except Exception:  # noqa: BLE001 - logged; the gateway keeps serving
            log.exception("feedback could not be stored at %s", taken[0])


def _fail(status: int, code: str, message: str) -> web.Response:
    return web.json_response(error_body(status, code, message), status=status)


def install_feedback(gateway: Gateway, app: web.Application) -> FeedbackDesk:
    desk = FeedbackDesk(gateway)
    app.add_routes([web.post("/v1/feedback", desk.post)])
    app.cleanup_ctx.append(desk.lifecycle)
    return desk
