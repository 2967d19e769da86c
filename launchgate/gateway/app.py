"""Wiring: one aiohttp application = proxy + admin API + metrics + background tasks.

aiohttp serves: on these 2-core machines its server was the fastest measured
(benchmarks/gateway_overhead.py; uvicorn here has only the pure-Python h11 parser). Upstream
calls go through httpclient.py's keep-alive pool, cheaper per request than aiohttp's client,
which in turn was ~10x ahead of httpx's async client as a relay (see httpclient.py).

Background work, started and stopped with the app:
- the recorder (recorder.py): request records, a few ms after each answer; drained once more on
  shutdown, before the log's last flush;
- the lease watchdog (every ``lease_check_s``): returns traffic to stable when a lease lapses;
- the log flusher (every ``log_flush_s``, and once more on shutdown) in a worker thread;
- the readiness probe (every ``ready_check_s``): a TCP connect to stable, read by /health/ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import signal
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from launchgate.gateway.access_control import install_access
from launchgate.gateway.admin import AdminAPI
from launchgate.gateway.budget import gateway_guard
from launchgate.gateway.config import GatewayConfig
from launchgate.gateway.fallback import add_fallback
from launchgate.gateway.guard import Guard
from launchgate.gateway.guarded import GuardedCall, TracedGuardedCall
from launchgate.gateway.handoff import HandoffQueue
from launchgate.gateway.logwriter import RequestLogWriter
from launchgate.gateway.metrics import CONTENT_TYPE, GatewayMetrics
from launchgate.gateway.proxy import Proxy
from launchgate.gateway.readiness import Readiness
from launchgate.gateway.recorder import Recorder
from launchgate.gateway.replicas import SharedState, start_replica
from launchgate.gateway.review import install_review
from launchgate.gateway.schemacheck import SchemaChecker
from launchgate.gateway.secretset import GatewaySecrets
from launchgate.gateway.shadow import install_shadow
from launchgate.gateway.sharedadmin import SharedAdminAPI
from launchgate.gateway.state import GatewayState
from launchgate.gateway.tracing import install_tracing
from launchgate.gateway.window import StatsWindow
from launchgate.store import ArtifactStore, open_store

log = logging.getLogger("launchgate.gateway")

GATEWAY_KEY: web.AppKey[Gateway] = web.AppKey("gateway")


class Gateway:
    """Everything one gateway process holds; ``app`` is what aiohttp serves."""

    def __init__(self, cfg: GatewayConfig, admin_token: str | GatewaySecrets, *, store: ArtifactStore | None = None,
                 rng: random.Random | None = None, notify_handoffs: bool = True) -> None:
        # The admin tokens valid now (secretset.py: re-read on SIGHUP), or one fixed token (16+ characters).
        self.secrets = GatewaySecrets.static(admin_token) if isinstance(admin_token, str) else admin_token
        self.cfg = cfg
        self.writer = RequestLogWriter(store or open_store(cfg.log_store_uri), cfg.service, cfg.writer_name(),
                                       max_buffered_lines=cfg.log_max_buffered_lines)
        self.metrics = GatewayMetrics(self.writer, lambda v: self.state.weights.as_dict()[v])
        self.state = GatewayState(cfg.stable, cfg.candidate, candidate_pct=cfg.initial_candidate_pct,
                                  release_id=cfg.release_id, on_event=self._on_event)
        self.stats = StatsWindow(cfg.stats_capacity)
        self.recorder = Recorder(cfg, self.stats, self.writer, self.metrics, SchemaChecker(cfg.load_output_schema()))
        self.proxy = Proxy(cfg, self.state, self.recorder, rng)
        self.readiness = Readiness(lambda: self.state.upstreams.get("stable"), cfg.ready_check_s,
                                   cfg.connect_timeout_s)
        if cfg.budget is not None:  # alert at alert_usd, 429 budget_exceeded at daily_usd
            self.proxy.budget = self.recorder.budget = gateway_guard(self.writer.store, cfg.service, cfg.budget,
                                                                     cfg.owners, cfg.notifier,
                                                                     shared=cfg.replicas.shared_state)
        self.guard: Guard | None = None
        self.handoff: HandoffQueue | None = None
        if cfg.guardrails is not None:
            self._guardrails(cfg, notify_handoffs)
        self.shared: SharedState | None = None  # gateway.replicas: routing state, stats and budget shared
        if cfg.replicas.shared_state:
            self.shared = SharedState(self.writer.store, cfg.service, cfg.replicas, cfg.replicas.name or
                                      cfg.writer_name(), self.state, guard=self.guard, lease_check_s=cfg.lease_check_s)
        self.app = self._build(self.secrets)

    def _guardrails(self, cfg: GatewayConfig, notify_handoffs: bool) -> None:
        rails = cfg.guardrails
        assert rails is not None
        guard = self.guard = Guard(
            rails, service=cfg.service, variants=("stable", "candidate"), output_schema=cfg.load_output_schema(),
            input_schema=cfg.load_input_schema(), input_schema_enforced=cfg.input_schema_enforced,
            output_schema_enforced=cfg.output_schema_enforced, max_context_chars=cfg.max_context_chars,
            max_output_tokens=cfg.max_output_tokens, store=self.writer.store,
            on_event=lambda kind, reason: self.state.record(kind, reason), pricing=cfg.pricing)
        guard.load_level()
        guard.serving = lambda: [v for v, pct in self.state.weights.as_dict().items() if pct > 0]
        budget = self.proxy.budget
        if budget is not None:
            guard.budget_stopped = lambda: budget.stopped
        self.proxy.guard, self.proxy.guarded, self.recorder.guard = guard, GuardedCall, guard
        if rails.handoff.enabled:
            self.handoff = self.recorder.handoff = HandoffQueue(
                self.writer.store, cfg.service, cfg.writer_name(), role=rails.handoff.notify_role,
                dispatcher=_dispatcher(cfg) if notify_handoffs else None)
        self.metrics.attach_guard(guard)

    def _build(self, admin_token: GatewaySecrets) -> web.Application:
        app = web.Application(client_max_size=self.cfg.max_body_bytes)
        # traceparent in and out; spans when OTLP is configured, then also one per guard phase
        if install_tracing(app, self.cfg.service) and self.proxy.guarded is not None:
            self.proxy.guarded = TracedGuardedCall
        app[GATEWAY_KEY] = self
        app.add_routes([
            web.post("/v1/chat/completions", self.proxy.chat_completions),
            web.get("/v1/models", self.proxy.models),
            web.get("/metrics", self.metrics_handler),
            # /health is kept for existing probes and dashboards: it is liveness, like /health/live.
            web.get("/health", self.health),
            web.get("/health/live", self.health),
            web.get("/health/ready", self.ready),
        ])
        install_shadow(self, app, admin_token)  # /admin/shadow*: registered before the /admin sub-app
        install_review(self, app, admin_token)  # /admin/review-queue, likewise
        self.access = install_access(self, app)  # API keys on /v1 when required; SIGHUP re-reads keys and secrets
        admin = (AdminAPI(self.state, self.stats, self.recorder.drain, self.guard) if self.shared is None
                 else SharedAdminAPI(self.shared, self.state, self.stats, self.recorder.drain, self.guard))
        app.add_subapp("/admin", admin.app(admin_token))
        add_fallback(app)  # last: JSON 404/405 for anything no route above takes
        app.cleanup_ctx.append(self._lifecycle)
        return app

    def _on_event(self, event: dict[str, Any]) -> None:
        # Events are rare and matter (a lease expiry is an unattended rollback): log and count each.
        log.log(logging.WARNING if event["kind"] == "lease_expired" else logging.INFO,
                "gateway event %s: %s", event["kind"], event["reason"])
        self.metrics.events.labels(event["kind"]).inc()

    async def metrics_handler(self, request: web.Request) -> web.StreamResponse:
        self.recorder.drain()  # every request answered so far is in the scrape
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def health(self, request: web.Request) -> web.StreamResponse:
        """Liveness: this process serves requests (whatever its upstreams do)."""
        return web.json_response({"status": "ok", "service": self.cfg.service,
                                  "weights": self.state.weights.as_dict()})

    async def ready(self, request: web.Request) -> web.StreamResponse:
        """Readiness: the stable upstream accepted a connection at the last background probe."""
        status, body = self.readiness.answer()
        return web.json_response({**body, "service": self.cfg.service}, status=status)

    async def _lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        await self.proxy.start()
        tasks = [asyncio.create_task(self._lease_watchdog(), name="lease-watchdog"),
                 asyncio.create_task(self._flusher(), name="log-flusher"),
                 asyncio.create_task(self.readiness.run(), name="readiness-probe")]
        if self.handoff is not None:
            tasks.append(asyncio.create_task(self._handoff_flusher(), name="handoff-flusher"))
        if self.shared is not None:  # before serving: route by the shared document, or stable if unreadable
            tasks += await start_replica(self.shared, self.stats, self.recorder.drain, self.proxy.budget)
        self.state.record("started", f"gateway for {self.cfg.service} up; candidate "
                                     f"{self.state.weights.candidate:g}%")
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.proxy.close()
            self.recorder.drain()  # the requests answered last, before the budget's and the log's last writes
            if self.shared is not None:  # the last totals, marked stopped: the judge counts them, not misses them
                await self.shared.publish_once(self.stats, self.recorder.drain, stopped=True)
            if self.proxy.budget is not None:  # persist the day's spend for the next start
                await asyncio.to_thread(self.proxy.budget.close)
            await asyncio.to_thread(self.writer.flush)  # the last lines, after the last request
            if self.handoff is not None:
                await asyncio.to_thread(self.handoff.flush)
            if self.writer.pending:
                log.error("request log: %d lines could not be stored at shutdown (%s)",
                          self.writer.pending, self.writer.last_error)

    async def _lease_watchdog(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.lease_check_s)
            self.state.check_lease()

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.log_flush_s)
            await asyncio.to_thread(self.writer.flush)


    async def _handoff_flusher(self) -> None:
        assert self.handoff is not None and self.cfg.guardrails is not None
        while True:
            await asyncio.sleep(self.cfg.guardrails.handoff.flush_s)
            self.recorder.drain()
            await asyncio.to_thread(self.handoff.flush)


def _dispatcher(cfg: GatewayConfig) -> Any:
    """Where handoff notices go: the owners' routes, through the configured notifier."""
    from launchgate.notify import Dispatcher, make_notifier
    from launchgate.settings import Settings

    settings = Settings()
    return Dispatcher(make_notifier(settings.notifier or cfg.notifier, settings), cfg.owners)


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before serving, so a caller asking for port 0 learns the real port up front."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def serve(cfg: GatewayConfig, admin_token: str | GatewaySecrets) -> None:
    """Run the gateway until SIGINT/SIGTERM (blocking); the request log is flushed on the way out."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    # SIGHUP re-reads keys and secrets once the app runs (access_control.py); until then it must not stop us.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    gateway = Gateway(cfg, admin_token)
    sock = bind_socket(cfg.host, cfg.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"launchgate gateway: {cfg.service} at http://{shown}:{port}/v1 (admin API at /admin, token from "
          f"${cfg.admin_token_env}); stable {cfg.stable.model}, candidate "
          f"{cfg.candidate.model if cfg.candidate else 'none'}", flush=True)
    # Everything built so far (modules, config, app) lives as long as the process: keep it out of
    # the garbage collector's full passes, which would otherwise show up in the latency tail.
    gc.collect()
    gc.freeze()
    web.run_app(gateway.app, sock=sock, print=None, access_log=None, handle_signals=True,
                shutdown_timeout=5)
