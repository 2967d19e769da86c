"""Traffic router over an HAProxy backend that a team already runs: stable and candidate servers.

launchgate does not write HAProxy's configuration: the backend already has a stable and a
candidate server (``canary.haproxy``); the router moves weight between them with the runtime API
(``set weight BACKEND/SERVER N``, no reload) and reads it back with ``get weight``. Weights are
percent: stable ``100 - pct``, candidate ``pct`` (whole numbers, checked by the config). The
change that lowers the candidate's share is always made first, so a rollback is at 0% after its
first command, and a failure between the two commands never leaves more on the candidate than
either end state.

No lease: HAProxy keeps the last weights when the controller dies. What protects users then is a
Prefect automation that runs the ``rollback`` deployment when a release run crashes or fails
(tasks/automations.py, docs/scaleout.md). ``heartbeat`` and ``release`` do nothing.

Its own metrics (``window``) are HAProxy's per-server response counters from ``show stat``,
windowed against readings this router took itself (one at every weight change), so they serve the
rollback drill's probe in the same process; the canary judge reads HAProxy's Prometheus exporter
instead (launchgate/config/haproxy.py), which the config enforces.
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from collections.abc import Callable

from launchgate.config.haproxy import HAProxyRouting
from launchgate.errors import RouterError
from launchgate.router.base import CANDIDATE, STABLE, WindowStats
from launchgate.router.haproxy_api import RuntimeAPI

_RESPONSES = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")


class HAProxyRouter:
    name = "haproxy"

    def __init__(self, cfg: HAProxyRouting, api: RuntimeAPI | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.api = api or RuntimeAPI(cfg.admin_socket, timeout_s=cfg.timeout_s, retries=cfg.retries)
        self.clock = clock
        self.servers = {STABLE: cfg.stable_server, CANDIDATE: cfg.candidate_server}
        self._readings: list[tuple[float, dict[str, tuple[int, int]]]] = []

    def _path(self, variant: str) -> str:
        return f"{self.cfg.backend}/{self.servers[variant]}"

    def attach_candidate(self, url: str, model: str, prompt_version: str, release_id: str,
                         system_prompt: str | None = None) -> None:
        """Nothing to point: the candidate server already serves the candidate. Check both servers exist."""
        for variant in (STABLE, CANDIDATE):
            try:
                self.api.get_weight(self.cfg.backend, self.servers[variant])
            except RouterError as exc:
                raise RouterError(f"HAProxy backend {self.cfg.backend} has no {variant} server "
                                  f"{self.servers[variant]!r} ({exc}): add it to the backend, or fix "
                                  f"canary.haproxy.{variant}_server") from exc

    def set_candidate_weight(self, pct: float, reason: str) -> None:
        if pct != int(pct) or not 0 <= pct <= 100:
            raise RouterError(f"HAProxy weights are whole percents 0..100, got {pct:g} ({reason})")
        want = {STABLE: 100 - int(pct), CANDIDATE: int(pct)}
        # Lower the candidate's share first; a rollback needs no read before its first command.
        up = pct > 0 and pct > self.weights().get(CANDIDATE, 0.0)
        order = (STABLE, CANDIDATE) if up else (CANDIDATE, STABLE)
        for variant in order:
            self.api.set(f"set weight {self._path(variant)} {want[variant]}")
        self._take_reading()

    def weights(self) -> dict[str, float]:
        raw = {v: self.api.get_weight(self.cfg.backend, self.servers[v]) for v in (STABLE, CANDIDATE)}
        total = sum(raw.values())
        return {v: (100.0 * w / total if total else 0.0) for v, w in raw.items()}

    def heartbeat(self, holder: str, ttl_s: float) -> None:
        return None  # no lease in HAProxy (see the module docstring)

    def release(self, holder: str) -> None:
        return None

    # -- the router's own metrics: show stat, windowed against this router's readings ----------------

    def counters(self) -> dict[str, tuple[int, int]]:
        """(HTTP responses, 5xx responses) per variant since HAProxy started, from ``show stat``."""
        text = self.api.command("show stat").lstrip("# ")
        rows = {r.get("svname"): r for r in csv.DictReader(io.StringIO(text)) if r.get("pxname") == self.cfg.backend}
        out = {}
        for variant, server in self.servers.items():
            row = rows.get(server)
            if row is None:
                raise RouterError(f"HAProxy's `show stat` has no server {self.cfg.backend}/{server}")
            try:
                out[variant] = (sum(int(row.get(c) or 0) for c in _RESPONSES), int(row.get("hrsp_5xx") or 0))
            except ValueError as exc:
                raise RouterError(f"HAProxy's `show stat` row for {server} is not numeric: {exc}") from exc
        return out

    def _take_reading(self) -> None:
        with contextlib.suppress(RouterError):  # a missing reading only limits what window() can answer
            self._readings.append((self.clock(), self.counters()))
        del self._readings[:-16]

    def window(self, since: float) -> dict[str, WindowStats]:
        base = next((c for t, c in reversed(self._readings) if t <= since), None)
        if base is None:
            raise RouterError("HAProxy's counters run since it started; this process has no reading from before "
                              "the window: judge the canary from Prometheus (observability.canary_metrics)")
        now = self.counters()
        return {v: WindowStats(count=max(0, now[v][0] - base[v][0]), errors=max(0, now[v][1] - base[v][1]),
                               unmeasured=["latency", "schema", "cost"]) for v in (STABLE, CANDIDATE)}
