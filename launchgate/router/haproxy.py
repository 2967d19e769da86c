"""Traffic router over an HAProxy backend that a team already runs: stable and candidate servers.

launchgate does not write HAProxy's configuration: the backend already has a stable and a
candidate server (``canary.haproxy``); the router moves weight between them with the runtime API
(``set weight BACKEND/SERVER N``, no reload) and reads it back with ``get weight``. Weights are
percent: stable ``100 - pct``, candidate ``pct`` (whole numbers, checked by the config). The
change that lowers the candidate's share is always made first, so a rollback is at 0% after its
first command, and a failure between the two commands never leaves more on the candidate than
either end state. Several HAProxy instances (a pair behind a VIP) each get the same weights; a
rollback tries every instance even when one fails, and ``weights`` reports the instance giving
the candidate most, so a drill or a canary never reads "stable" while one instance is not.

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

    def __init__(self, cfg: HAProxyRouting, apis: list[RuntimeAPI] | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.apis = apis or [RuntimeAPI(a, timeout_s=cfg.timeout_s, retries=cfg.retries) for a in cfg.sockets]
        self.clock = clock
        self.servers = {STABLE: cfg.stable_server, CANDIDATE: cfg.candidate_server}
        self._readings: list[tuple[float, dict[str, tuple[int, int]]]] = []

    def _path(self, variant: str) -> str:
        return f"{self.cfg.backend}/{self.servers[variant]}"

    def attach_candidate(self, url: str, model: str, prompt_version: str, release_id: str,
                         system_prompt: str | None = None) -> None:
        """Nothing to point: the candidate server already serves the candidate. Check both servers exist
        and that the candidate carries nothing yet: after a promotion it carries 100%, and a new canary
        would send the rest back to the old model on the stable server."""
        for api in self.apis:
            for variant in (STABLE, CANDIDATE):
                try:
                    api.get_weight(self.cfg.backend, self.servers[variant])
                except RouterError as exc:
                    raise RouterError(f"HAProxy backend {self.cfg.backend} has no {variant} server "
                                      f"{self.servers[variant]!r} ({exc}): add it to the backend, or fix "
                                      f"canary.haproxy.{variant}_server") from exc
        share = self.weights()[CANDIDATE]
        if share > 0:
            raise RouterError(f"HAProxy's candidate server {self._path(CANDIDATE)} already carries {share:g}% "
                              f"(a promoted or unfinished release): make the promoted model the stable server, "
                              f"or run `launchgate rollback`, before a new release shifts traffic")

    def set_candidate_weight(self, pct: float, reason: str) -> None:
        """The same weights on every HAProxy instance; every instance is tried even when one fails."""
        if pct != int(pct) or not 0 <= pct <= 100:
            raise RouterError(f"HAProxy weights are whole percents 0..100, got {pct:g} ({reason})")
        want = {STABLE: 100 - int(pct), CANDIDATE: int(pct)}
        failed: list[RouterError] = []
        for api in self.apis:
            try:
                # Lower the candidate's share first; a rollback needs no read before its first command.
                up = pct > 0 and pct > _percent(self._raw(api)).get(CANDIDATE, 0.0)
                for variant in (STABLE, CANDIDATE) if up else (CANDIDATE, STABLE):
                    api.set(f"set weight {self._path(variant)} {want[variant]}")
            except RouterError as exc:
                failed.append(exc)
        self._take_reading()
        if failed and len(self.apis) == 1:
            raise failed[0]
        if failed:
            raise RouterError(f"{len(failed)} of {len(self.apis)} HAProxy instance(s) did not take candidate "
                              f"{pct:g}% ({reason}): {failed[0]}") from failed[0]

    def weights(self) -> dict[str, float]:
        """Percent of the two servers' weights; with several instances, the one giving the candidate most."""
        return max((_percent(self._raw(api)) for api in self.apis), key=lambda w: w[CANDIDATE])

    def _raw(self, api: RuntimeAPI) -> dict[str, int]:
        return {v: api.get_weight(self.cfg.backend, self.servers[v]) for v in (STABLE, CANDIDATE)}

    def heartbeat(self, holder: str, ttl_s: float) -> None:
        return None  # no lease in HAProxy (see the module docstring)

    def release(self, holder: str) -> None:
        return None

    # -- the router's own metrics: show stat, windowed against this router's readings ----------------

    def counters(self) -> dict[str, tuple[int, int]]:
        """(HTTP responses, 5xx responses) per variant since HAProxy started, from ``show stat``, summed."""
        out = {v: (0, 0) for v in self.servers}
        for api in self.apis:  # several instances: their counts add up
            text = api.command("show stat").lstrip("# ")
            rows = {r.get("svname"): r for r in csv.DictReader(io.StringIO(text))
                    if r.get("pxname") == self.cfg.backend}
            for variant, server in self.servers.items():
                row = rows.get(server)
                if row is None:
                    raise RouterError(f"HAProxy's `show stat` at {api.address} has no server "
                                      f"{self.cfg.backend}/{server}")
                try:
                    n, err = sum(int(row.get(c) or 0) for c in _RESPONSES), int(row.get("hrsp_5xx") or 0)
                except ValueError as exc:
                    raise RouterError(f"HAProxy's `show stat` row for {server} is not numeric: {exc}") from exc
                out[variant] = (out[variant][0] + n, out[variant][1] + err)
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


def _percent(raw: dict[str, int]) -> dict[str, float]:
    total = sum(raw.values())
    return {v: (100.0 * w / total if total else 0.0) for v, w in raw.items()}
