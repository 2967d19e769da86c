"""The gateway's budget guard: alert at ``alert_usd``, answer a fallback instead of calling the model at ``daily_usd``.

The day's totals live in the budget ledger (launchgate/budget/ledger.py, ``<service>/state/budget/<day>.json``),
which the guard writes as a conditional update, so a release booking its own spend on the same file
at the same moment loses nothing, and neither does the guard. While the store is down a persist is
logged and skipped (updates are never spooled); the next one writes the running totals again.

The hook (launchgate/gateway/proxy.py admits, launchgate/gateway/recorder.py records) is three calls:

    guard.allow(now)          before calling the model; False = answer the fallback below
    guard.rejection(now)      -> (429, body, headers): the documented fallback response
    guard.record(cost, now)   after each request, with its cost_usd (None = nothing billed)

``record`` only adds to a float under a lock; store writes and Slack messages run on one
background thread, so the proxy never waits on S3 or Slack. The alert goes out as soon as the
crossing request is recorded (the seed asks for under 5 minutes).

The fallback response (HTTP 429, OpenAI error shape, ``Retry-After`` = seconds to 00:00 UTC)::

    {"error": {"message": "...daily budget...", "type": "budget_exceeded", "code": "budget_exceeded",
               "param": null}}
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol

from launchgate.budget.ledger import BUDGET_EXCEEDED, BudgetEvent, BudgetState, GatewayLedger, read_state, update_state
from launchgate.config import Budget
from launchgate.errors import StoreError
from launchgate.notify.base import Notice
from launchgate.requestlog.queries import day_spend
from launchgate.store.base import ArtifactStore

__all__ = ["BUDGET_EXCEEDED", "BudgetGuard", "Level", "fallback_response", "gateway_guard", "level"]

log = logging.getLogger("launchgate.budget")

BUDGET_ROLES = ("budget", "oncall")  # who hears about the alert and the stop


class Level(StrEnum):
    OK = "ok"
    ALERT = "alert"
    STOP = "stop"


def level(spend_usd: float, budget: Budget) -> Level:
    """Pure: where a day's spend stands against the budget (the cap wins over the alert)."""
    if spend_usd >= budget.daily_usd:
        return Level.STOP
    if spend_usd >= budget.alert_usd:
        return Level.ALERT
    return Level.OK


def utc_day(unix: float) -> date:
    return datetime.fromtimestamp(unix, UTC).date()


