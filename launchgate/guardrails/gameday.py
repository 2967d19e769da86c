"""The gameday: the readiness seed's simulated incident, end to end, with the runbook's own commands.

The service's two variants run as simulated models (its ``variants.yaml``), behind a gateway built
from its release.yaml with the candidate at 50% (a canary in progress), on loopback ports no user
traffic knows. Steady traffic flows; then the candidate's model fails outright. The script then
does what docs/runbook.md tells on-call to do, through the same functions the commands call:

    detect        the candidate's circuit breaker opens (``launchgate status`` shows it)
    disable       ``launchgate traffic disable``: every caller gets the fallback, no model calls
    find LKG      ``launchgate status`` (last_known_good), else the config's stable
    roll back     ``launchgate rollback``: candidate weight 0
    enable        ``launchgate traffic enable``: stable serves again

Time to detect = outage start -> breaker open; time to recover = outage start -> the first
stretch of answers that are all good model answers from stable. Each step is verified with real
requests; the record says which passed. No Prefect here.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from launchgate.config import ReleaseConfig
from launchgate.gateway.client import GatewayAdmin
from launchgate.gateway.config import from_release_config
from launchgate.guardrails.harness import LoopThread, simulated_model
from launchgate.store import ArtifactStore, layout
from launchgate.store.jsonio import find_object

GOOD_STREAK = 10  # consecutive good stable answers that count as recovered


class GamedayStep(BaseModel):
    step: str
    command: str
    ok: bool
    at_s: float
    detail: str


class GamedayRecord(BaseModel):
    service: str
    started_at: datetime
    time_to_detect_s: float | None
    time_to_recover_s: float | None
    last_known_good: dict[str, Any] | None
    steps: list[GamedayStep]
    requests: int
    ok: bool
    reason: str


class _Traffic:
    """Steady requests in a thread; each answer kept as (t, status, variant, degraded)."""

    def __init__(self, url: str, body: dict[str, Any], rps: float) -> None:
        self.url, self.body, self.period = url, body, 1.0 / rps
        self.answers: list[tuple[float, int, str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gameday-traffic", daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while not self._stop.is_set():
                t = time.monotonic()
                try:
                    r = client.post(f"{self.url}/v1/chat/completions", json=self.body)
                    self.answers.append((t, r.status_code, r.headers.get("X-LG-Variant", ""),
                                         r.headers.get("X-LG-Degraded", "")))
                except httpx.HTTPError:
                    self.answers.append((t, 0, "", ""))
                self._stop.wait(max(0.0, self.period - (time.monotonic() - t)))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def since(self, t: float) -> list[tuple[float, int, str, str]]:
        return [a for a in list(self.answers) if a[0] >= t]


def _wait(pred: Any, timeout_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step_s)
    return bool(pred())


def run_gameday(cfg: ReleaseConfig, variants_file: Path, *, store: ArtifactStore, stable_variant: str = "stable",
                candidate_variant: str = "good-candidate", user_text: str, rps: float = 40.0,
                say: Any = print) -> GamedayRecord:
    from launchgate.config.context import ServiceContext
    from launchgate.gateway.app import Gateway
    from launchgate.release.ops import manual_rollback

    if cfg.guardrails is None:
        raise ValueError("the gameday needs a guardrails: section (the runbook's commands act on it)")
    started_at = datetime.now(UTC)
    sims = ExitStack()

    def sim(variant: str) -> str:
        return sims.enter_context(simulated_model(variants_file, variant, latency_ms={"median": 15, "p95": 30}))

    steps: list[GamedayStep] = []
    loop = LoopThread("gameday")
    token = secrets.token_urlsafe(24)
    ttd = ttr = None
    lkg: dict[str, Any] | None = None
    traffic: _Traffic | None = None
    with tempfile.TemporaryDirectory(prefix="lg-gameday-") as tmp:
        try:
            stable_url, cand_url = sim(stable_variant), sim(candidate_variant)
            rails = cfg.guardrails.model_copy(update={
                "rate_limit": None, "input": cfg.guardrails.input.model_copy(update={"contract": False}),
                "breaker": cfg.guardrails.breaker.model_copy(update={"window_s": 10.0, "min_requests": 5}),
                "handoff": cfg.guardrails.handoff.model_copy(update={"enabled": False})})
            game_cfg = cfg.model_copy(update={
                "stable": cfg.stable.model_copy(update={"endpoint": stable_url}),
                "candidate": cfg.candidate.model_copy(update={"endpoint": cand_url}),
                "guardrails": rails})
            gcfg = from_release_config(game_cfg, host="127.0.0.1", port=0).model_copy(update={
                "initial_candidate_pct": 50.0, "log_store_uri": tmp, "budget": None, "log_writer": "gameday",
                "upstream_timeout_s": 2.0, "access": game_cfg.access.model_copy(update={"required": False})})
            from launchgate.store import LocalStore

            gateway = Gateway(gcfg, token, store=LocalStore(tmp))
            url = loop.serve(gateway.app)
            os.environ["LAUNCHGATE_GAMEDAY_TOKEN"] = token
            ops_cfg = game_cfg.model_copy(update={"canary": cfg.canary.model_copy(update={
                "router": "gateway", "gateway_url": url, "gateway_token_env": "LAUNCHGATE_GAMEDAY_TOKEN"})})
            ops_ctx = ServiceContext.from_config(ops_cfg, artifacts=tmp)
            admin = GatewayAdmin(url, token)
            body = {"model": cfg.service, "messages": [{"role": "user", "content": user_text}]}
            traffic = _Traffic(url, body, rps)
            traffic.start()
            t_start = time.monotonic()

            def step(name: str, command: str, ok: bool, detail: str) -> None:
                steps.append(GamedayStep(step=name, command=command, ok=ok, at_s=round(time.monotonic() - t_start, 3),
                                         detail=detail))
                say(f"gameday: {name}: {'ok' if ok else 'FAILED'} ({detail})")

            _wait(lambda: len(traffic.answers) >= 20, 10)
            healthy = traffic.since(t_start)
            step("steady", "traffic at 50% candidate", all(a[1] == 200 and not a[3] for a in healthy),
                 f"{len(healthy)} answers, all 200 from the models")

            t_outage = time.monotonic()
            httpx.post(f"{cand_url.removesuffix('/v1')}/sim/knobs", json={"error_rate": 1.0}, timeout=5)
            step("outage", "candidate model fails every request", True, "simulated model error_rate 1.0")

            def breaker_open() -> bool:
                return admin.guard()["breakers"]["candidate"]["state"] == "open"

            detected = _wait(breaker_open, 30)
            ttd = round(time.monotonic() - t_outage, 3) if detected else None
            step("detect", "launchgate status (guardrails.breakers.candidate)", detected,
                 f"candidate breaker open {ttd}s after the outage began" if detected else "breaker never opened")

            admin.set_degradation("fallback_only", "gameday: candidate outage", "gameday")
            t_dis = time.monotonic()
            _wait(lambda: len(traffic.since(t_dis)) >= 5, 10)
            after = traffic.since(t_dis)
            step("disable", "launchgate traffic disable --reason ... --as ...",
                 bool(after) and all(a[1] == 200 and a[3].startswith("fallback") for a in after),
                 f"{len(after)} answers, all the fallback")

            lkg = find_object(store, layout.last_known_good(cfg.service))
            lkg_model = (lkg or {}).get("model") or cfg.stable.model
            step("find_last_known_good", "launchgate status (last_known_good)", True,
                 f"last known good: {lkg_model}" + ("" if lkg else " (no record in the store: the config's stable)"))

            record = manual_rollback(ops_ctx, reason="gameday: candidate outage")
            weights = record.get("weights_after") or {}
            step("roll_back", "launchgate rollback --service S --reason ...", weights.get("candidate") == 0,
                 f"weights after: {weights}")

            admin.set_degradation("normal", "gameday: rolled back to stable", "gameday")
            t_en = time.monotonic()

            def recovered() -> bool:
                recent = traffic.since(t_en)
                return len(recent) >= GOOD_STREAK and all(a[1] == 200 and a[2] == "stable" and not a[3]
                                                          for a in recent[-GOOD_STREAK:])

            ok = _wait(recovered, 15)
            if ok:
                good = traffic.since(t_en)[-GOOD_STREAK:]
                ttr = round(good[0][0] - t_outage, 3)
            step("enable", "launchgate traffic enable --reason ... --as ...", ok,
                 f"stable answering again; recovered {ttr}s after the outage began" if ok else "not recovered")
        finally:
            if traffic is not None:
                traffic.stop()
            loop.close()
            sims.close()
            os.environ.pop("LAUNCHGATE_GAMEDAY_TOKEN", None)
    all_ok = bool(steps) and all(s.ok for s in steps) and ttd is not None and ttr is not None
    reason = (f"Gameday passed: outage detected in {ttd}s, recovered in {ttr}s with the runbook's commands."
              if all_ok else "Gameday failed at: " + ", ".join(s.step for s in steps if not s.ok)
              + ". Fix the runbook step or the guardrails config before relying on them in an incident.")
    return GamedayRecord(service=cfg.service, started_at=started_at, time_to_detect_s=ttd, time_to_recover_s=ttr,
                         last_known_good=lkg, steps=steps, requests=len(traffic.answers) if traffic else 0,
                         ok=all_ok, reason=reason)
