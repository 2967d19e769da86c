"""The monthly extended evaluation (the seed's "Monthly: refresh golden set and run extended evaluations").

The golden set against the stable variant with repeats (default 3: a flaky case passes in one repeat
and fails in another), scores per tag, and the representativeness check (golden set vs the last 4
weeks of the request log). The report goes under ``<service>/reviews/extended-eval/<yyyy-mm>/``;
the readiness catalogue's ``golden-refresh-monthly`` item reads its date.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from launchgate.config import ReleaseConfig
from launchgate.eval.report import by_tag
from launchgate.eval.runner import evaluate_variant, summarize
from launchgate.eval.scoring import FieldRules
from launchgate.readiness.checks_runtime import golden_representative
from launchgate.readiness.evidence import Evidence
from launchgate.readiness.models import CheckResult
from launchgate.release.preflight import load_inputs
from launchgate.settings import Settings
from launchgate.store.base import ArtifactStore

DEFAULT_REPEATS = 3


class ExtendedEval(BaseModel):
    service: str
    month: str
    at: datetime
    model: str
    prompt_version: str
    dataset_sha256: str
    repeats: int
    cases: int
    score: float
    schema_valid_rate: float | None
    error_rate: float
    flaky_cases: list[str]
    by_tag: dict[str, Any]
    representativeness: CheckResult
    summary: str


def run_extended_eval(store: ArtifactStore, config: ReleaseConfig, config_path: Path, *, settings: Settings,
                      now: datetime, repeats: int = DEFAULT_REPEATS,
                      on_progress: Callable[[str, int, int], None] | None = None) -> ExtendedEval:
    from launchgate.readiness.gather import gather  # the store reads of the representativeness check

    inputs = load_inputs(config, config_path)
    ev = config.evaluation
    results = asyncio.run(evaluate_variant(
        "stable", config.stable, inputs.prompts["stable"], inputs.cases, validator=inputs.validator,
        pricing=config.pricing, concurrency=ev.concurrency, max_output_tokens=config.contracts.max_output_tokens,
        max_context_chars=config.contracts.max_context_chars, repeats=repeats, progress=on_progress,
        rules=FieldRules(ev.fields, ev.tag_fields)))
    summary = summarize("stable", config.stable, results)
    evidence: Evidence = gather(store, config, now=now, settings=settings, config_path=config_path,
                                cases=inputs.cases, probe=False)
    rep = golden_representative(evidence)
    text = (f"Stable ({config.stable.model}, prompt {config.stable.prompt.version}) scored {summary.score:.3f} over "
            f"{summary.cases} golden cases x {repeats} repeats; {len(summary.flaky_cases)} flaky cases; "
            f"representativeness {rep.status.value}: {rep.reason}.")
    return ExtendedEval(service=config.service, month=f"{now:%Y-%m}", at=now, model=config.stable.model,
                        prompt_version=config.stable.prompt.version, dataset_sha256=inputs.hashes["golden_set"],
                        repeats=repeats, cases=summary.cases, score=round(summary.score, 4),
                        schema_valid_rate=summary.schema_valid_rate, error_rate=summary.error_rate,
                        flaky_cases=summary.flaky_cases, by_tag=by_tag({"stable": results}),
                        representativeness=rep, summary=text)


def extended_markdown(r: ExtendedEval) -> str:
    lines = [f"# Extended evaluation: {r.service} {r.month}", "", r.summary, "",
             f"Dataset sha256 `{r.dataset_sha256}`; error rate {r.error_rate:.1%}; schema valid "
             f"{'-' if r.schema_valid_rate is None else f'{r.schema_valid_rate:.1%}'}.", "",
             "## Score by tag", "", "| tag | score | cases | 95% CI |", "|---|---|---|---|"]
    for tag, per in r.by_tag.items():
        s = per.get("stable", {})
        ci = f"{s.get('low', 0):.3f}..{s.get('high', 0):.3f}"
        lines.append(f"| {tag} | {s.get('score', 0):.3f} | {s.get('n', 0)} | {ci} |")
    lines += ["", "## Flaky cases (pass/fail differs between repeats)", "",
              ", ".join(f"`{c}`" for c in r.flaky_cases) or "None.", "",
              "## Representativeness", "", f"{r.representativeness.status.value}: {r.representativeness.reason}", ""]
    return "\n".join(lines)
