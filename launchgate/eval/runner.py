"""Run the golden set against a variant: bounded concurrency, timeouts, retries, costs.

Pure asyncio + the model client; progress is reported through a plain callback so that
tasks/ can turn it into a Prefect progress artifact and the CLI into a progress bar.

``repeats: N`` asks every case N times. A case whose pass/fail differs between its completed
repeats is *flaky* and listed; for the paired comparison a case counts once, with its mean
score and a majority pass (see ``case_outcomes``), so repeats never inflate the sample size.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import BaseModel, Field

from launchgate.config import Judge, Pricing, Variant
from launchgate.errors import ModelEndpointError
from launchgate.eval.golden import GoldenCase, render_messages
from launchgate.eval.llm_judge import LLMJudge
from launchgate.eval.modelclient import ModelClient, RetryPolicy
from launchgate.eval.scoring import FieldRules, score_answer
from launchgate.metrics.percentiles import percentile as _percentile

Progress = Callable[[str, int, int], None]  # (variant label, done, total)


class CaseResult(BaseModel):
    case_id: str
    variant: str
    repeat: int = 0
    tags: list[str] = Field(default_factory=list)
    status: str  # ok | error | rejected
    error: str | None = None
    latency_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    retries: int = 0
    schema_ok: bool = False
    passed: bool = False
    score: float = 0.0
    detail: str = ""
    finish_reason: str | None = None
    output: str | None = None
    scorer: str = ""
    judge_score: float | None = None


class VariantSummary(BaseModel):
    variant: str
    model: str
    prompt_version: str
    cases: int
    calls: int
    completed: int
    errors: int
    error_rate: float
    errors_by_kind: dict[str, int]
    score: float
    schema_valid_rate: float | None
    cost_per_request: float | None
    total_cost_usd: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    mean_input_tokens: float | None
    mean_output_tokens: float | None
    retries: int
    model_wait_s: float
    latency_p90_ms: float | None = None
    latency_p99_ms: float | None = None
    repeats: int = 1
    flaky_cases: list[str] = Field(default_factory=list)
    judge_errors: int = 0


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None on no data."""
    return _percentile(values, q)


def _error_kind(exc: ModelEndpointError) -> str:
    status = getattr(exc, "status", None)
    return f"http_{status}" if status else type(exc).__name__


async def evaluate_variant(
    label: str, variant: Variant, system_prompt: str, cases: list[GoldenCase], *,
    validator: Draft202012Validator, pricing: Pricing, concurrency: int, max_output_tokens: int,
    max_context_chars: int, repeats: int = 1, progress: Progress | None = None,
    rules: FieldRules | None = None, judge: Judge | None = None,
) -> list[CaseResult]:
    sem = asyncio.Semaphore(concurrency)
    total = len(cases) * repeats
    done = 0
    retry = RetryPolicy(max_retries=variant.max_retries)
    rules = rules or FieldRules()
    if judge is not None:
        rules = rules.ignoring(judge.fields)  # the judge grades these fields; rules must not veto them
    grader: LLMJudge | None = None

    async def one(client: ModelClient, case: GoldenCase, rep: int) -> CaseResult:
        nonlocal done
        messages = render_messages(system_prompt, case.input)
        base = CaseResult(case_id=case.id, variant=label, repeat=rep, tags=case.tags, status="ok")
        chars = sum(len(m["content"]) for m in messages)
        parsed: Any = None
        if chars > max_context_chars:
            base.status, base.error = "rejected", f"context {chars} chars > max_context_chars {max_context_chars}"
        else:
            async with sem:
                try:
                    comp = await client.chat(messages, max_tokens=max_output_tokens)
                except ModelEndpointError as exc:
                    base.status, base.error = "error", f"{_error_kind(exc)}: {str(exc)[:160]}"
                    base.retries = getattr(exc, "retries", 0)
                else:
                    s = score_answer(comp.content, case.expected, case.tags, validator, rules=rules)
                    base.latency_ms = round(comp.latency_ms, 2)
                    base.input_tokens, base.output_tokens = comp.input_tokens, comp.output_tokens
                    base.cost_usd = pricing.cost(comp.input_tokens, comp.output_tokens)
                    base.retries, base.finish_reason = comp.retries, comp.finish_reason
                    base.schema_ok, base.passed, base.score, base.detail = s.schema_ok, s.passed, s.score, s.detail
                    base.output, base.scorer, parsed = comp.content[:2000], s.scorer, s.parsed
            # Outside the variant's slot: the judge is another endpoint with its own connection cap.
            if grader is not None and base.passed and base.scorer == "fields" and grader.applies(case.tags):
                g = await grader.grade(case.input, case.expected, parsed)
                base.judge_score, base.scorer = g.score, "fields+judge"
                base.score, base.passed = g.score, g.score >= grader.cfg.threshold
                base.detail = g.error or f"judge {g.score:.2f}: {g.reason}"
        done += 1
        if progress is not None:
            progress(label, done, total)
        return base

    async with ModelClient(
        variant.endpoint, variant.model, timeout_s=variant.timeout_s, retry=retry,
        api_key_env=variant.api_key_env, max_connections=concurrency,
    ) as client:
        if judge is None:
            return await asyncio.gather(*(one(client, c, r) for r in range(repeats) for c in cases))
        async with LLMJudge(judge, max_connections=concurrency) as grader:
            return await asyncio.gather(*(one(client, c, r) for r in range(repeats) for c in cases))


