"""Release identity, manifest and decision records (pure data + pure functions)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from launchgate import __version__
from launchgate.config import ReleaseConfig
from launchgate.eval.golden import file_sha256
from launchgate.verdicts import Phase, Verdict, combine

DecisionName = Literal["promoted", "passed", "blocked", "rolled_back", "error"]
EXIT_CODES: dict[str, int] = {"promoted": 0, "passed": 0, "blocked": 3, "rolled_back": 4, "error": 1}


class VariantRecord(BaseModel):
    endpoint: str
    model: str
    prompt_version: str
    prompt_sha256: str


class Manifest(BaseModel):
    release_id: str
    service: str
    created_at: datetime
    launchgate_version: str = __version__
    candidate: VariantRecord
    stable: VariantRecord
    candidate_sha256: str
    hashes: dict[str, str] = Field(description="sha256 of config, golden set, schemas and prompts")
    steps: list[str] = Field(description="the steps this run executes, in order")
    config: dict[str, Any]


class Decision(BaseModel):
    release_id: str
    service: str
    decision: DecisionName
    exit_code: int
    summary: str = Field(description="one sentence: what happened and what to do")
    reasons: list[str]
    verdicts: list[Verdict]
    evidence: str
    attempt: int = Field(default=1, description="the attempt that decided (>1 after --resume: attempts/<n>/)")
    decided_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def candidate_sha256(config: ReleaseConfig, hashes: dict[str, str]) -> str:
    """What makes a candidate this candidate: model deployment, prompt, output schema."""
    ident = {
        "model": config.candidate.model,
        "endpoint": config.candidate.endpoint,
        "prompt_version": config.candidate.prompt.version,
        "prompt_sha256": hashes["prompt_candidate"],
        "output_schema_sha256": hashes["output_schema"],
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def make_manifest(config: ReleaseConfig, hashes: dict[str, str], release_id: str, created_at: datetime,
                  steps: list[str]) -> Manifest:
    """What is compared with what, with every input's hash: the first record of a release or a check."""
    return Manifest(
        release_id=release_id, service=config.service, created_at=created_at,
        candidate=VariantRecord(endpoint=config.candidate.endpoint, model=config.candidate.model,
                                prompt_version=config.candidate.prompt.version,
                                prompt_sha256=hashes["prompt_candidate"]),
        stable=VariantRecord(endpoint=config.stable.endpoint, model=config.stable.model,
                             prompt_version=config.stable.prompt.version, prompt_sha256=hashes["prompt_stable"]),
        candidate_sha256=candidate_sha256(config, hashes), hashes=hashes, steps=steps,
        config=json.loads(config.model_dump_json()),
    )


def make_release_id(service: str, now: datetime, content_sha256: str) -> str:
    return f"{service}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{content_sha256[:8]}"


def hash_inputs(config: ReleaseConfig, config_path: Path) -> dict[str, str]:
    return {
        "config": file_sha256(config_path),
        "golden_set": file_sha256(config.evaluation.golden_set),
        "input_schema": file_sha256(config.contracts.input_schema),
        "output_schema": file_sha256(config.contracts.output_schema),
        "prompt_candidate": file_sha256(config.candidate.prompt.file),
        "prompt_stable": file_sha256(config.stable.prompt.file),
    }


def decide(release_id: str, service: str, verdicts: list[Verdict], evidence: str, *,
           traffic_shifted: bool = False, rolled_back: bool = False) -> Decision:
    """Turn every verdict so far into the release decision.

    With no traffic step in this run, a clean pass is ``passed`` (nothing was promoted).
    ``rolled_back``: the canary shifted traffic and returned it to stable (exit 4, not 3).
    """
    phase = combine(verdicts)
    blocking = [v for v in verdicts if v.blocks]
    if phase is Phase.SUCCESSFUL:
        name: DecisionName = "promoted" if traffic_shifted else "passed"
        summary = (
            f"{release_id} passed all {len(verdicts)} checks; "
            + ("it now serves all traffic." if traffic_shifted else
               "no traffic was shifted by this run: roll it out with your deployment tool or the canary step.")
        )
        reasons = [v.reason for v in verdicts]
    else:
        name = "rolled_back" if rolled_back else "blocked"
        first = blocking[0]
        more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
        verb = "was rolled back during its canary by" if rolled_back else "is blocked by"
        summary = f"{release_id} {verb} {first.check}{more}: {first.reason}"
        reasons = [f"{v.check} [{v.phase.value}]: {v.reason}" for v in blocking]
    return Decision(
        release_id=release_id, service=service, decision=name, exit_code=EXIT_CODES[name],
        summary=summary, reasons=reasons, verdicts=verdicts, evidence=evidence,
    )
