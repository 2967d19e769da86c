"""The paired shadow judge: pure scoring of (stable, candidate) answer pairs and a sequential test.

Per pair, with stable's answer as the reference (as the golden answer is in the eval gate):

* each answer passes when it was served (HTTP 200) and is valid under the output schema;
* the candidate also has to agree with stable on the named structured fields (the eval gate's
  ``field_matches`` with its default ``normalised`` rule) whenever stable's answer is valid;
* an optional preference (the LLM judge for free text: ``stable``, ``candidate`` or ``tie``,
  shadow/llm.py) overrides the field comparison for the pair when it names a winner; a failed
  judgement (``judge_failed``) is never a pass for the candidate.

Only the discordant pairs (exactly one answer passes) carry information, as in the eval gate's
McNemar test. Among them let q = P(stable-only). An equal candidate has q = 0.5; a candidate
worse by ``margin`` points of pass rate, at ``expected_discordance`` discordant pairs, has
q1 = 0.5 + margin / (2 x expected_discordance). Made anytime-valid like the canary's SPRT
(Ville's inequality on a nonnegative supermartingale, whatever the number of looks):

* **worse** (block): Wald's log-likelihood ratio of q1 against q = 0.5 reaches ln(1/alpha).
  Under any q <= 0.5 the ratio is a supermartingale, so an equal or better candidate is blocked
  with probability <= alpha, however long the shadow runs.
* **not worse within the margin** (pass), by either of two tests, each at beta/2:
  the same ratio falls to ln(beta/2) (1/LR is a supermartingale under q >= q1), or, for a
  candidate that rarely disagrees at all, an SPRT on the per-pair rate of stable-only passes
  (H0: >= margin against margin/2) reaches ln(2/beta): a candidate that loses at most
  ``margin`` of pairs cannot be worse by more than the margin. Either way a candidate worse by
  the margin or more passes with probability <= beta. ``min_pairs`` guards the pass.
* **keep watching** otherwise; past ``max_pairs`` the shadow is inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from launchgate.config.shadow import Shadow
from launchgate.eval.scoring import DEFAULT_RULE, field_matches
from launchgate.metrics.percentiles import percentile
from launchgate.verdicts import Phase, Verdict, pct

EVIDENCE = "shadow/shadow_summary.json"


class Decision(StrEnum):
    WORSE = "worse"
    NOT_WORSE = "not_worse"
    WATCHING = "watching"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class PairScore:
    stable_pass: bool
    candidate_pass: bool
    disagreed: tuple[str, ...]  # named fields where the candidate's value differs from stable's
    reason: str

    @property
    def kind(self) -> str:
        if self.stable_pass == self.candidate_pass:
            return "both" if self.stable_pass else "neither"
        return "stable_only" if self.stable_pass else "candidate_only"


def side_ok(side: Mapping[str, Any] | None) -> bool:
    return bool(side) and side.get("status") == 200 and side.get("schema_ok") is True  # type: ignore[union-attr]


def score_pair(stable: Mapping[str, Any] | None, candidate: Mapping[str, Any] | None, fields: Sequence[str],
               rules: Mapping[str, str] | None = None, preference: str | None = None) -> PairScore:
    """Score one pair of recorded answers (``status``, ``schema_ok``, ``parsed``); stable is the reference."""
    s_ok, c_ok = side_ok(stable), side_ok(candidate)
    if not c_ok:
        why = "candidate not served" if not candidate or candidate.get("status") != 200 else "candidate schema invalid"
        return PairScore(s_ok, False, (), why)
    if not s_ok:
        return PairScore(False, True, (), "stable failed, candidate valid")
    assert stable is not None and candidate is not None
    s_out, c_out = stable.get("parsed") or {}, candidate.get("parsed") or {}
    rules = rules or {}
    wrong = tuple(f for f in fields if not (isinstance(s_out, dict) and isinstance(c_out, dict)
                                           and field_matches(rules.get(f, DEFAULT_RULE), c_out.get(f), s_out.get(f))))
    if preference == "judge_failed":  # the LLM judge could not say: never a pass for the candidate
        return PairScore(True, False, wrong, "the judge failed on this pair")
    if preference == "candidate":
        return PairScore(False, True, wrong, "the judge preferred the candidate")
    if preference == "stable":
        return PairScore(True, False, wrong, "the judge preferred stable")
    if wrong:
        return PairScore(True, False, wrong, "disagrees on " + ", ".join(wrong))
    return PairScore(True, True, (), "agrees")


@dataclass(frozen=True)
class SequentialConfig:
    margin: float = 0.05
    expected_discordance: float = 0.10
    alpha: float = 0.005
    beta: float = 0.02
    min_pairs: int = 100
    max_pairs: int = 5000

    @classmethod
    def from_config(cls, shadow: Shadow) -> SequentialConfig:
        return cls(margin=shadow.margin, expected_discordance=shadow.expected_discordance, alpha=shadow.alpha,
                   beta=shadow.beta, min_pairs=shadow.min_pairs, max_pairs=shadow.max_pairs)

    @property
    def q1(self) -> float:
        """Share of discordant pairs won by stable when the candidate is worse by exactly the margin."""
        return min(0.99, 0.5 + self.margin / (2 * self.expected_discordance))

    @property
    def block_at(self) -> float:
        return math.log(1 / self.alpha)

    @property
    def pass_at(self) -> float:
        return math.log(self.beta / 2)

    @property
    def rate_pass_at(self) -> float:
        return math.log(2 / self.beta)


@dataclass(frozen=True)
class SequentialState:
    pairs: int
    stable_only: int
    candidate_only: int
    llr_worse: float  # ln LR of q1 against 0.5 over the discordant pairs
    llr_rate: float  # ln LR of stable-only rate margin/2 against margin over all pairs
    decision: Decision

    @property
    def discordant(self) -> int:
        return self.stable_only + self.candidate_only

    def as_dict(self) -> dict[str, Any]:
        return {"pairs": self.pairs, "stable_only": self.stable_only, "candidate_only": self.candidate_only,
                "discordant": self.discordant, "llr_worse": round(self.llr_worse, 4),
                "llr_rate": round(self.llr_rate, 4), "decision": str(self.decision)}


def llrs(pairs: int, stable_only: int, candidate_only: int, cfg: SequentialConfig) -> tuple[float, float]:
    q1, m = cfg.q1, cfg.margin
    worse = stable_only * math.log(2 * q1) + candidate_only * math.log(2 * (1 - q1))
    rate = stable_only * math.log(0.5) + (pairs - stable_only) * math.log((1 - m / 2) / (1 - m))
    return worse, rate


def decide(pairs: int, stable_only: int, candidate_only: int, cfg: SequentialConfig) -> SequentialState:
    """The test's state after ``pairs`` pairs; every call is one look, at any sample size."""
    worse, rate = llrs(pairs, stable_only, candidate_only, cfg)
    if worse >= cfg.block_at:
        decision = Decision.WORSE
    elif pairs >= cfg.min_pairs and (worse <= cfg.pass_at or rate >= cfg.rate_pass_at):
        decision = Decision.NOT_WORSE
    elif pairs >= cfg.max_pairs:
        decision = Decision.INCONCLUSIVE
    else:
        decision = Decision.WATCHING
    return SequentialState(pairs, stable_only, candidate_only, worse, rate, decision)


