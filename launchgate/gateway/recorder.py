"""What the gateway records about each request, worked out after the answer has been written.

The proxy hands every finished request to ``Recorder.submit`` as it stood on the wire: the
variant, timings, status, the upstream's raw answer bytes (or the stream's events). Everything
that does not change the response happens here, in batches on the event loop, a few ms later:
reading the answer (content, usage), the schema check, cost, the budget guard's spend,
redacting the prompt, the request log line, the windowed stats and Prometheus.

Readers never see a stale view: ``drain()`` runs before every ``/admin/stats`` and ``/metrics``
answer, before the budget guard admits a request (so a daily cap stays exact), and on
shutdown before the request log's last flush, so nothing submitted is lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any, NamedTuple

from launchgate.gateway.budget import BUDGET_EXCEEDED, BudgetGuard
from launchgate.gateway.config import GatewayConfig, Upstream
from launchgate.gateway.handoff import HandoffQueue
from launchgate.gateway.logwriter import RequestLogWriter, iso_ts
from launchgate.gateway.metrics import GatewayMetrics
from launchgate.gateway.payload import ChatRequest, Completion, SSEAccumulator, read_completion, read_error_code
from launchgate.gateway.schemacheck import SchemaChecker
from launchgate.gateway.window import RequestRecord, StatsWindow
from launchgate.guardrails.handoff import HandoffItem
from launchgate.privacy.redact import redact

log = logging.getLogger("launchgate.gateway")

# Error codes the gateway itself produces (proxy.py's docstring); anything else came from an upstream.
GATEWAY_CODES = frozenset({"invalid_request", "request_too_large", "no_upstream", "upstream_error",
                           "upstream_timeout", "client_closed", "gateway_error", BUDGET_EXCEEDED,
                           # the guardrails' codes (guard.py, guarded.py; docs/gateway.md)
                           "context_too_long", "max_tokens_too_large", "input_invalid", "input_blocked",
                           "rate_limited", "overloaded", "tenant_budget_exceeded", "breaker_open",
                           "output_invalid", "output_blocked", "fallback_unavailable",
                           # client API keys (clientauth.py; docs/access.md)
                           "model_not_allowed", "key_budget_exceeded"})
BATCH_S = 0.005  # how long a finished request may wait for its record; a batch costs one timer
# Records per turn of the event loop when the timer drains: after a burst, requests waiting on
# the loop get their turn between slices instead of behind one long drain (~100 us per record).
SLICE = 16
_EMPTY = Completion()


@dataclass(slots=True)
class Outcome:
    """What one request ended as on the wire; filled in by the handler."""

    status: int = 0
    error_code: str | None = None
    ttft_s: float | None = None
    retries: int = 0
    body: bytes | None = None  # a non-streamed upstream answer, read by the recorder
    stream: SSEAccumulator | None = None  # a streamed answer's events, read by the recorder
    # Set by the guardrails (guarded.py) only:
    guard: list[tuple[str, str]] | None = None  # (control, outcome) decisions, in order
    tenant: str | None = None
    fallback: str | None = None  # the fallback answered, for this reason
    handoff_id: str | None = None
    flag: str | None = None  # a guard flagged the request for a person
    no_evidence: bool = False  # refused before any model was asked: not in the per-variant stats
    timed_out: bool = False
    first_invalid: bool = False  # an attempt failed the output contract (a retry may have fixed it)
    subject: str | None = None  # the end user's id (data.subject): the log writer writes only its HMAC
    key_id: str | None = None  # the client API key's public id (clientauth.py), never the key


class Finished(NamedTuple):
    started: float  # unix time the request arrived
    ended: float  # unix time its answer was written
    latency_s: float
    request_id: str
    release_id: str | None
    variant: str
    upstream: Upstream | None
    chat: ChatRequest | None
    outcome: Outcome


class _Sha256Cache:
    """sha256 of system prompts: a service sends the same few prompts over and over."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._known: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        digest = self._known.get(text)
        if digest is None:
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            if len(self._known) >= self.size:
                self._known.clear()  # a client varying its system prompt per request: stay bounded
            self._known[text] = digest
        return digest


