"""Wiring of the gateway's access control: client API keys on /v1, and the reload of keys and secrets.

``install_access`` (called once by app.py while the app is built):

- when ``/v1`` needs keys (``access.keys_required(host)``), reads the key registry once, installs
  clientauth.py's middleware and per-key admission, and polls the registry every ``access.poll_s``;
- on SIGHUP (where the process can take signals: a served gateway, not one in a test's thread),
  re-reads the admin tokens and upstream keys (secretset.py) and the key registry, in a worker
  thread, without touching a connection: requests in flight finish on the values they started with;
- records each secret that changed (names only) in ``layout.secret_rotations`` and as a gateway
  event; a store that cannot take the record is logged, the new values hold anyway;
- serves ``GET /admin/access`` (admin token): the registry as last read (version, keys, active, the
  last error) and the last secrets reload (when, ok, errors, how many admin tokens are valid).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from launchgate.access.rotations import RotationEvent, record_changes
from launchgate.errors import LaunchgateError
from launchgate.gateway.admin import token_guard
from launchgate.gateway.clientauth import ClientAuth

if TYPE_CHECKING:
    from launchgate.gateway.app import Gateway

log = logging.getLogger("launchgate.gateway.access")
RELOAD_TIMEOUT_S = 30.0


class AccessControl:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        cfg = gateway.cfg
        self.auth: ClientAuth | None = None
        if cfg.access.keys_required(cfg.host):
            refusals = gateway.metrics.auth_refusals
            self.auth = ClientAuth(gateway.writer.store, cfg.service, cfg.access.poll_s,
                                   on_event=lambda kind, reason: gateway.state.record(kind, reason),
                                   on_refusal=lambda reason: refusals.labels(reason=reason).inc())
        self._reloading: asyncio.Task[None] | None = None
        self._again = False
        self.reloads = 0

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        tasks = []
        if self.auth is not None:
            await self.auth.refresh()  # before the first request: an unreadable store refuses every key
            tasks.append(asyncio.create_task(self.auth.poll(), name="key-registry-poll"))
        await self._record(self.gw.secrets.take_events())  # first_seen of each secret, for `status`
        loop = asyncio.get_running_loop()
        hup = False
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # not the main thread
            loop.add_signal_handler(signal.SIGHUP, self.reload_soon)
            hup = True
        try:
            yield
        finally:
            if hup:
                loop.remove_signal_handler(signal.SIGHUP)
            for task in [*tasks, *([self._reloading] if self._reloading else [])]:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def reload_soon(self) -> None:
        """SIGHUP: one reload at a time; a signal during a reload runs one more after it (the files it read
        may already have changed again)."""
        self._again = True
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.get_running_loop().create_task(self._reload_while_asked(), name="secrets-reload")

    async def _reload_while_asked(self) -> None:
        while self._again:
            self._again = False
            await self.reload()

    async def reload(self) -> None:
        self.reloads += 1
        try:
            await asyncio.wait_for(asyncio.to_thread(self.gw.secrets.load), RELOAD_TIMEOUT_S)
        except (LaunchgateError, TimeoutError) as exc:  # the tokens and keys held before stay valid
            log.error("SIGHUP: secrets not re-read, the previous ones stay: %s", exc)
            self.gw.state.record("secrets_reload_failed", str(exc)[:300])
        events = self.gw.secrets.take_events()
        for e in events:
            self.gw.state.record("secret_rotated", f"{e.kind} {e.name}: {e.change}")
        await self._record(events)
        if self.auth is not None:
            await self.auth.refresh()
        self.gw.state.record("reloaded", f"SIGHUP: {len(events)} secrets changed; "
                                         f"{self.gw.secrets.last_reload.get('admin_tokens', 0)} admin tokens valid")

    async def _record(self, events: list[RotationEvent]) -> None:
        if not events:
            return
        try:
            await asyncio.wait_for(asyncio.to_thread(record_changes, self.gw.writer.store, self.gw.cfg.service,
                                                     events), RELOAD_TIMEOUT_S)
        except (LaunchgateError, TimeoutError) as exc:
            log.error("secret rotations not recorded (%s); the new values hold", exc)


    async def get_access(self, request: web.Request) -> web.StreamResponse:
        """``GET /admin/access``: whether /v1 needs keys, the registry as last read, the last secrets reload."""
        keys = self.auth.status() if self.auth is not None else {"required": False}
        return web.json_response({"keys": keys, "secrets": self.gw.secrets.last_reload, "sighup_reloads": self.reloads})


def install_access(gateway: Gateway, app: web.Application) -> AccessControl:
    """Called before the /admin sub-app is added, so /admin/access is matched first (like /admin/shadow)."""
    access = AccessControl(gateway)
    if access.auth is not None:
        app.middlewares.append(access.auth.middleware)
        gateway.proxy.access = access.auth
        gateway.recorder.key_spend = access.auth.spend
    app.add_routes([web.get("/admin/access", token_guard(gateway.secrets)(access.get_access))])
    app.cleanup_ctx.append(access.lifecycle)
    return access