class SequentialTest:
    """Feeds scored pairs one at a time and stops at the first decision (later pairs are ignored)."""

    def __init__(self, cfg: SequentialConfig) -> None:
        self.cfg = cfg
        self.state = decide(0, 0, 0, cfg)
        self.decided_at: int | None = None

    def add(self, score: PairScore) -> SequentialState:
        s = self.state
        if s.decision not in (Decision.WATCHING,):
            return s
        b = s.stable_only + (score.kind == "stable_only")
        c = s.candidate_only + (score.kind == "candidate_only")
        self.state = decide(s.pairs + 1, b, c, self.cfg)
        if self.state.decision is not Decision.WATCHING:
            self.decided_at = self.state.pairs
        return self.state


# -- ratios and the verdict ---------------------------------------------------------------------


def _ratio(pairs: Iterable[Mapping[str, Any]], key: str) -> float | None:
    """median(candidate) / median(stable) over pairs where both were served and report ``key``."""
    s_vals, c_vals = [], []
    for p in pairs:
        s, c = p.get("stable") or {}, p.get("candidate") or {}
        if s.get("status") == 200 and c.get("status") == 200 and s.get(key) is not None and c.get(key) is not None:
            s_vals.append(float(s[key]))
            c_vals.append(float(c[key]))
    s_med, c_med = percentile(s_vals, 50, method="linear"), percentile(c_vals, 50, method="linear")
    if not s_med or c_med is None:
        return None
    return round(c_med / s_med, 4)


