"""The simulated model as an OpenAI-compatible HTTP server (starlette + uvicorn).

Routes:
    GET  /v1/models              the variant's model
    POST /v1/chat/completions    chat completion, optionally streamed (SSE)
    GET  /health                 liveness
    GET  /sim/knobs              current knobs + seconds since start (loopback only)
    POST /sim/knobs              JSON merge patch of the knobs, e.g. {"error_rate": 1.0}
    POST /sim/reset              restart the fault clock and the per-request counters
    GET  /sim/stats              requests served per outcome

All decisions come from ``behaviour.decide`` (in judge mode the content from ``behaviour.judge_content``);
this module only parses requests, keeps the
small amount of state (start time, repeat counters, knobs) and does the waiting.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from launchgate.errors import DataFileError
from launchgate.sim.behaviour import Decision, decide, judge_content, last_user_text
from launchgate.sim.variants import Knobs, index_golden, load_golden, load_variants, patch_knobs

_MAX_TRACKED_REQUESTS = 200_000  # bound memory under long load tests with unique prompts
_LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}


class SimState:
    """Mutable server state; one instance per app."""

    def __init__(
        self, variant: str, knobs: Knobs, seed: int, golden: dict[str, dict[str, Any]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.variant = variant
        self.knobs = knobs
        self.seed = seed
        self.golden = golden
        self.clock = clock
        self.started = clock()
        self.seen: dict[str, int] = {}
        self.outcomes: Counter[str] = Counter()

    def reset(self) -> None:
        self.started = self.clock()
        self.seen.clear()
        self.outcomes.clear()

    def elapsed_s(self) -> float:
        return self.clock() - self.started

    def occurrence(self, text: str) -> int:
        """How many times this exact user message was asked before (repeats get fresh draws)."""
        if len(self.seen) > _MAX_TRACKED_REQUESTS:
            self.seen.clear()
        key = hashlib.sha256(text.encode()).hexdigest()
        n = self.seen.get(key, 0)
        self.seen[key] = n + 1
        return n


def _error(status: int, message: str, type_: str, code: str | None = None,
           param: str | None = None) -> JSONResponse:
    """OpenAI's error shape, so clients' error handling is exercised as in production."""
    body = {"error": {"message": message, "type": type_, "code": code, "param": param}}
    return JSONResponse(body, status_code=status)


def _bad_request(message: str, param: str | None = None) -> JSONResponse:
    return _error(400, message, "invalid_request_error", "invalid_request", param)


def _parse_chat_request(body: Any) -> tuple[list[dict[str, Any]], int | None, bool, bool] | JSONResponse:
    """Validate the parts of the request the simulator uses; other fields are accepted and ignored."""
    if not isinstance(body, dict):
        return _bad_request("request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return _bad_request("'messages' must be a non-empty list of message objects", "messages")
    # max_completion_tokens is the newer OpenAI name for the same limit.
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                   or max_tokens < 1):
        return _bad_request("'max_tokens' must be a positive integer", "max_tokens")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        return _bad_request("'stream' must be a boolean", "stream")
    options = body.get("stream_options") or {}
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    return messages, max_tokens, stream, include_usage


def _usage(d: Decision) -> dict[str, int]:
    return {
        "prompt_tokens": d.prompt_tokens,
        "completion_tokens": d.completion_tokens,
        "total_tokens": d.prompt_tokens + d.completion_tokens,
    }


def _split(content: str, max_pieces: int = 32) -> list[str]:
    """Cut content into delta pieces: ~4 tokens each, but never more than max_pieces chunks."""
    size = max(16, -(-len(content) // max_pieces))
    return [content[i : i + size] for i in range(0, len(content), size)] or [""]


async def _sse(d: Decision, model: str, completion_id: str, created: int,
               include_usage: bool) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        obj: dict[str, Any] = {
            "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if include_usage:
            obj["usage"] = None  # as OpenAI does: usage only on the final extra chunk
        return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n".encode()

    pieces = _split(d.content)
    await asyncio.sleep(d.ttft_ms / 1000)
    yield chunk({"role": "assistant", "content": pieces[0]}, None)
    gap = max(0.0, d.latency_ms - d.ttft_ms) / 1000 / max(1, len(pieces) - 1)
    for piece in pieces[1:]:
        await asyncio.sleep(gap)
        yield chunk({"content": piece}, None)
    yield chunk({}, d.finish_reason)
    if include_usage:
        final = {
            "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [], "usage": _usage(d),
        }
        yield f"data: {json.dumps(final)}\n\n".encode()
    yield b"data: [DONE]\n\n"


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    return host in _LOOPBACK or host.startswith("127.")


def create_app(
    variants_file: Path,
    variant: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Starlette:
    """Build the simulator app for one variant of ``variants_file``.

    ``overrides`` is a merge patch applied to the variant's knobs (tests use it to force faults).
    Raises DataFileError for a bad YAML or golden set, or an unknown variant name.
    """
    spec = load_variants(Path(variants_file))
    if variant not in spec.variants:
        names = ", ".join(sorted(spec.variants))
        raise DataFileError(str(variants_file), f"variants.{variant}: unknown variant (have: {names})")
    knobs = spec.variants[variant]
    if overrides:
        knobs = patch_knobs(knobs, overrides, source=f"overrides for variant {variant!r}")
    state = SimState(variant, knobs, spec.seed, index_golden(load_golden(spec.golden_set)), clock)

    async def models(request: Request) -> Response:
        model = state.knobs.model
        return JSONResponse({"object": "list", "data": [
            {"id": model, "object": "model", "created": 0, "owned_by": "launchgate-sim"}
        ]})

    async def chat_completions(request: Request) -> Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _bad_request("request body is not valid JSON")
        parsed = _parse_chat_request(body)
        if isinstance(parsed, JSONResponse):
            return parsed
        messages, max_tokens, stream, include_usage = parsed
        model = body.get("model") if isinstance(body.get("model"), str) else state.knobs.model
        d = decide(
            state.knobs, seed=state.seed, variant=state.variant, golden=state.golden, messages=messages,
            max_tokens=max_tokens, occurrence=state.occurrence(last_user_text(messages)),
            elapsed_s=state.elapsed_s(),
        )
        if d.error is None and state.knobs.judge is not None:
            d = replace(d, content=judge_content(state.knobs.judge.dislike, messages))
        state.outcomes[d.outcome] += 1
        if d.error is not None:
            await asyncio.sleep(d.latency_ms / 1000)
            headers = {}
            if d.retry_after_s is not None:
                # Retry-After is whole seconds by RFC 9110; retry-after-ms is OpenAI's finer hint.
                headers = {"Retry-After": str(max(0, round(d.retry_after_s))),
                           "retry-after-ms": str(int(d.retry_after_s * 1000))}
            return JSONResponse({"error": d.error}, status_code=d.status, headers=headers)
        completion_id = f"chatcmpl-sim-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if stream:
            return StreamingResponse(
                _sse(d, model, completion_id, created, include_usage),
                media_type="text/event-stream", headers={"Cache-Control": "no-cache"},
            )
        await asyncio.sleep(d.latency_ms / 1000)
        return JSONResponse({
            "id": completion_id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": d.content},
                "finish_reason": d.finish_reason,
            }],
            "usage": _usage(d),
        })

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "variant": state.variant, "model": state.knobs.model})

    def _knobs_body() -> dict[str, Any]:
        return {
            "variant": state.variant,
            "knobs": state.knobs.model_dump(mode="json"),
            "elapsed_s": round(state.elapsed_s(), 3),
        }

    async def get_knobs(request: Request) -> Response:
        if not _is_loopback(request):
            return _error(403, "the admin API only answers loopback clients", "permission_error")
        return JSONResponse(_knobs_body())

    async def post_knobs(request: Request) -> Response:
        if not _is_loopback(request):
            return _error(403, "the admin API only answers loopback clients", "permission_error")
        try:
            patch = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _bad_request("knob patch is not valid JSON")
        if not isinstance(patch, dict):
            return _bad_request("knob patch must be a JSON object")
        try:
            state.knobs = patch_knobs(state.knobs, patch)
        except DataFileError as exc:
            return _bad_request(exc.problem)
        return JSONResponse(_knobs_body())

    async def reset(request: Request) -> Response:
        if not _is_loopback(request):
            return _error(403, "the admin API only answers loopback clients", "permission_error")
        state.reset()
        return JSONResponse(_knobs_body())

    async def stats(request: Request) -> Response:
        return JSONResponse({"requests": sum(state.outcomes.values()), "outcomes": dict(state.outcomes)})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.reset()  # the fault clock starts when the server does, not when the app was built
        yield

    app = Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/sim/knobs", get_knobs, methods=["GET"]),
            Route("/sim/knobs", post_knobs, methods=["POST"]),
            Route("/sim/reset", reset, methods=["POST"]),
            Route("/sim/stats", stats, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.sim = state
    return app


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """Bind before serving so a caller asking for port 0 learns the real port up front."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it every response (headers and body are separate writes) stalls
    # ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/v1" if ":" in host else f"http://{host}:{port}/v1"


def make_server(app: Starlette, log_level: str = "warning") -> uvicorn.Server:
    config = uvicorn.Config(
        app, log_level=log_level, access_log=False, lifespan="on",
        # Streams in flight get a moment to finish, then shutdown proceeds (keeps tests fast).
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


def serve(variants_file: Path, variant: str, host: str = "127.0.0.1", port: int = 0,
          *, overrides: Mapping[str, Any] | None = None, log_level: str = "warning") -> None:
    """Run the simulator until interrupted (blocking). Prints the base URL once it is bound.

    Raises DataFileError (before binding) for a bad variants file, variant name or override.
    """
    app = create_app(Path(variants_file), variant, overrides=overrides)
    sock = bind_socket(host, port)
    model = app.state.sim.knobs.model
    print(f"launchgate sim: variant {variant!r} (model {model}) at {base_url(sock)}", flush=True,
          file=sys.stdout)
    try:
        make_server(app, log_level).run(sockets=[sock])
    finally:
        sock.close()