def seconds_to_midnight(unix: float) -> int:
    now = datetime.fromtimestamp(unix, UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return max(1, int((midnight - now).total_seconds()))


def fallback_response(service: str, budget: Budget, spend_usd: float, unix: float) -> tuple[int, dict[str, Any],
                                                                                             dict[str, str]]:
    """The documented answer while the day's budget is spent: (status, body, headers)."""
    wait = seconds_to_midnight(unix)
    body = {"error": {
        "message": f"The daily budget of ${budget.daily_usd:.2f} for {service} is spent (${spend_usd:.2f} today); "
                   f"requests are refused until 00:00 UTC. Ask the budget owner to raise budget.daily_usd.",
        "type": BUDGET_EXCEEDED, "code": BUDGET_EXCEEDED, "param": None,
    }}
    return 429, body, {"Retry-After": str(wait)}


class _Dispatcher(Protocol):
    def send(self, notice: Notice) -> Any: ...


def logged_spend(store: ArtifactStore, service: str, day: date) -> tuple[float, int]:
    """The day's spend and request count from the request log (every writer's flushed lines)."""
    return day_spend(store, service, day)


class BudgetGuard:
    """Per-service daily spend of one gateway process; see the module docstring for the hook.

    On start it takes the larger of the state file's total and the request log's (a restart loses
    nothing the log or the last persist had). ``refresh_s``: every ``refresh_s`` the guard re-reads
    the day's log (every writer's flushed lines) in the background and keeps the larger total.

    ``shared``: replicas of one service (gateway.replicas.shared_state). Each adds its own spend
    since its last flush to the day ledger (``sync``, every ``budget_sync_s`` from the gateway's
    loop, and at once on a crossing) and takes the service's total back from the same conditional
    write, so the alert and the stop apply to the total. A replica sees another's spend within
    that replica's sync interval plus its own: the bound is 2 x ``budget_sync_s`` plus two store
    writes. Crossing notices are claimed on the ledger first, so one replica announces each.
    """

    def __init__(self, store: ArtifactStore, service: str, budget: Budget, *, dispatcher: _Dispatcher | None = None,
                 persist_s: float = 5.0, refresh_s: float | None = None,
                 clock: Callable[[], float] | None = None, shared: bool = False) -> None:
        self.store = store
        self.service = service
        self.budget = budget
        self.dispatcher = dispatcher
        self.persist_s = persist_s
        self.refresh_s = refresh_s
        self.clock = clock or time.time
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"budget-{service}")
        self._pending: list[Future[Any]] = []
        self.day: date | None = None
        self._day_span = (0.0, 0.0)  # [start, end) of self.day in unix seconds: the hot path compares floats
        self.spend = 0.0
        self.requests = 0
        self.alerted = False
        self.stopped = False
        self._last_persist = 0.0
        self._last_refresh = 0.0
        self.errors = 0
        self.shared = shared
        self._unflushed = 0.0  # shared: this replica's spend not yet on the ledger
        self._unflushed_requests = 0

    # ---------------------------------------------------------------------------- the hook

    def load(self, now: float | None = None) -> BudgetGuard:
        """Pick up today's spend and alert/stop flags from the store (blocking: call before serving)."""
        now = self.clock() if now is None else now
        day = utc_day(now)
        try:
            state = read_state(self.store, self.service, day)
        except StoreError as exc:  # the request log below still has the day's spend
            log.warning("budget guard: ignoring an unreadable state file: %s", exc)
            state = None
        logged, count = logged_spend(self.store, self.service, day)
        with self._lock:
            self._set_day(day)
            ledger = state.gateway if state else GatewayLedger()
            # Shared: the ledger is the service's total (the log's total would be booked twice).
            self.spend = ledger.spend_usd if self.shared else max(ledger.spend_usd, logged)
            self.requests = ledger.requests if self.shared else max(ledger.requests, count)
            self.alerted = ledger.alerted_at is not None  # once per day, across restarts
            # Stopped is recomputed, not remembered: a raised daily_usd takes effect on restart.
            self.stopped = self.spend >= self.budget.daily_usd
            self._last_refresh = self._last_persist = now
        return self

    def allow(self, now: float | None = None) -> bool:
        """False once today's spend reached ``daily_usd``: answer ``rejection()`` instead of calling the model."""
        now = self.clock() if now is None else now
        with self._lock:
            self._roll(now)
            return not self.stopped

    def rejection(self, now: float | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
        now = self.clock() if now is None else now
        return fallback_response(self.service, self.budget, self.spend, now)

    def record(self, cost_usd: float | None, now: float | None = None) -> None:
        """Add one request's cost; crossing alert_usd or daily_usd notifies and persists at once."""
        now = self.clock() if now is None else now
        crossed: list[Level] = []
        with self._lock:
            self._roll(now)
            self.requests += 1
            self._unflushed_requests += 1
            if cost_usd:
                self.spend += cost_usd
                self._unflushed += cost_usd
            crossed += self._crossings()
            persist = bool(crossed) or (not self.shared and now - self._last_persist >= self.persist_s)
            refresh = self.refresh_s is not None and now - self._last_refresh >= self.refresh_s
            if persist:
                self._last_persist = now
            if refresh:
                self._last_refresh = now
            snapshot = (self.day, self.spend, self.requests)
        if crossed or persist or refresh:
            self._submit(self._side_effects, snapshot, crossed, refresh, now)

    # ------------------------------------------------------------------------- housekeeping

    def _crossings(self) -> list[Level]:
        """The levels the spend has just crossed (each once a day). Call with the lock held."""
        crossed: list[Level] = []
        lvl = level(self.spend, self.budget)
        if lvl is not Level.OK and not self.alerted:
            self.alerted = True
            crossed.append(Level.ALERT)
        if lvl is Level.STOP and not self.stopped:
            self.stopped = True
            crossed.append(Level.STOP)
        return crossed

    def _set_day(self, day: date) -> None:
        start = datetime.combine(day, datetime.min.time(), UTC).timestamp()
        self.day, self._day_span = day, (start, start + 86400.0)

    def _roll(self, now: float) -> None:
        """A new UTC day starts from zero (no store read on the request path; refresh catches up).

        Only forward: a request that started before midnight and ends after it counts on the new day.
        """
        if self.day is not None and now < self._day_span[1]:
            return
        if self.day is not None and self.shared:
            self._submit(self._flush, self.day, self._unflushed, self._unflushed_requests, now)
        elif self.day is not None:
            self._submit(self._persist, self.day, self.spend, self.requests, now)
        self._set_day(utc_day(now))
        self.spend, self.requests = 0.0, 0
        self._unflushed, self._unflushed_requests = 0.0, 0
        self.alerted = self.stopped = False

    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            future = self._worker.submit(fn, *args)
        except RuntimeError:  # closed: the process is shutting down
            return
        self._pending = [f for f in self._pending if not f.done()] + [future]

    def _side_effects(self, snapshot: tuple[date | None, float, int], crossed: list[Level], refresh: bool,
                      now: float) -> None:
        day, spend, requests = snapshot
        if day is None:
            return
        for lvl in crossed:
            self._announce(lvl, day, spend, now)
        if refresh:
            self._refresh(day)
        self._persist(day, spend, requests, now)

    def _refresh(self, day: date) -> None:
        try:
            logged, count = logged_spend(self.store, self.service, day)
        except (StoreError, OSError) as exc:
            self.errors += 1
            log.warning("budget guard: cannot read the request log of %s: %s", day, exc)
            return
        with self._lock:
            if self.day == day and logged > self.spend:
                self.spend, self.requests = logged, max(self.requests, count)
                if self.spend >= self.budget.daily_usd:
                    self.stopped = True

    def sync(self, now: float | None = None) -> None:
        """Shared: add this replica's spend to the ledger (or read it when there is none) and take
        the service's total back; blocking, called from a worker thread every ``budget_sync_s``."""
        now = self.clock() if now is None else now
        with self._lock:
            self._roll(now)
            day, delta, requests = self.day, self._unflushed, self._unflushed_requests
            self._unflushed, self._unflushed_requests = 0.0, 0
        if day is not None:
            self._flush(day, delta, requests, now)

    def _flush(self, day: date, delta: float, requests: int, now: float) -> None:
        at = datetime.fromtimestamp(now, UTC)

        def add(state: BudgetState) -> None:
            g = state.gateway
            g.spend_usd = round(g.spend_usd + delta, 8)
            g.requests += requests
            g.updated_at = at

        try:
            state = (update_state(self.store, self.service, day, self.budget, add) if delta or requests
                     else read_state(self.store, self.service, day))
        except (StoreError, OSError) as exc:
            self.errors += 1
            log.warning("budget guard: cannot sync %s's spend with the ledger: %s", day, exc)
            with self._lock:  # booked on the next sync
                if self.day == day:
                    self._unflushed += delta
                    self._unflushed_requests += requests
            return
        crossed: list[Level] = []
        with self._lock:
            if self.day != day:
                return
            total = state.gateway if state is not None else GatewayLedger()
            self.spend = total.spend_usd + self._unflushed
            self.requests = total.requests + self._unflushed_requests
            crossed += self._crossings()
            spend = self.spend
        for lvl in crossed:
            self._announce(lvl, day, spend, now)

    def _claim(self, lvl: Level, day: date, now: float) -> bool:
        """Shared: mark the crossing on the ledger; True for the one replica that marked it first."""
        at = datetime.fromtimestamp(now, UTC)
        won: list[bool] = []

        def change(state: BudgetState) -> None:
            won.clear()
            g = state.gateway
            if lvl is Level.ALERT and g.alerted_at is None:
                g.alerted_at = at
                won.append(True)
            if lvl is Level.STOP and g.stopped_at is None:
                g.stopped_at = at
                won.append(True)

        try:
            update_state(self.store, self.service, day, self.budget, change)
        except (StoreError, OSError) as exc:  # announce anyway: a doubled notice beats a lost one
            log.warning("budget guard: cannot claim the %s notice: %s", lvl.value, exc)
            return True
        return bool(won)

    def _persist(self, day: date, spend: float, requests: int, now: float) -> None:
        if self.shared:
            self.sync(now)
            return
        at = datetime.fromtimestamp(now, UTC)

        def change(state: BudgetState) -> None:
            g = state.gateway
            g.spend_usd = round(max(g.spend_usd, spend), 8)  # another process may have seen more
            g.requests = max(g.requests, requests)
            g.updated_at = at

        try:
            update_state(self.store, self.service, day, self.budget, change)
        except (StoreError, OSError) as exc:
            self.errors += 1
            log.warning("budget guard: cannot persist %s's state: %s", day, exc)

    def _announce(self, lvl: Level, day: date, spend: float, now: float) -> None:
        if self.shared and not self._claim(lvl, day, now):
            return  # another replica crossed first and tells the owners
        at = datetime.fromtimestamp(now, UTC)
        b = self.budget
        if lvl is Level.ALERT:
            title = f"Budget alert: {self.service} spent ${spend:.2f} of ${b.daily_usd:.2f} today"
            text = (f"Spend crossed the alert threshold (${b.alert_usd:.2f}). At ${b.daily_usd:.2f} the gateway "
                    f"stops calling the model and answers {BUDGET_EXCEEDED} until 00:00 UTC.")
            threshold = b.alert_usd
        else:
            title = f"Budget stop: {self.service} reached its ${b.daily_usd:.2f} daily cap"
            text = (f"The gateway now answers HTTP 429 {BUDGET_EXCEEDED} instead of calling the model, until "
                    f"00:00 UTC. Raise budget.daily_usd and restart the gateway to resume earlier.")
            threshold = b.daily_usd
        kind: Literal["alert", "stop"] = "alert" if lvl is Level.ALERT else "stop"
        event = BudgetEvent(kind=kind, at=at, spend_usd=round(spend, 6), threshold_usd=threshold)
        for role in BUDGET_ROLES:
            if self.dispatcher is None:
                break
            outcome = self.dispatcher.send(Notice(
                event=f"budget_{lvl.value}", role=role, service=self.service, status="alarm", title=title, text=text,
                fields={"spend": f"${spend:.2f}", "alert at": f"${b.alert_usd:.2f}", "cap": f"${b.daily_usd:.2f}",
                        "day": f"{day:%Y-%m-%d}"}))
            if getattr(outcome, "ok", False):
                event.notified.append(role)
            else:
                event.errors.append(f"{role}: {getattr(outcome, 'error', 'not delivered')}")
        log.warning("%s (notified: %s)", title, ", ".join(event.notified) or "nobody")

        def change(state: BudgetState) -> None:
            state.events.append(event)
            if lvl is Level.ALERT and state.gateway.alerted_at is None:
                state.gateway.alerted_at = at
            if lvl is Level.STOP and state.gateway.stopped_at is None:
                state.gateway.stopped_at = at

        try:
            update_state(self.store, self.service, day, self.budget, change)
        except (StoreError, OSError) as exc:
            self.errors += 1
            log.warning("budget guard: cannot record the %s event: %s", lvl.value, exc)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait for queued store writes and notices (tests, shutdown)."""
        for future in list(self._pending):
            future.result(timeout=timeout)

    def close(self, now: float | None = None) -> None:
        """Persist the final total and stop the worker (the gateway calls this on shutdown)."""
        now = self.clock() if now is None else now
        with self._lock:
            snapshot = (self.day, self.spend, self.requests)
        if snapshot[0] is not None:
            self._submit(self._persist, *snapshot, now)
        self._worker.shutdown(wait=True)


def gateway_guard(store: ArtifactStore, service: str, budget: Budget, owners: Any, notifier: str, *,
                  shared: bool = False) -> BudgetGuard:
    """The guard a gateway process runs: notices go to the budget owner and on-call via the configured notifier."""
    from launchgate.notify import Dispatcher, make_notifier
    from launchgate.settings import Settings

    settings = Settings()
    dispatcher = Dispatcher(make_notifier(settings.notifier or notifier, settings), owners)
    return BudgetGuard(store, service, budget, dispatcher=dispatcher, shared=shared).load()