def flaky_cases(results: list[CaseResult]) -> list[str]:
    """Case ids whose pass/fail differs between completed repeats (errors are counted elsewhere)."""
    seen: dict[str, set[bool]] = {}
    for r in results:
        if r.status == "ok":
            seen.setdefault(r.case_id, set()).add(r.passed)
    return sorted(cid for cid, outcomes in seen.items() if len(outcomes) > 1)


def summarize(label: str, variant: Variant, results: list[CaseResult]) -> VariantSummary:
    return summarize_records(label, variant.model, variant.prompt.version, results)


def summarize_records(label: str, model: str, prompt_version: str, results: list[CaseResult]) -> VariantSummary:
    """Summary of one variant's results (also used for a stored baseline with no live Variant)."""
    ok = [r for r in results if r.status == "ok"]
    errs = [r for r in results if r.status != "ok"]
    kinds: dict[str, int] = {}
    for r in errs:
        kind = (r.error or "unknown").split(":", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    lat = [r.latency_ms for r in ok if r.latency_ms is not None]
    total_cost = sum(r.cost_usd for r in results)
    n = len(results)
    return VariantSummary(
        variant=label, model=model, prompt_version=prompt_version,
        cases=len({r.case_id for r in results}), calls=n, completed=len(ok), errors=len(errs),
        error_rate=len(errs) / n if n else 0.0, errors_by_kind=kinds,
        # Errors score 0: an answer that never came is not a correct answer.
        score=sum(r.score for r in results) / n if n else 0.0,
        schema_valid_rate=sum(r.schema_ok for r in ok) / len(ok) if ok else None,
        cost_per_request=total_cost / len(ok) if ok else None,
        total_cost_usd=round(total_cost, 6),
        latency_p50_ms=percentile(lat, 50), latency_p95_ms=percentile(lat, 95),
        mean_input_tokens=sum(r.input_tokens for r in ok) / len(ok) if ok else None,
        mean_output_tokens=sum(r.output_tokens for r in ok) / len(ok) if ok else None,
        retries=sum(r.retries for r in results),
        model_wait_s=round(sum(lat) / 1000, 3),
        latency_p90_ms=percentile(lat, 90), latency_p99_ms=percentile(lat, 99),
        repeats=max((r.repeat for r in results), default=0) + 1,
        flaky_cases=flaky_cases(results),
        judge_errors=sum(1 for r in results if r.scorer == "fields+judge" and r.detail.startswith("judge:")),
    )


@dataclass(frozen=True)
class CaseOutcome:
    score: float  # mean over repeats; an error scores 0
    passed: bool  # majority of repeats passed


def case_outcomes(results: list[CaseResult]) -> dict[str, CaseOutcome]:
    """One outcome per case, so repeats are not mistaken for independent cases."""
    acc: dict[str, list[CaseResult]] = {}
    for r in results:
        acc.setdefault(r.case_id, []).append(r)
    return {
        cid: CaseOutcome(score=sum(r.score for r in rows) / len(rows),
                         passed=sum(r.passed for r in rows) * 2 > len(rows))
        for cid, rows in acc.items()
    }


@dataclass(frozen=True)
class PairedOutcomes:
    """Candidate and baseline outcomes on the same cases, aligned by case id."""

    case_ids: list[str]
    candidate_scores: list[float]
    baseline_scores: list[float]
    candidate_pass: list[bool]
    baseline_pass: list[bool]
    unpaired: int = 0  # cases only one side has (a stored baseline on an older golden set)


def pair_outcomes(candidate: list[CaseResult], baseline: list[CaseResult]) -> PairedOutcomes:
    c, b = case_outcomes(candidate), case_outcomes(baseline)
    ids = sorted(c.keys() & b.keys())
    return PairedOutcomes(
        case_ids=ids, candidate_scores=[c[i].score for i in ids], baseline_scores=[b[i].score for i in ids],
        candidate_pass=[c[i].passed for i in ids], baseline_pass=[b[i].passed for i in ids],
        unpaired=len(c.keys() ^ b.keys()),
    )


def estimate_cost(
    cases: list[GoldenCase], system_prompt: str, pricing: Pricing, max_output_tokens: int, repeats: int
) -> float:
    """Upper bound of one variant's eval spend: every answer at max_output_tokens."""
    chars = sum(len(system_prompt) + len(json.dumps(c.input)) for c in cases)
    return repeats * pricing.cost(chars // 4 + len(cases) * 8, len(cases) * max_output_tokens)


async def evaluate_pair(
    runs: dict[str, tuple[Variant, str]], cases: list[GoldenCase], **kwargs: Any
) -> tuple[dict[str, list[CaseResult]], float]:
    """Evaluate several variants concurrently; returns results by label and the wall time."""
    start = time.perf_counter()
    labels = list(runs)
    out = await asyncio.gather(
        *(evaluate_variant(lbl, runs[lbl][0], runs[lbl][1], cases, **kwargs) for lbl in labels)
    )
    return dict(zip(labels, out, strict=True)), time.perf_counter() - start
