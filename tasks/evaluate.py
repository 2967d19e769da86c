"""Eval gate task: golden set against candidate and baseline, verdicts, evidence."""

from __future__ import annotations

import asyncio
import json
import threading
import time

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from launchgate import progress
from launchgate.evaluation import CaseResult, VariantSummary, estimate_cost, evaluate_pair, summarize
from launchgate.gate import eval_verdicts
from launchgate.preflight import ReleaseRun
from launchgate.report import by_tag, eval_markdown, eval_report, tag_chart_png
from launchgate.verdicts import Phase, Verdict


class EvalOutcome(BaseModel):
    summaries: list[VariantSummary]
    verdicts: list[Verdict]
    wall_s: float
    model_wait_s: float


def _budget_verdict(run: ReleaseRun) -> Verdict:
    cfg = run.config
    est = sum(
        estimate_cost(run.cases, run.prompts[k], cfg.pricing, cfg.contracts.max_output_tokens, cfg.evaluation.repeats)
        for k in ("candidate", "stable")
    )
    cap = cfg.evaluation.budget_usd
    if est > cap:
        return Verdict(check="eval_budget", phase=Phase.FAILED, value=round(est, 4), threshold=cap,
                       reason=f"The eval could cost up to ${est:.2f}, above its cap of ${cap:.2f}: raise "
                              f"evaluation.budget_usd or shrink the golden set.")
    return Verdict(check="eval_budget", phase=Phase.SUCCESSFUL, value=round(est, 4), threshold=cap,
                   reason=f"Eval cost estimate ${est:.4f} is within its cap of ${cap:.2f}.")


@task(name="eval-gate", cache_policy=NO_CACHE, timeout_seconds=3600)
def eval_gate(run: ReleaseRun) -> EvalOutcome:
    log = get_run_logger()
    cfg = run.config
    budget = _budget_verdict(run)
    if budget.blocks:
        run.bundle.put_json("eval/eval_budget.json", budget.model_dump(mode="json"))
        return EvalOutcome(summaries=[], verdicts=[budget], wall_s=0.0, model_wait_s=0.0)

    total = len(run.cases) * cfg.evaluation.repeats * 2
    artifact_id = create_progress_artifact(progress=0.0, key="eval-progress",
                                           description=f"golden set: {total} calls")
    counts = {"candidate": 0, "stable": 0}
    lock = threading.Lock()
    last = [0.0]

    def on_progress(label: str, done: int, _total: int) -> None:
        with lock:
            counts[label] = done
            finished = sum(counts.values())
        progress.emit("eval", finished, total)
        now = time.monotonic()
        # Throttled: an artifact update is an API call, and cases finish hundreds per second.
        if now - last[0] > 0.5 or finished == total:
            last[0] = now
            update_progress_artifact(artifact_id=artifact_id, progress=100.0 * finished / total)

    results, wall = asyncio.run(evaluate_pair(
        {"candidate": (cfg.candidate, run.prompts["candidate"]), "stable": (cfg.stable, run.prompts["stable"])},
        run.cases, validator=run.validator, pricing=cfg.pricing, concurrency=cfg.evaluation.concurrency,
        max_output_tokens=cfg.contracts.max_output_tokens, max_context_chars=cfg.contracts.max_context_chars,
        repeats=cfg.evaluation.repeats, progress=on_progress,
    ))
    update_progress_artifact(artifact_id=artifact_id, progress=100.0)
    cand = summarize("candidate", cfg.candidate, results["candidate"])
    base = summarize("stable", cfg.stable, results["stable"])
    verdicts = [budget, *eval_verdicts(cand, base, cfg.evaluation)]
    write_eval_evidence(run, [cand, base], verdicts, results, wall)
    log.info("eval: candidate %.3f vs stable %.3f in %.2fs", cand.score, base.score, wall)
    return EvalOutcome(summaries=[cand, base], verdicts=verdicts, wall_s=wall,
                       model_wait_s=cand.model_wait_s + base.model_wait_s)


def write_eval_evidence(run: ReleaseRun, summaries: list[VariantSummary], verdicts: list[Verdict],
                        results: dict[str, list[CaseResult]], wall: float) -> None:
    tags = by_tag(results)
    meta = {
        "prompt_version": run.config.candidate.prompt.version,
        "prompt_sha256": run.hashes["prompt_candidate"],
        "dataset_sha256": run.hashes["golden_set"],
        "config_sha256": run.hashes["config"],
        "model_deployment": run.config.candidate.model,
        "baseline": run.config.evaluation.baseline,
        "min_delta": run.config.evaluation.min_delta,
    }
    report = eval_report(run.release_id, summaries, verdicts, tags, meta, wall)
    b = run.bundle
    b.put_json("eval/eval_report.json", report)
    lines = "".join(json.dumps(r.model_dump(mode="json"), sort_keys=True) + "\n"
                    for rows in results.values() for r in rows)
    b.put_text("eval/cases.jsonl", lines, "application/x-ndjson")
    failures = [r for r in results["candidate"] if not r.passed]
    md = eval_markdown(run.release_id, summaries, verdicts, tags, failures)
    b.put_text("eval/eval_report.md", md, "text/markdown")
    b.put_bytes("eval/score_by_tag.png", tag_chart_png(tags, list(results)), "image/png")
    create_markdown_artifact(key="eval-report", markdown=md, description=f"eval report of {run.release_id}")
