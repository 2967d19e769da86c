"""The eval runner against the simulated model on loopback: repeats, flaky cases, 429s, timeouts, judge."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from launchgate.config import Evaluation, Judge, Pricing, Variant
from launchgate.eval.gate import eval_verdicts
from launchgate.eval.golden import load_golden_set, read_json_file
from launchgate.eval.runner import CaseResult, evaluate_variant, summarize
from launchgate.eval.scoring import make_validator
from launchgate.verdicts import Phase
from tests.conftest import EXAMPLE
from tests.support.sim import EXAMPLE_VARIANTS, running_sim

CASES = load_golden_set(EXAMPLE / "golden.jsonl")
VALIDATOR = make_validator(read_json_file(EXAMPLE / "schemas" / "output.schema.json", "s"), "output.schema.json")
PROMPT = (EXAMPLE / "prompts" / "v2.txt").read_text()
PRICING = Pricing(input_per_1k=0.0005, output_per_1k=0.0015)


def variant(url: str, model: str = "m", **kw: Any) -> Variant:
    return Variant.model_validate({"endpoint": url, "model": model, "prompt": {"file": "p.txt", "version": "v2"}, **kw},
                                  context={"check_files": False})


def run(v: Variant, n: int, *, repeats: int = 1, concurrency: int = 16, **kw: Any) -> list[CaseResult]:
    return asyncio.run(evaluate_variant(
        "candidate", v, PROMPT, CASES[:n], validator=VALIDATOR, pricing=PRICING, concurrency=concurrency,
        max_output_tokens=400, max_context_chars=12000, repeats=repeats, **kw,
    ))


def test_repeats_expose_flaky_cases() -> None:
    # Only the flakiness: no injected errors or broken JSON, so any pass/fail flip is a flaky case.
    with running_sim(EXAMPLE_VARIANTS, "flaky-candidate", error_rate=0.0, rate_limit_rate=0.0,
                     invalid_json_rate=0.0) as url:
        results = run(variant(url), 120, repeats=3)
    s = summarize("candidate", variant(url), results)
    assert s.calls == 360 and s.cases == 120 and s.repeats == 3
    assert 2 <= len(s.flaky_cases) <= 30, s.flaky_cases  # flaky_rate 0.10 of cases, most show a flip in 3 tries
    by_case: dict[str, set[bool]] = {}
    for r in results:
        by_case.setdefault(r.case_id, set()).add(r.passed)
    assert s.flaky_cases == sorted(c for c, seen in by_case.items() if len(seen) > 1)
    assert s.latency_p50_ms is not None and s.latency_p50_ms <= s.latency_p90_ms <= s.latency_p99_ms
    assert s.total_cost_usd > 0


def test_a_deterministic_variant_has_no_flaky_cases() -> None:
    with running_sim(EXAMPLE_VARIANTS, "stable", invalid_json_rate=0.0) as url:
        s = summarize("stable", variant(url), run(variant(url), 60, repeats=2))
    assert s.flaky_cases == [] and s.calls == 120


def test_429_with_retry_after_is_retried_and_counted() -> None:
    with running_sim(EXAMPLE_VARIANTS, "stable", rate_limit_rate=0.3, retry_after_s=1) as url:
        start = time.monotonic()
        retried = summarize("candidate", variant(url), run(variant(url, max_retries=4), 40))
        # Every call rate limited, one retry allowed: each case ends as a counted http_429 error.
        with running_sim(EXAMPLE_VARIANTS, "stable", rate_limit_rate=1.0, retry_after_s=1) as always:
            limited = summarize("candidate", variant(always), run(variant(always, max_retries=1), 20))
        wall = time.monotonic() - start
    assert retried.retries > 0 and retried.completed >= 38  # Retry-After honoured, nearly all got through
    assert limited.errors == 20 and limited.errors_by_kind == {"http_429": 20}
    assert wall < 20  # Retry-After of 1 s, a handful of rounds: nothing hangs
    base = retried.model_copy(update={"variant": "stable"})
    vs = {v.check: v for v in eval_verdicts(limited, base, Evaluation.model_validate(
        {"golden_set": "x"}, context={"check_files": False}))}
    assert vs["eval_errors_candidate"].phase is Phase.ERROR and "http_429" in vs["eval_errors_candidate"].reason


def test_timeouts_on_some_calls_end_in_a_verdict() -> None:
    # A long latency tail: calls slower than timeout_s time out, are retried once, then counted.
    with running_sim(EXAMPLE_VARIANTS, "stable", latency_ms={"median": 30, "p95": 900}) as url:
        start = time.monotonic()
        results = run(variant(url, timeout_s=0.25, max_retries=1), 80, concurrency=32)
        wall = time.monotonic() - start
    s = summarize("candidate", variant(url), results)
    assert s.errors_by_kind.get("ModelTimeout", 0) > 0 and s.completed > 40, s.errors_by_kind
    assert s.error_rate == s.errors / s.calls
    assert wall < 10
    base = s.model_copy(update={"variant": "stable", "errors": 0, "error_rate": 0.0, "errors_by_kind": {}})
    vs = eval_verdicts(s, base, Evaluation.model_validate({"golden_set": "x", "max_error_rate": 50},
                                                          context={"check_files": False}))
    assert {v.check for v in vs} >= {"eval_errors_candidate", "eval_score", "schema_validity"}


async def _with_judge(reply: Any, cases: int, status: int = 200) -> list[CaseResult]:
    calls: list[dict[str, Any]] = []

    async def completions(request: web.Request) -> web.Response:
        body = await request.json()
        calls.append(body)
        if status != 200:
            return web.json_response({"error": {"message": "down"}}, status=status)
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": json.dumps(reply)},
                                               "finish_reason": "stop"}],
                                  "usage": {"prompt_tokens": 10, "completion_tokens": 5}})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    judge = Judge(endpoint=f"http://127.0.0.1:{port}/v1", model="judge", max_retries=0, tags=["billing"])
    try:
        with running_sim(EXAMPLE_VARIANTS, "stable", accuracy=1.0, invalid_json_rate=0.0) as url:
            return await evaluate_variant(
                "candidate", variant(url), PROMPT, CASES[:cases], validator=VALIDATOR, pricing=PRICING,
                concurrency=8, max_output_tokens=400, max_context_chars=12000, judge=judge)
    finally:
        assert all("REFERENCE" in c["messages"][1]["content"] for c in calls)
        await runner.cleanup()


def test_llm_judge_grades_only_the_tagged_cases() -> None:
    results = asyncio.run(_with_judge({"score": 0.25, "reason": "too curt"}, 40))
    judged = [r for r in results if r.scorer == "fields+judge"]
    assert judged and all("billing" in r.tags for r in judged)
    assert all(r.judge_score == 0.25 and not r.passed and r.score == 0.25 for r in judged)
    assert all(r.passed for r in results if "billing" not in r.tags and "harmful" not in r.tags)


def test_a_broken_judge_scores_zero_and_is_counted() -> None:
    results = asyncio.run(_with_judge({}, 40, status=500))
    judged = [r for r in results if r.scorer == "fields+judge"]
    assert judged and all(r.score == 0 and r.detail.startswith("judge:") for r in judged)
    s = summarize("candidate", variant("http://127.0.0.1:1/v1"), results)
    assert s.judge_errors == len(judged)