def ratios(pairs: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    return {"latency_p50": _ratio(pairs, "latency_ms"), "output_tokens_p50": _ratio(pairs, "output_tokens"),
            "cost_p50": _ratio(pairs, "cost_usd")}


def verdict(state: SequentialState, cfg: SequentialConfig, *, dropped: int = 0, capped: bool = False,
            judge: Mapping[str, Any] | None = None) -> Verdict:
    """One sentence: what the shadow showed and what to do. ``judge``: the LLM judge's tally
    (asked, failed, broken) when one was configured."""
    n, b, c = state.pairs, state.stable_only, state.candidate_only
    seen = (f"over {n} shadow pairs stable alone passed {b} ({pct(b / n) if n else '0.0%'}) and the candidate "
            f"alone {c}")
    if judge and judge.get("failed"):
        seen += f" ({judge['failed']} of {judge['asked']} LLM judgements failed and counted against the candidate)"
    common = {"check": "shadow_quality", "value": {**state.as_dict(), **({"judge": dict(judge)} if judge else {})},
              "threshold": {"margin": cfg.margin, "alpha": cfg.alpha, "beta": cfg.beta, "q1": round(cfg.q1, 4)},
              "evidence": EVIDENCE}
    if judge and judge.get("broken"):
        return Verdict(**common, phase=Phase.ERROR,
                       reason=f"The LLM judge failed on {judge['failed']} of {judge['asked']} pairs, so the shadow "
                              f"stopped before judging the candidate ({seen}): fix shadow.llm_judge (endpoint, model, "
                              f"timeout) and rerun the release.")
    if state.decision is Decision.WORSE:
        return Verdict(**common, phase=Phase.FAILED,
                       reason=f"The candidate answers worse than stable: {seen}. Do not shift traffic; read "
                              f"shadow/pairs.jsonl for the disagreements and fix the candidate.")
    if state.decision is Decision.NOT_WORSE:
        return Verdict(**common, phase=Phase.SUCCESSFUL,
                       reason=f"The candidate is not worse than stable by {pct(cfg.margin)} or more: {seen}.")
    extra = ""
    if capped:
        extra = " The day's shadow cost cap stopped mirroring; raise shadow.daily_cost_usd or wait for tomorrow."
    elif dropped:
        extra = f" {dropped} mirrors were dropped with the pool full; raise shadow.pool_size."
    return Verdict(**common, phase=Phase.INCONCLUSIVE,
                   reason=f"The shadow could not decide yet: {seen}. Watch longer or raise shadow.sample.{extra}")


def judge_pairs(pairs: Iterable[Mapping[str, Any]], fields: Sequence[str], cfg: SequentialConfig,
                rules: Mapping[str, str] | None = None, test: SequentialTest | None = None
                ) -> tuple[SequentialTest, list[PairScore]]:
    """Score recorded pairs in order and feed them to the test (a running one, or a new one)."""
    test = test or SequentialTest(cfg)
    scores = []
    for p in pairs:
        score = score_pair(p.get("stable"), p.get("candidate"), fields, rules, p.get("preference"))
        scores.append(score)
        test.add(score)
    return test, scores
