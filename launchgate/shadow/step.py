"""The shadow step: the candidate answers a sample of live traffic beside stable; the judge decides.

Through the release gateway (canary.router: gateway): attach the candidate with no weight, turn
shadow mode on (the ``shadow:`` section), read the pairs every ``interval_s`` (with
``shadow.llm_judge``, ask the judge model about each pair's free text first: shadow/llm.py) and feed
them to the paired shadow judge until it decides or ``duration_s`` is over, then turn shadow mode off. No
traffic is shifted. Evidence: shadow/pairs.jsonl, shadow_summary.json/.md and shadow.png.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from launchgate.canary.traffic import TrafficGenerator, golden_prompts
from launchgate.errors import InputError, LaunchgateError
from launchgate.observability.baggage import baggage_headers, release_baggage
from launchgate.release.preflight import ReleaseRun
from launchgate.router import gateway_token
from launchgate.shadow.client import ShadowAdmin
from launchgate.shadow.judge import (
    Decision,
    PairScore,
    SequentialConfig,
    SequentialTest,
    judge_pairs,
    ratios,
    verdict,
)
from launchgate.shadow.llm import JudgeTally, judge_look
from launchgate.shadow.report import chart_png, summary_markdown
from launchgate.verdicts import StepResult

log = logging.getLogger(__name__)
EVIDENCE = ["shadow/pairs.jsonl", "shadow/shadow_summary.json", "shadow/shadow_summary.md", "shadow/shadow.png"]


def shadow_step(run: ReleaseRun, on_progress: Callable[[int, int, str], None] | None = None,
                clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
                ) -> StepResult:
    cfg = run.config
    if cfg.canary.router != "gateway":
        raise InputError(f"canary.strategy {cfg.canary.strategy} needs canary.router: gateway (shadow mode lives "
                         f"in the release gateway), got {cfg.canary.router}")
    sh = cfg.shadow
    sh.check_fields(run.inputs.validator.schema)  # as preflight does: a run built by other callers too
    test_cfg = SequentialConfig.from_config(sh)
    tally = JudgeTally()
    admin = ShadowAdmin(cfg.canary.gateway_url, gateway_token(cfg.canary))
    traffic = None
    if cfg.canary.demo_traffic_rps > 0:
        with release_baggage(run.release_id):
            baggage = baggage_headers()
        traffic = TrafficGenerator(f"{cfg.canary.gateway_url.rstrip('/')}/v1", cfg.stable.model,
                                   golden_prompts([c.input for c in run.cases]), cfg.canary.demo_traffic_rps,
                                   timeout_s=cfg.stable.timeout_s, max_tokens=cfg.contracts.max_output_tokens,
                                   headers=baggage)
    pairs: list[dict[str, Any]] = []
    test = SequentialTest(test_cfg)
    scores: list[PairScore] = []
    status: dict[str, Any] = {}
    try:
        admin.set_candidate(cfg.candidate.endpoint, cfg.candidate.model, cfg.candidate.prompt.version,
                            run.release_id, system_prompt=run.prompts["candidate"])
        after = int(admin.pairs(after=0, limit=1)["recorded"])  # only pairs of this release's window count
        admin.set_shadow(enabled=True, sample=sh.sample, pool_size=sh.pool_size, daily_cost_usd=sh.daily_cost_usd,
                         release_id=run.release_id, prompt_chars=sh.prompt_chars)
        start = clock()
        with traffic or contextlib.nullcontext():
            while test.state.decision is Decision.WATCHING and clock() - start < sh.duration_s:
                sleep(sh.interval_s)
                got = admin.pairs(after=after)
                after, status = got["last_seq"], got
                mine = [p for p in got["pairs"] if p.get("release_id") == run.release_id]
                if sh.llm_judge is not None:  # only pairs the test can still read cost a judgement
                    judge_look(sh.llm_judge, mine[: max(0, test_cfg.max_pairs - test.state.pairs)], tally)
                    if tally.broken(sh.llm_judge):
                        break  # the judge, not the candidate, failed: these pairs are not scored
                pairs += mine
                scores += judge_pairs(mine, sh.fields, test_cfg, test=test)[1]
                if on_progress is not None:
                    on_progress(int(clock() - start), int(sh.duration_s),
                                f"{test.state.pairs} pairs, {test.state.stable_only} stable-only, "
                                f"{test.state.candidate_only} candidate-only: {test.state.decision}")
    finally:
        with contextlib.suppress(LaunchgateError):
            status = {**status, **admin.set_shadow(enabled=False)}
        admin.close()
    state = test.state
    judged_by = tally.as_dict(sh.llm_judge) if sh.llm_judge is not None else None
    v = verdict(state, test_cfg, dropped=int(status.get("dropped", 0)), capped=bool(status.get("capped")),
                judge=judged_by)
    judged = scores[: state.pairs]  # the pairs the test read; later ones (after its decision) are only recorded
    kinds = Counter(s.kind for s in judged)
    fields = Counter(f for s in judged for f in s.disagreed)
    s = {"release_id": run.release_id, "decision": str(state.decision), "phase": str(v.phase), "reason": v.reason,
         "test": {**state.as_dict(), "decided_at_pair": test.decided_at},
         "config": sh.model_dump(mode="json"), "q1": test_cfg.q1, "kinds": dict(kinds),
         "disagreements": dict(fields), "pairs_recorded": len(pairs), "ratios": ratios(pairs),
         "gateway": {k: status.get(k) for k in ("offered", "mirrored", "dropped", "failed", "capped", "spent_usd")},
         "traffic": traffic.tally.as_dict() if traffic else None, "llm_judge": judged_by}
    md = summary_markdown(s)
    b = run.bundle
    b.put_jsonl("shadow/pairs.jsonl", [{**p, "score": sc.kind, "disagreed": list(sc.disagreed)}
                                       for p, sc in zip(pairs, scores, strict=True)])
    b.put_json("shadow/shadow_summary.json", s)
    b.put_text("shadow/shadow_summary.md", md, "text/markdown")
    try:
        b.put_bytes("shadow/shadow.png", chart_png(scores, test_cfg, v.reason), "image/png")
    except (ValueError, RuntimeError) as exc:  # a chart never turns a decided shadow into a crash
        log.warning("shadow chart not drawn: %s", exc)
    return StepResult(step="shadow", verdicts=[v], evidence=list(EVIDENCE), summary=v.reason, markdown=md)