class Recorder:
    def __init__(self, cfg: GatewayConfig, stats: StatsWindow, writer: RequestLogWriter, metrics: GatewayMetrics,
                 checker: SchemaChecker, batch_s: float = BATCH_S) -> None:
        self.cfg = cfg
        # Read per record: plain attributes, not a walk through the config models each time.
        self._service = cfg.service
        self._prompt_chars = cfg.prompt_log_chars
        self._cost = cfg.pricing.cost
        self.stats = stats
        self.writer = writer
        self.metrics = metrics
        self.checker = checker
        self.budget: BudgetGuard | None = None
        self.guard: Any = None  # launchgate.gateway.guard.Guard, when the config has guardrails
        self.handoff: HandoffQueue | None = None
        self.key_spend: Any = None  # clientauth.ClientAuth.spend when /v1 needs API keys: per key, per day
        self.batch_s = batch_s
        self._pending: list[Finished] = []
        self.failures = 0
        self._timer: asyncio.Handle | None = None
        self._sha256 = _Sha256Cache()

    def submit(self, done: Finished) -> None:
        self._pending.append(done)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.batch_s, self._on_timer)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _on_timer(self) -> None:
        self._timer = None
        self.drain(SLICE)
        if self._pending:
            self._timer = asyncio.get_running_loop().call_soon(self._on_timer)

    def drain(self, limit: int | None = None) -> int:
        """Record what was submitted so far (the oldest ``limit``, or all); returns how many."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if limit is None or len(self._pending) <= limit:
            batch, self._pending = self._pending, []
        else:
            batch, self._pending = self._pending[:limit], self._pending[limit:]
        lines = []
        for done in batch:
            try:
                lines.append(self._record(done))
            except Exception:  # noqa: BLE001 - a bug in one record must not cost the rest of the batch
                self.failures += 1
                log.exception("could not record request %s", done.request_id)
        if lines:
            self.writer.extend(lines)
        return len(batch)

    def _record(self, f: Finished) -> tuple[dict[str, object], float]:
        o = f.outcome
        status, code = o.status, o.error_code
        done = _EMPTY
        if o.stream is not None:
            done = o.stream.finish()
            if done.error_code and status == 200:
                # The upstream sent an error event inside a 200 stream: the user saw a failed request,
                # so it is recorded (and counted by the canary) as one.
                status, code = 502, done.error_code
        elif o.body is not None:
            if status == 200:
                done = read_completion(o.body)
            else:
                code = read_error_code(o.body) or f"upstream_{status}"
        schema_ok = self.checker.check(done.content) if status == 200 and not done.error_code else None
        if o.first_invalid:
            schema_ok = False  # the model's first answer failed; a retry or the fallback covered for it
        tin, tout = done.input_tokens, done.output_tokens
        cost = None
        if tin is not None and tout is not None:
            cost = round(self._cost(tin, tout), 8)
        if self.budget is not None:  # the budget guard's per-request hook
            self.budget.record(cost, f.started)
        upstream, chat = f.upstream, f.chat
        prompt = ""
        if chat is not None and self._prompt_chars:
            # Redact the whole text before cutting it: a cut could split a secret past recognition.
            prompt = redact(chat.user_text)[: self._prompt_chars]
        prompt_sha = None
        if chat is not None:
            effective = chat.system_prompt
            if effective is None and upstream is not None:
                effective = upstream.system_prompt  # the variant's prompt, applied by the proxy
            prompt_sha = None if effective is None else self._sha256(effective)
        latency_ms = round(f.latency_s * 1000, 3)
        ttft_ms = None if o.ttft_s is None else round(o.ttft_s * 1000, 3)
        line = {
            "ts": iso_ts(f.started), "request_id": f.request_id, "service": self._service,
            "release_id": f.release_id, "variant": f.variant, "model": upstream.model if upstream else None,
            "prompt_version": upstream.prompt_version if upstream else None, "prompt_sha256": prompt_sha,
            "status": status, "error_code": code, "latency_ms": latency_ms, "ttft_ms": ttft_ms,
            "input_tokens": tin, "output_tokens": tout, "cost_usd": cost, "schema_ok": schema_ok,
            "retries": o.retries, "prompt_redacted": prompt,
        }
        if o.subject is not None:
            line["subject"] = o.subject  # hashed by the installed data policy; never among the written fields
        if o.key_id is not None:  # the authenticated key: its id and tenant, and its day's spend
            line["key_id"], line["tenant"] = o.key_id, o.tenant
            if cost and self.key_spend is not None:
                self.key_spend.add(o.key_id, cost, f.started)
        if o.guard is not None:
            self._guarded(f, line, prompt, cost)
        if code != BUDGET_EXCEEDED and not o.no_evidence:  # a refusal before any model: no evidence about either
            self.stats.add(RequestRecord(f.ended, f.variant, status, latency_ms, ttft_ms, schema_ok, cost, tin, tout,
                                         o.retries, o.timed_out or code == "upstream_timeout"))
        if code and code not in GATEWAY_CODES:
            code = f"upstream_{status}"  # upstream codes are free text: keep metric labels bounded
        self.metrics.observe(f.variant, status, f.latency_s, o.ttft_s, tin, tout, cost, schema_ok, code, o.retries)
        return line, f.started

    def _guarded(self, f: Finished, line: dict[str, object], prompt: str, cost: float | None) -> None:
        """The guardrails' part of a record: log fields, counters, tenant spend, the handoff item."""
        o = f.outcome
        events = o.guard or []
        line.update(tenant=o.tenant, guard=[f"{c}:{r}" for c, r in events] or None, fallback=o.fallback,
                    handoff_id=o.handoff_id, client_status=200 if o.fallback and o.status != 200 else None)
        m = self.metrics
        for control, result in events:
            m.guard_event(control, result, f.variant)
        if o.fallback:
            m.fallback(o.fallback, f.variant)
        if o.timed_out or o.error_code == "upstream_timeout":
            m.timeout(f.variant)
        if cost and o.tenant is not None and self.guard is not None:
            self.guard.tenant_spend.add(o.tenant, cost, f.started)
        rails = self.guard.rails if self.guard is not None else None
        reason = None
        if o.handoff_id:
            reason = f"fallback:{o.fallback}"
        elif o.flag and rails is not None and rails.handoff.enabled and rails.handoff.on_flag:
            reason = f"flagged:{o.flag}"
        if reason and self.handoff is not None:
            item_id = o.handoff_id or f.request_id
            line["handoff_id"] = item_id
            if f.chat is not None and not prompt:
                prompt = redact(f.chat.user_text)[:2000]
            self.handoff.add(HandoffItem(id=item_id, ts=iso_ts(f.started), service=self._service,
                                         request_id=f.request_id, reason=reason, variant=f.variant, tenant=o.tenant,
                                         release_id=f.release_id, prompt_redacted=prompt))
            m.handoff(reason.split(":", 1)[0])
