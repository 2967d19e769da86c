"""The gateway's guardrails: what one gateway process holds to enforce release.yaml's ``guardrails:``.

The request flow that calls these is guarded.py; the pure rules are launchgate/guardrails/.
Everything here runs on the event loop and is cheap per request (a few to a few tens of
microseconds each): dict lookups, a compiled schema, a cue-word pre-check before any regex,
the ``limits`` library's in-memory windows. Store writes (the audited level, handoff items)
happen on worker threads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import jsonschema_rs

from launchgate.config.guardrails import Guardrails
from launchgate.errors import ConfigError
from launchgate.gateway import jsoncodec
from launchgate.gateway.payload import ChatRequest, message_text
from launchgate.gateway.ratelimit import RateLimiter
from launchgate.gateway.slots import Slots
from launchgate.guardrails import canonical, injection, outputfilter
from launchgate.guardrails.breaker import Breaker, State
from launchgate.guardrails.degradation import Level, LevelChange, effective
from launchgate.store import ArtifactStore, layout

log = logging.getLogger("launchgate.gateway.guard")

DEGRADED_HEADER = "X-LG-Degraded"
HANDOFF_HEADER = "X-LG-Handoff"
CLAMPED_HEADER = "X-LG-Clamped"
GUARD_HEADER = "X-LG-Guard"
_SAFE_TENANT = re.compile(r"[^A-Za-z0-9._:-]")
MAX_AUDIT = 200  # level changes kept in state/degradation.json


class GuardReject(Exception):  # noqa: N818 - a decision, not a failure: the caller answers it
    """A request the guardrails answer themselves, with a documented code."""

    def __init__(self, status: int, code: str, message: str, control: str, *, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.control = status, code, message, control
        self.param = param
        self.headers = headers or {}


@dataclass
class OutputCheck:
    """What the output contract and filter made of one non-streamed answer."""

    body: bytes | None  # the (possibly canonicalised or redacted) answer; None = not usable
    reason: str | None = None  # why not usable: output_invalid | output_blocked
    events: list[tuple[str, str]] = field(default_factory=list)
    flagged: bool = False
    repaired: bool = False  # valid JSON was found only after stripping text around it


def _first_field(err: Any) -> str | None:
    path = ".".join(str(p) for p in err.instance_path)
    if path:
        return path
    quoted = re.search(r"""['"]([^'"]+)['"]""", err.message)
    return quoted.group(1) if quoted else None


class TenantSpend:
    """Per-tenant spend of the current UTC day (this process), for ``guardrails.tenant_budgets``."""

    def __init__(self) -> None:
        self.day: date | None = None
        self.spend: dict[str, float] = {}

    def add(self, tenant: str, cost: float, now: float) -> None:
        self._roll(now)
        self.spend[tenant] = self.spend.get(tenant, 0.0) + cost

    def of(self, tenant: str, now: float) -> float:
        self._roll(now)
        return self.spend.get(tenant, 0.0)

    def _roll(self, now: float) -> None:
        day = datetime.fromtimestamp(now, UTC).date()
        if day != self.day:
            self.day, self.spend = day, {}


class Guard:
    def __init__(self, rails: Guardrails, *, service: str, variants: tuple[str, ...],
                 output_schema: dict[str, Any] | None, input_schema: dict[str, Any] | None,
                 input_schema_enforced: bool, output_schema_enforced: bool, max_context_chars: int | None,
                 max_output_tokens: int | None, store: ArtifactStore,
                 on_event: Callable[[str, str], None] | None = None, pricing: Any = None) -> None:
        self.rails = rails
        self.service = service
        self.store = store
        self.on_event = on_event or (lambda kind, reason: None)
        self.max_context_chars = max_context_chars if rails.input.contract else None
        self.max_output_tokens = max_output_tokens if rails.input.contract else None
        self.reject_over_cap = rails.input.over_cap_output == "reject"
        self._input_validator = (jsonschema_rs.validator_for(input_schema, offline=True)
                                 if input_schema is not None and input_schema_enforced and rails.input.contract
                                 else None)
        self.output_schema = output_schema
        self._output_valid = (jsonschema_rs.validator_for(output_schema, offline=True).is_valid
                              if output_schema is not None and output_schema_enforced else None)
        self.output_retries = rails.output.retries
        self.tenant_header = rails.tenant_header
        self.rate = RateLimiter(rails.rate_limit) if rails.rate_limit else None
        bp = rails.backpressure
        self.slots = {v: Slots(bp.max_in_flight, bp.queue, bp.queue_timeout_s) for v in variants} if bp else {}
        self.retry_after_s = bp.retry_after_s if bp else 1
        b = rails.breaker
        self.breakers: dict[str, Breaker] = {}
        if b.enabled:
            for v in variants:
                self.breakers[v] = Breaker(window_s=b.window_s, min_requests=b.min_requests,
                                           failure_rate=b.failure_rate / 100, open_s=b.open_s,
                                           probes=b.half_open_probes, on_change=self._breaker_changed(v))
        self.tenant_spend = TenantSpend()
        # The most one request can cost: every character a token, plus the output cap (None: unbounded).
        self.max_request_usd: float | None = None
        if pricing is not None and self.max_context_chars is not None and self.max_output_tokens is not None:
            self.max_request_usd = pricing.cost(self.max_context_chars, self.max_output_tokens)
        self.budget_stopped: Callable[[], bool] = lambda: False
        # The variants that get traffic now (the app wires in the routing weights): only their breakers count.
        self.serving: Callable[[], list[str]] = lambda: list(variants)
        fb = rails.fallback
        self.fallback_on = frozenset(fb.on)
        self.fallback_content: str | None = None
        if fb.answer is not None:
            if output_schema is not None and not jsonschema_rs.validator_for(output_schema, offline=True).is_valid(
                    fb.answer):
                raise ConfigError("guardrails", ["guardrails.fallback.answer: not valid against the output schema "
                                                 "(contracts.output_schema); fix the answer or the schema"])
            self.fallback_content = canonical.canonical(fb.answer, output_schema)
        self.fallback_endpoint = fb.endpoint
        self.level = Level.parse(rails.degradation.level)
        self.changes: list[LevelChange] = []
        self._last_effective = self.level

    # -------------------------------------------------------------------------------- levels

    def _breaker_changed(self, variant: str) -> Callable[[State, State, str], None]:
        def changed(old: State, new: State, why: str) -> None:
            self.on_event("breaker", f"{variant} breaker {old.name.lower()} -> {new.name.lower()}: {why}")
            self._audit_automatic("breaker", f"{variant} breaker {new.name.lower()}: {why}")
        return changed

    def _audit_automatic(self, source: str, why: str) -> None:
        """An automatic change of the effective level is audited like an operator's (by: gateway)."""
        now = self.effective_level()
        if now is self._last_effective:
            return
        change = LevelChange(level=now.label, previous=self._last_effective.label, by="gateway", reason=why,
                             source=source)
        self._last_effective = now
        self.changes = [*self.changes, change][-MAX_AUDIT:]
        self.on_event("degradation", f"effective level {change.previous} -> {change.level} ({source}): {why}")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop (pure use): the in-memory record above is all there is
        loop.run_in_executor(None, self._persist_quietly, change)

    def _persist_quietly(self, change: LevelChange) -> None:
        try:
            self.persist_change(change)
        except Exception as exc:  # noqa: BLE001 - the store is down: the change is still logged as an event
            log.warning("degradation audit record not stored: %s", exc)

    def effective_level(self) -> Level:
        serving = [self.breakers[v] for v in self.serving() if v in self.breakers]
        open_all = bool(serving) and all(b.state is State.OPEN for b in serving)
        return effective(self.level, breakers_open=open_all, budget_stopped=self.budget_stopped(),
                         automatic=self.rails.degradation.automatic)

    def set_level(self, level: Level, by: str, reason: str, source: str = "admin") -> LevelChange:
        change = LevelChange(level=level.label, previous=self.level.label, by=by, reason=reason, source=source)
        self.level = level
        self._last_effective = self.effective_level()
        self.changes = [*self.changes, change][-MAX_AUDIT:]
        self.on_event("degradation", f"level {change.previous} -> {change.level} by {by}: {reason}")
        return change

    def persist_change(self, change: LevelChange) -> None:
        """Append the change to state/degradation.json (a conditional write: two gateways lose nothing)."""
        def apply(current: bytes | None) -> bytes:
            doc = json.loads(current) if current else {"level": "normal", "changes": []}
            if change.source == "admin":  # the operator's level outlives restarts; automatic ones clear themselves
                doc["level"] = change.level
            doc["changes"] = [*doc.get("changes", []), change.model_dump(mode="json")][-MAX_AUDIT:]
            return json.dumps(doc, indent=1).encode()

        self.store.update(layout.degradation(self.service), apply)

    def load_level(self) -> None:
        """Pick up the level an operator set before this process started (it outlives restarts)."""
        try:
            raw = self.store.get(layout.degradation(self.service))
        except Exception:  # noqa: BLE001 - missing or unreadable: the config's level stands
            return
        try:
            doc = json.loads(raw)
            self.level = Level.parse(str(doc.get("level", self.level.label)))
            self.changes = [LevelChange.model_validate(c) for c in doc.get("changes", [])][-MAX_AUDIT:]
        except ValueError as exc:
            log.warning("ignoring an unreadable %s: %s", layout.degradation(self.service), exc)

    # --------------------------------------------------------------------------------- input

    def tenant(self, headers: Any) -> str | None:
        value = headers.get(self.tenant_header)
        if not value:
            return None
        return _SAFE_TENANT.sub("_", value[:64])

    def check_input(self, chat: ChatRequest, events: list[tuple[str, str]]) -> str | None:
        """Raise GuardReject for a request the contract refuses; clamp in place what it lowers.
        Returns the header value saying what was clamped (or None)."""
        body = chat.body
        clamped = None
        if self.max_context_chars is not None:
            total = 0
            for m in body["messages"]:
                content = m.get("content")
                total += len(content) if isinstance(content, str) else len(message_text(content))
            if total > self.max_context_chars:
                raise GuardReject(413, "context_too_long", f"the messages hold {total} characters; this service "
                                  f"accepts at most {self.max_context_chars} (contracts.max_context_chars). "
                                  "Shorten the conversation or the ticket.", "input_contract", param="messages")
        if self.max_output_tokens is not None:
            cap = self.max_output_tokens
            for key in ("max_tokens", "max_completion_tokens"):
                value = body.get(key)
                if value is None:
                    continue
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise GuardReject(400, "invalid_request", f"'{key}' must be a positive integer", "input_contract",
                                      param=key)
                if value > cap:
                    if self.reject_over_cap:
                        raise GuardReject(400, "max_tokens_too_large", f"'{key}' is {value}; this service answers "
                                          f"with at most {cap} tokens (contracts.max_output_tokens)",
                                          "input_contract", param=key)
                    body[key] = cap
                    clamped = f"{key}={cap}"
                    events.append(("input_contract", "clamped"))
            if "max_tokens" not in body and "max_completion_tokens" not in body:
                body["max_tokens"] = cap  # the model's own default may be far above the contract
        if self._input_validator is not None:
            text = chat.user_text.lstrip()
            if text.startswith("{"):
                try:
                    obj = json.loads(text)
                except (ValueError, RecursionError):
                    raise GuardReject(400, "input_invalid", "the structured input (the last user message) is not "
                                      "valid JSON", "input_contract", param="messages") from None
                err = None if self._input_validator.is_valid(obj) else next(self._input_validator.iter_errors(obj))
                if err is not None:
                    name = _first_field(err)
                    raise GuardReject(400, "input_invalid", f"input field {name or '(top level)'}: {err.message}",
                                      "input_contract", param=name)
        return clamped

    def check_guard(self, chat: ChatRequest, events: list[tuple[str, str]],
                    hits: list[str] | None = None) -> bool:
        """The input guard: the classifier's ``hits`` when it answered, else the injection heuristics.
        True when the request is flagged for a person."""
        mode = self.rails.input_guard.mode
        if mode == "off":
            return False
        if hits is None:
            hits = injection.scan(chat.user_text)
        if not hits:
            return False
        if mode == "block":
            events.append(("input_guard", "blocked"))
            raise GuardReject(400, "input_blocked", "this request was refused by the input guard "
                              f"({', '.join(hits)}); rephrase it without instructions to the assistant",
                              "input_guard")
        if mode == "redact" and hits != ["classifier"]:
            messages = chat.body["messages"]
            for m in messages:
                if m.get("role") == "user" and isinstance(m.get("content"), str):
                    m["content"] = injection.neutralise(m["content"])
            events.append(("input_guard", "redacted"))
            return False
        events.append(("input_guard", "flagged"))
        return True

    def tenant_near_cap(self, tenant: str, now: float, pending: int) -> bool:
        """Could the ``pending`` answered-but-unrecorded requests take ``tenant`` to its cap? Only then
        must their spend be recorded before admitting the next (exact, but it costs the request path
        the recorder's work); far from the cap the check is exact without it."""
        tb = self.rails.tenant_budgets
        cap = None if tb is None else tb.daily_usd.get(tenant, tb.default_daily_usd)
        if cap is None:
            return False
        if self.max_request_usd is None:
            return True
        return self.tenant_spend.of(tenant, now) + pending * self.max_request_usd >= cap

    def check_tenant_budget(self, tenant: str | None, now: float) -> None:
        tb = self.rails.tenant_budgets
        if tb is None or tenant is None:
            return
        cap = tb.daily_usd.get(tenant, tb.default_daily_usd)
        if cap is None:
            return
        spent = self.tenant_spend.of(tenant, now)
        if spent >= cap:
            midnight = (int(now) // 86400 + 1) * 86400
            raise GuardReject(429, "tenant_budget_exceeded", f"the daily budget of ${cap:.2f} for tenant {tenant} is "
                              f"spent (${spent:.2f}); requests are refused until 00:00 UTC", "tenant_budget",
                              headers={"Retry-After": str(max(1, midnight - int(now)))})

    async def check_rate(self, headers: Any, tenant: str | None, chat: ChatRequest) -> None:
        if self.rate is None:
            return
        key = self.rate.key(headers.get("Authorization"), tenant)
        est = sum(len(message_text(m.get("content"))) for m in chat.body["messages"]) // 4
        est += int(chat.body.get("max_tokens") or chat.body.get("max_completion_tokens") or 0)
        wait = await self.rate.admit(key, est)
        if wait is not None:
            raise GuardReject(429, "rate_limited", f"rate limit for this {self.rails.rate_limit.key} reached "
                              f"(requests or tokens per minute); retry in {wait:.0f}s", "rate_limit",
                              headers={"Retry-After": str(int(wait))})

    # -------------------------------------------------------------------------------- output

    @property
    def checks_output(self) -> bool:
        return self._output_valid is not None or self.rails.output_filter.secrets != "off" \
            or self.rails.output_filter.harmful != "off"

    def check_content(self, content: str | None) -> tuple[Any, str | None, list[tuple[str, str]], bool]:
        """(answer object or None, unusable reason, events, flagged) for one answer's content."""
        events: list[tuple[str, str]] = []
        parsed, stray = canonical.extract(content)
        if stray and parsed is not None:
            events.append(("output_contract", "repaired"))
        if self._output_valid is not None and (parsed is None or not self._output_valid(parsed)):
            return None, "output_invalid", events, False
        if parsed is None:
            return None, None, events, False  # free text, no contract: nothing to canonicalise or filter
        flagged = False
        of = self.rails.output_filter
        if of.secrets != "off":
            cleaned, found = outputfilter.secrets_redacted(parsed)
            if found:
                if of.secrets == "block":
                    events.append(("output_filter", "blocked"))
                    return None, "output_blocked", events, False
                if of.secrets == "redact":
                    parsed = cleaned
                    events.append(("output_filter", "redacted"))
                else:
                    events.append(("output_filter", "flagged"))
                flagged = of.secrets == "flag"
        if of.harmful != "off" and not outputfilter.refused(parsed) and outputfilter.harmful(parsed):
            if of.harmful == "block":
                events.append(("output_filter", "blocked"))
                return None, "output_blocked", events, False
            events.append(("output_filter", "flagged"))
            flagged = True
        return parsed, None, events, flagged

    def stream_validator(self) -> Callable[[str | None], bool] | None:
        """For streams: is the whole streamed content a valid answer? (None: no output contract.)"""
        if self._output_valid is None:
            return None

        def valid(content: str | None) -> bool:
            _, reason, _, _ = self.check_content(content)
            return reason is None

        return valid

    def check_answer(self, body: bytes) -> OutputCheck:
        """Validate, filter and canonicalise a non-streamed chat completion."""
        try:
            obj = jsoncodec.loads(body)
            message = obj["choices"][0]["message"]
            content = message.get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            if self._output_valid is not None:
                return OutputCheck(None, "output_invalid")
            return OutputCheck(body)
        parsed, reason, events, flagged = self.check_content(content if isinstance(content, str) else None)
        if reason is not None:
            return OutputCheck(None, reason, events)
        if parsed is None:
            return OutputCheck(body, None, events, flagged)
        try:
            text = canonical.canonical(parsed, self.output_schema)
        except (TypeError, UnicodeEncodeError):  # a lone surrogate: relay the answer as the model wrote it
            return OutputCheck(body, None, events, flagged)
        if text != content:
            message["content"] = text
            body = jsoncodec.dumps(obj)
        return OutputCheck(body, None, events, flagged, repaired=("output_contract", "repaired") in events)

    # ------------------------------------------------------------------------------ fallback

    def wants_fallback(self, reason: str) -> bool:
        return reason in self.fallback_on and (self.fallback_content is not None or self.fallback_endpoint is not None)

    def fallback_body(self, request_id: str, stream: bool, content: str | None = None) -> bytes:
        content = self.fallback_content if content is None else content
        created = int(time.time())
        rid = f"fallback-{request_id}"
        if not stream:
            return jsoncodec.dumps({
                "id": rid, "object": "chat.completion", "created": created, "model": "fallback",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})
        first = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": "fallback",
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": None}]}
        last = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": "fallback",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        return (b"data: " + jsoncodec.dumps(first) + b"\n\ndata: " + jsoncodec.dumps(last)
                + b"\n\ndata: [DONE]\n\n")

    # ----------------------------------------------------------------------------------- view

    def snapshot(self) -> dict[str, Any]:
        return {
            "level": self.level.label,
            "effective_level": self.effective_level().label,
            "breakers": {v: {"state": b.state.name.lower(), "calls": b.calls, "failures": b.failures}
                         for v, b in self.breakers.items()},
            "in_flight": {v: s.in_flight for v, s in self.slots.items()},
            "queued": {v: s.queued for v, s in self.slots.items()},
            "changes": [c.model_dump(mode="json") for c in self.changes[-20:]],
        }
