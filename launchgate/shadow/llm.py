"""The optional LLM judge of the shadow step: which free text does a judge model prefer, pair by pair?

The eval gate's judge (launchgate/eval/llm_judge.py: the same client, timeouts and bounded retries)
is asked about each pair where both answers were served and valid; the other pairs are decided by
status and schema alone. Which answer is shown first alternates by pair id (a judge's position bias
must not favour one version). Its preference goes on the pair (``preference``), which the paired
judge reads; a failed judgement becomes ``preference: "judge_failed"`` (never a pass for the
candidate) and is counted; ``JudgeTally.broken`` says when the judge itself, not the candidate,
is the problem.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

from launchgate.config import Judge
from launchgate.config.shadow import ShadowJudge
from launchgate.eval.llm_judge import LLMJudge, Preference
from launchgate.shadow.judge import side_ok

MIN_JUDGED = 10  # judgements before a failure rate can stop the shadow


class JudgeTally:
    """What the judge said over the shadow: asked, failed, preferences; the first few errors."""

    def __init__(self) -> None:
        self.asked = 0
        self.failed = 0
        self.preferred: Counter[str] = Counter()
        self.errors: list[str] = []

    def add(self, p: Preference) -> None:
        self.asked += 1
        if p.error is not None:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(p.error)
        else:
            self.preferred[str(p.preference)] += 1

    def broken(self, cfg: ShadowJudge) -> bool:
        return self.asked >= MIN_JUDGED and self.failed / self.asked >= cfg.max_failure_rate

    def as_dict(self, cfg: ShadowJudge) -> dict[str, Any]:
        return {"asked": self.asked, "failed": self.failed, "preferred": dict(self.preferred),
                "broken": self.broken(cfg), "errors": self.errors}


def _candidate_first(pair_id: str) -> bool:
    return hashlib.sha256(pair_id.encode()).digest()[0] % 2 == 1


def judgeable(pair: dict[str, Any]) -> bool:
    s, c = pair.get("stable"), pair.get("candidate")
    return side_ok(s) and side_ok(c) and isinstance(s.get("parsed"), dict) and isinstance(c.get("parsed"), dict)  # type: ignore[union-attr]


async def _judge_all(cfg: ShadowJudge, pairs: Sequence[dict[str, Any]]) -> list[Preference]:
    judge_cfg = Judge(endpoint=str(cfg.endpoint), model=cfg.model, api_key_env=cfg.api_key_env, fields=cfg.fields,
                      timeout_s=cfg.timeout_s, max_retries=cfg.max_retries, max_output_tokens=cfg.max_output_tokens)
    gate = asyncio.Semaphore(cfg.concurrency)
    async with LLMJudge(judge_cfg, max_connections=cfg.concurrency) as judge:
        async def one(p: dict[str, Any]) -> Preference:
            async with gate:
                return await judge.prefer(p.get("prompt_redacted") or "", p["stable"]["parsed"],
                                          p["candidate"]["parsed"], candidate_first=_candidate_first(p["pair_id"]))
        return list(await asyncio.gather(*(one(p) for p in pairs)))


def judge_look(cfg: ShadowJudge, pairs: Sequence[dict[str, Any]], tally: JudgeTally) -> None:
    """Ask the judge about this look's judgeable pairs; put each answer on its pair (``preference``, ``judge``)."""
    todo = [p for p in pairs if judgeable(p)]
    if not todo:
        return
    for p, pref in zip(todo, asyncio.run(_judge_all(cfg, todo)), strict=True):
        tally.add(pref)
        p["judge"] = {"preference": pref.preference, "reason": pref.reason, "error": pref.error}
        p["preference"] = "judge_failed" if pref.error is not None else pref.preference
