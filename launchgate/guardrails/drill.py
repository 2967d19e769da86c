"""The fallback drill: prove, before the canary, that each runtime fault ends as documented. No Prefect here.

A gateway built from the release's own config (its guardrails, contracts and fallback) starts in
this process on a loopback port no user traffic knows, with a fault injector (faults.py) at the
candidate's address. Healthy calls get a valid answer from the injector at once (the real
candidate's quality and latency are the eval gate's and the load test's business). Real requests
then meet real faults:

    fault            expected (docs/gateway.md)                               metric
    upstream 500     200 fallback, X-LG-Degraded reason=upstream_error        launchgate_gateway_fallbacks
    timeout          200 fallback, reason=upstream_timeout                    launchgate_gateway_upstream_timeouts
    invalid JSON     retried once, then 200 fallback, reason=output_invalid   guardrail_events{output_contract,retried}
    over-cap input   413 context_too_long                                     guardrail_events{input_contract,...}
    breaker trip     200 fallback, reason=breaker_open, fast                  launchgate_gateway_breaker_state = 2
    budget stop      200 fallback, reason=budget_exceeded                     launchgate_gateway_fallbacks

Fallback answers must carry a handoff id that is found in the drill's handoff queue, and no
answer may show a traceback. The drill's breaker is tuned to trip within a few calls and its
upstream timeout is ``guardrails.drill.timeout_s``, so the whole drill takes a few seconds.
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel, Field

from launchgate.config import Budget, ReleaseConfig
from launchgate.gateway.budget import BudgetGuard
from launchgate.gateway.config import Upstream, from_release_config
from launchgate.guardrails.canonical import canonical
from launchgate.guardrails.faults import FaultInjector
from launchgate.guardrails.handoff import read_items
from launchgate.guardrails.harness import LoopThread
from launchgate.metrics.percentiles import percentile
from launchgate.store import LocalStore, layout
from launchgate.verdicts import Phase, StepResult, Verdict

log = logging.getLogger(__name__)

EVIDENCE = "drill/fallback_drill.json"
EVIDENCE_MD = "drill/fallback_drill.md"
CHECK = "fallback_drill"
P95_LIMIT_MS = 50.0
OPEN_SAMPLES = 20  # requests timed while the breaker is open


class FaultResult(BaseModel):
    fault: str
    expected: str
    status: int | None = None
    got: str | None = Field(default=None, description="error code, or the fallback's reason")
    handled: bool = False
    handoff: bool | None = Field(default=None, description="a handoff item was stored (fallback answers only)")
    metric: bool = False
    traceback: bool = False
    latency_ms: float | None = None
    note: str = ""


class DrillReport(BaseModel):
    service: str
    faults_injected: int
    handled_as_documented: int
    fallback_served: int
    handoff_recorded: int
    tracebacks: int
    p95_fallback_ms: float | None = Field(description="gateway-measured, while the breaker was open")
    p95_fallback_client_ms: float | None = Field(default=None, description="as the drill's client saw it")
    breaker_open_samples: int
    duration_s: float
    results: list[FaultResult]
    phase: Phase
    reason: str


def _reason(resp: httpx.Response) -> str | None:
    degraded = resp.headers.get("X-LG-Degraded", "")
    if degraded.startswith("fallback; reason="):
        return degraded.removeprefix("fallback; reason=")
    try:
        return str(resp.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        named = line.startswith(name + "{") or line.startswith(name + " ")
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def run_fallback_drill(cfg: ReleaseConfig, user_text: str,
                       on_progress: Callable[[str], None] | None = None) -> DrillReport:
    """Run every fault once against a private gateway; the report says what each yielded."""
    from launchgate.gateway.app import Gateway

    rails = cfg.guardrails
    if rails is None:
        raise ValueError("the fallback drill needs a guardrails: section")
    say = on_progress or (lambda msg: None)
    started = time.monotonic()
    drill_rails = rails.model_copy(update={
        "rate_limit": None, "tenant_budgets": None,
        "breaker": rails.breaker.model_copy(update={"enabled": True, "window_s": 60.0, "min_requests": 4,
                                                    "failure_rate": 50.0, "open_s": 0.25, "half_open_probes": 1}),
        "degradation": rails.degradation.model_copy(update={"level": "normal"}),
        "handoff": rails.handoff.model_copy(update={"enabled": True, "on_fallback": True}),
    })
    timeout = rails.drill.timeout_s
    # Healthy calls answer with the fallback answer (valid against the output schema by config
    # check): instant and certain, so a slow real candidate cannot trip the drill's short timeout.
    ok_content = canonical(rails.fallback.answer, None) if rails.fallback.answer is not None else None
    injector = FaultInjector(cfg.candidate.endpoint, api_key=_env(cfg.candidate.api_key_env), hang_s=timeout * 3,
                             ok_content=ok_content)
    loop = LoopThread("fallback-drill")
    results: list[FaultResult] = []
    open_latencies: list[float] = []
    client_latencies: list[float] = []
    with tempfile.TemporaryDirectory(prefix="lg-fallback-drill-") as tmp:
        store = LocalStore(tmp)
        try:
            inj_url = loop.serve(injector.app())
            base = from_release_config(cfg, host="127.0.0.1", port=0)
            gcfg = base.model_copy(update={
                "candidate": Upstream(url=f"{inj_url}/v1", model=cfg.candidate.model,
                                      prompt_version=cfg.candidate.prompt.version,
                                      system_prompt=base.candidate.system_prompt if base.candidate else None),
                "initial_candidate_pct": 100.0, "log_store_uri": tmp, "upstream_timeout_s": timeout,
                "connect_timeout_s": min(2.0, base.connect_timeout_s), "upstream_retries": 0,
                "budget": None, "guardrails": drill_rails, "log_writer": "fallback-drill",
                # a private loopback gateway whose only caller is this drill: no client API keys
                "access": base.access.model_copy(update={"required": False}),
            })
            # The drill's handoffs are evidence, not work for a person: nobody is notified.
            gateway = Gateway(gcfg, secrets.token_urlsafe(24), store=store, notify_handoffs=False)
            url = loop.serve(gateway.app)
            results, client_latencies = _drive(url, gateway, injector, cfg, user_text, say, loop, store)
            open_latencies = _gateway_latencies(store, cfg.service, "breaker_open")
        finally:
            loop.close()
    fallbacks = [r for r in results if r.handoff is not None]
    p95 = percentile(open_latencies, 95)
    handled = sum(r.handled for r in results)
    tracebacks = sum(r.traceback for r in results)
    ok = handled == len(results) and tracebacks == 0 and p95 is not None and p95 <= P95_LIMIT_MS
    if ok:
        reason = (f"All {len(results)} injected faults ended as documented ({len(fallbacks)} fallback answers, each "
                  f"with a handoff record); fallback p95 {p95:.1f} ms while the breaker was open.")
    else:
        bad = [f"{r.fault} (expected {r.expected}, got {r.status} {r.got}{'; ' + r.note if r.note else ''})"
               for r in results if not r.handled]
        if tracebacks:
            bad.append(f"{tracebacks} answer(s) showed a traceback")
        if p95 is None or p95 > P95_LIMIT_MS:
            bad.append(f"fallback p95 {p95 if p95 is not None else 'n/a'} ms > {P95_LIMIT_MS:g} ms")
        reason = ("The fallback drill found faults not handled as documented: " + "; ".join(bad)
                  + ". Fix the guardrails config (fallback answer, breaker, contracts) before the canary.")
    return DrillReport(service=cfg.service, faults_injected=len(results), handled_as_documented=handled,
                       fallback_served=len(fallbacks), handoff_recorded=sum(bool(r.handoff) for r in fallbacks),
                       tracebacks=tracebacks, p95_fallback_ms=None if p95 is None else round(p95, 2),
                       p95_fallback_client_ms=_round(percentile(client_latencies, 95)),
                       breaker_open_samples=len(open_latencies), duration_s=round(time.monotonic() - started, 3),
                       results=results, phase=Phase.SUCCESSFUL if ok else Phase.FAILED, reason=reason)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _env(name: str | None) -> str | None:
    import os

    return os.environ.get(name) if name else None


def _drive(url: str, gateway: Any, injector: FaultInjector, cfg: ReleaseConfig, user_text: str,
           say: Callable[[str], None], loop: LoopThread,
           store: LocalStore) -> tuple[list[FaultResult], list[float]]:
    body = {"model": cfg.service, "messages": [{"role": "user", "content": user_text}]}
    results: list[FaultResult] = []
    handoffs: list[str] = []

    with httpx.Client(base_url=url, timeout=10.0) as client:
        def send(payload: dict[str, Any] | None = None) -> tuple[httpx.Response, float]:
            t = time.perf_counter()
            resp = client.post("/v1/chat/completions", json=payload or body)
            return resp, (time.perf_counter() - t) * 1000

        def metrics() -> str:
            return client.get("/metrics").text

        def expect_fallback(fault: str, reason: str, resp: httpx.Response, ms: float, metric_ok: bool,
                            note: str = "") -> FaultResult:
            got = _reason(resp)
            hid = resp.headers.get("X-LG-Handoff")
            if hid:
                handoffs.append(hid)
            return FaultResult(fault=fault, expected=f"200 fallback reason={reason}", status=resp.status_code,
                               got=got, handled=resp.status_code == 200 and got == reason and metric_ok,
                               handoff=bool(hid), metric=metric_ok, traceback="Traceback" in resp.text,
                               latency_ms=round(ms, 2), note=note)

        # A healthy call first: the route works end to end (and fills the breaker's window with a success).
        say("fallback drill: baseline through the private gateway")
        injector.mode = "pass"
        baseline, _ = send()

        say("fallback drill: over-cap input")
        cap = cfg.contracts.max_context_chars
        resp, ms = send({**body, "messages": [{"role": "user", "content": "x" * (cap + 1)}]})
        m = _metric(metrics(), "launchgate_gateway_guardrail_events_total", control="input_contract",
                    outcome="context_too_long")
        got = _reason(resp)
        results.append(FaultResult(fault="over_cap_input", expected="413 context_too_long", status=resp.status_code,
                                   got=got, handled=resp.status_code == 413 and got == "context_too_long" and m >= 1,
                                   metric=m >= 1, traceback="Traceback" in resp.text, latency_ms=round(ms, 2)))

        say("fallback drill: invalid JSON from the candidate")
        injector.mode = "invalid_json"
        resp, ms = send()
        text = metrics()
        m_ok = _metric(text, "launchgate_gateway_guardrail_events_total", control="output_contract",
                       outcome="retried") >= 1 and _metric(text, "launchgate_gateway_fallbacks_total",
                                                            reason="output_invalid") >= 1
        results.append(expect_fallback("invalid_json", "output_invalid", resp, ms, m_ok))

        say("fallback drill: candidate timeout")
        injector.mode = "timeout"
        resp, ms = send()
        m_ok = _metric(metrics(), "launchgate_gateway_upstream_timeouts_total", variant="candidate") >= 1
        results.append(expect_fallback("timeout", "upstream_timeout", resp, ms, m_ok))

        say("fallback drill: candidate HTTP 500")
        injector.mode = "http_500"
        resp, ms = send()
        m_ok = _metric(metrics(), "launchgate_gateway_fallbacks_total", reason="upstream_error") >= 1
        results.append(expect_fallback("http_500", "upstream_error", resp, ms, m_ok))

        say("fallback drill: breaker trip")
        breaker = gateway.guard.breakers["candidate"]
        for _ in range(20):
            if int(breaker.state) == 2:
                break
            send()
        open_latencies: list[float] = []
        resp, ms = send()
        for _ in range(OPEN_SAMPLES):
            r, t = send()
            if _reason(r) == "breaker_open":
                open_latencies.append(t)
            if r.headers.get("X-LG-Handoff"):
                handoffs.append(r.headers["X-LG-Handoff"])
        m_ok = _metric(metrics(), "launchgate_gateway_breaker_state", upstream="candidate") == 2
        results.append(expect_fallback("breaker_trip", "breaker_open", resp, ms, m_ok,
                                       note=f"{len(open_latencies)} answers timed while open"))

        if baseline.status_code == 200 and not baseline.headers.get("X-LG-Degraded"):
            say("fallback drill: recovery (half-open probe)")
            injector.mode = "pass"
            time.sleep(gateway.guard.breakers["candidate"].open_s + 0.05)
            resp, ms = send()
            closed = _metric(metrics(), "launchgate_gateway_breaker_state", upstream="candidate") == 0
            results.append(FaultResult(fault="breaker_recovery", expected="200 from the candidate, breaker closed",
                                       status=resp.status_code, got=_reason(resp) or "answered",
                                       handled=resp.status_code == 200 and not resp.headers.get("X-LG-Degraded")
                                       and closed, metric=closed, traceback="Traceback" in resp.text,
                                       latency_ms=round(ms, 2)))

        say("fallback drill: budget stop")
        results.append(_budget_stop(gateway, store, cfg, send, metrics, expect_fallback, injector, loop))

        async def settle() -> None:  # on the gateway's own loop: the recorder is not thread-safe
            gateway.recorder.drain()

        loop.call(settle())
        gateway.handoff.flush()
        gateway.writer.flush()
    stored = {item.id for item in read_items(store, cfg.service, days=1)}
    missing = [h for h in handoffs if h not in stored]
    if missing:
        for r in results:
            if r.handoff:
                r.handoff = False
                r.handled = False
                r.note = (r.note + "; " if r.note else "") + f"{len(missing)} handoff id(s) not in the queue"
    return results, open_latencies


def _gateway_latencies(store: LocalStore, service: str, reason: str) -> list[float]:
    """The gateway's own latency (request in -> answer written) of the requests the fallback
    answered for ``reason``, from the drill's request log: unlike a client's clock it does not
    count this process's other threads (a release runs the drill beside Prefect's)."""
    out: list[float] = []
    for key in store.list(layout.requests_prefix(service)):
        for line in store.get(key).splitlines():
            rec = json.loads(line)
            if rec.get("fallback") == reason and isinstance(rec.get("latency_ms"), int | float):
                out.append(float(rec["latency_ms"]))
    return out


def _budget_stop(gateway: Any, store: LocalStore, cfg: ReleaseConfig, send: Any, metrics: Any,
                 expect_fallback: Any, injector: FaultInjector, loop: LoopThread) -> FaultResult:
    """A tiny daily budget on the private gateway, spent by one answered request: the next is the stop."""
    # Not load()ed: the drill's store holds no earlier spend, and reading the request log would
    # import the log query engine just for that. One recorded spend puts the day at its cap.
    guard = BudgetGuard(store, cfg.service, Budget(daily_usd=1e-9, alert_usd=1e-9, pipeline_daily_usd=1.0))
    guard.record(1e-6)
    gateway.proxy.budget = gateway.recorder.budget = guard
    gateway.guard.budget_stopped = lambda: guard.stopped
    try:
        resp, ms = send()
        m_ok = _metric(metrics(), "launchgate_gateway_fallbacks_total", reason="budget_exceeded") >= 1
        return expect_fallback("budget_stop", "budget_exceeded", resp, ms, m_ok)
    finally:
        gateway.proxy.budget = gateway.recorder.budget = None
        guard.close()


def drill_markdown(report: DrillReport) -> str:
    rows = "\n".join(
        f"| {r.fault} | {r.expected} | {r.status} {r.got or ''} | {'yes' if r.handled else '**no**'} | "
        f"{'-' if r.handoff is None else ('yes' if r.handoff else '**no**')} | {r.latency_ms} |"
        for r in report.results)
    p95 = "n/a" if report.p95_fallback_ms is None else f"{report.p95_fallback_ms:.1f} ms"
    return (f"# Fallback drill: {report.phase.value}\n\n{report.reason}\n\n"
            f"- faults injected: {report.faults_injected}, handled as documented: {report.handled_as_documented}\n"
            f"- fallback answers: {report.fallback_served}, handoff records: {report.handoff_recorded}\n"
            f"- fallback p95 while the breaker was open: {p95} over {report.breaker_open_samples} requests "
            f"(gateway-measured, limit {P95_LIMIT_MS:g} ms; the client saw {report.p95_fallback_client_ms} ms)\n"
            f"- tracebacks seen by callers: {report.tracebacks}\n"
            f"- duration: {report.duration_s:.2f} s\n\n"
            "| fault | expected | got | handled | handoff | latency ms |\n|---|---|---|---|---|---|\n" + rows + "\n")


def fallback_drill_step(run: Any) -> StepResult:
    """The release step: run the drill with the first golden case's input, write the evidence."""
    from launchgate.canary.traffic import golden_prompts

    cfg: ReleaseConfig = run.config
    prompts = golden_prompts([c.input for c in run.cases][:1])
    user_text = prompts[0][-1]["content"] if prompts else json.dumps({"text": "hello"})
    report = run_fallback_drill(cfg, user_text, on_progress=log.info)
    run.bundle.put_json(EVIDENCE, report.model_dump(mode="json"))
    run.bundle.put_text(EVIDENCE_MD, drill_markdown(report), content_type="text/markdown")
    verdict = Verdict(check=CHECK, phase=report.phase, value=report.handled_as_documented,
                      threshold=report.faults_injected, reason=report.reason, evidence=EVIDENCE)
    return StepResult(step="fallback_drill", verdicts=[verdict], evidence=[EVIDENCE, EVIDENCE_MD],
                      summary=report.reason, markdown=drill_markdown(report))
