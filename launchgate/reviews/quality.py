"""Labels and user feedback in the reviews: the quality rate and feedback rates week over week (pure).

Two sources, both kept by the gateway under ``quality/`` (launchgate/quality/queue.py, gateway/feedback.py):

* the human review queue: the **quality rate** is the share of labelled items labelled ``good``
  (items nobody labelled are counted as sampled, not as good or bad), per release and variant,
  as the item itself recorded them;
* end users' feedback (``POST /v1/feedback``), joined **by request id to the request log** for
  its release and variant: count, thumbs-up rate, mean score and the **bad-feedback rate**
  (thumbs down or a score of at most ``BAD_SCORE_MAX``). Feedback whose request id is not in the
  log's window is counted per week as unknown, never dropped silently.

Periods are 7 days from the review's first day (``period``), so the drift review's periods are
its ISO weeks and the post-launch review's are the week before and the week after the promotion
(its ``days`` when it reviews another span). Two engines compute the same ``QualityData``:
``quality_from_records`` over records in memory (small logs, tests) and reviews/quality_sql.py over
the DuckDB view (the reviews).

Decisions: ``quality_features`` turns the numbers into two more drift signals, each a pure
verdict with one sentence: the quality rate falling and the bad-feedback rate rising (a
one-sided two-proportion test and a minimum change in points, as the review's other rates),
over the whole window and, when several releases or variants served it, for each of them.
Confidence intervals are the eval gate's bootstrap (eval/paired_stats.rate_ci).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from launchgate.eval.paired_stats import rate_ci
from launchgate.quality.feedback import BAD_SCORE_MAX, is_bad_feedback
from launchgate.quality.queue import find_label
from launchgate.requestlog.reader import parse_ts
from launchgate.reviews.config import DriftReviewConfig
from launchgate.reviews.drift import FeatureDrift, two_proportion_rise
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.jsonio import read_jsonl
from launchgate.verdicts import Phase

WEEK = timedelta(days=7)
Record = Mapping[str, Any]


def period(ts: datetime, origin: datetime, span: timedelta = WEEK) -> int:
    """Which ``span``-long period from ``origin`` ``ts`` falls in (exact to the microsecond, as the SQL's)."""
    return (ts - origin) // span


class QualityRow(BaseModel):
    """One period, release and variant: labels and feedback (feedback joined through the request log)."""

    period: int
    week_of: str = Field(description="the period's first day, YYYY-MM-DD")
    release_id: str | None
    variant: str | None
    sampled: int = 0  # review-queue items
    labelled: int = 0
    good: int = 0
    feedback: int = 0
    thumbs: int = 0
    thumbs_up: int = 0
    scores: int = 0
    score_sum: int = 0
    bad_feedback: int = 0

    def quality(self) -> dict[str, float | int | None]:
        rate, low, high = rate_ci(self.good, self.labelled)
        return {"rate": rate, "low": low, "high": high, "good": self.good, "labelled": self.labelled}

    def bad(self) -> dict[str, float | int | None]:
        rate, low, high = rate_ci(self.bad_feedback, self.feedback)
        return {"rate": rate, "low": low, "high": high, "bad": self.bad_feedback, "feedback": self.feedback}


class QualityData(BaseModel):
    origin: datetime
    span_days: int = 7  # the length of a period (the post-launch review's window may be shorter or longer)
    rows: list[QualityRow] = Field(default_factory=list)
    unknown_feedback: dict[int, int] = Field(default_factory=dict, description="period -> feedback whose "
                                                                               "request id is not in the log")

    def totals(self, first: int, last: int | None = None, group: tuple[str | None, str | None] | None = None
               ) -> QualityRow:
        """Every row of periods ``first``..``last`` (inclusive; None = to the end) summed; only the
        (release, variant) ``group``'s when given."""
        out = QualityRow(period=first, week_of=self.week_of(first), release_id=None, variant=None)
        for r in self.rows:
            if group is not None and (r.release_id, r.variant) != group:
                continue
            if r.period >= first and (last is None or r.period <= last):
                for k in ("sampled", "labelled", "good", "feedback", "thumbs", "thumbs_up", "scores", "score_sum",
                          "bad_feedback"):
                    setattr(out, k, getattr(out, k) + getattr(r, k))
        return out

    def week_of(self, p: int) -> str:
        return f"{self.origin + p * timedelta(days=self.span_days):%Y-%m-%d}"

    def unknown(self, first: int, last: int | None = None) -> int:
        return sum(n for p, n in self.unknown_feedback.items() if p >= first and (last is None or p <= last))


def _key(r: QualityRow) -> tuple[int, str, str]:
    return r.period, r.release_id or "", r.variant or ""


def assemble(origin: datetime, rows: Iterable[QualityRow], unknown: Mapping[int, int],
             span: timedelta = WEEK) -> QualityData:
    """Rows in one order whichever engine made them, with their period labels."""
    out = sorted(rows, key=_key)
    for r in out:
        r.week_of = f"{origin + r.period * span:%Y-%m-%d}"
    return QualityData(origin=origin, span_days=span.days, rows=out,
                       unknown_feedback={int(p): int(n) for p, n in sorted(unknown.items()) if n})


# ------------------------------------------------------------------ the Python engine (records)


def quality_from_records(requests: Iterable[Record], items: Iterable[Record], labels: Mapping[str, str],
                         feedback: Iterable[Record], origin: datetime, end: datetime,
                         span: timedelta = WEEK) -> QualityData:
    """The numbers from records in memory; ``labels``: item id -> good|bad. Windows are [origin, end)."""
    joined: dict[str, tuple[datetime, Any, Any]] = {}
    for r in requests:
        ts, rid = parse_ts(r.get("ts")), r.get("request_id")
        if ts is None or not rid or not origin <= ts < end:
            continue
        if rid not in joined or ts < joined[rid][0]:  # a duplicated id joins its first line, as the SQL does
            joined[rid] = (ts, r.get("release_id"), r.get("variant"))
    rows: dict[tuple[int, Any, Any], QualityRow] = {}

    def row(p: int, release: Any, variant: Any) -> QualityRow:
        return rows.setdefault((p, release, variant), QualityRow(period=p, week_of="", release_id=release,
                                                                 variant=variant))

    for it in items:
        ts = parse_ts(it.get("ts"))
        if ts is None or not origin <= ts < end:
            continue
        r = row(period(ts, origin, span), it.get("release_id"), it.get("variant"))
        r.sampled += 1
        verdict = labels.get(str(it.get("id")))
        if verdict in ("good", "bad"):
            r.labelled += 1
            r.good += verdict == "good"
    unknown: dict[int, int] = {}
    for f in feedback:
        ts = parse_ts(f.get("ts"))
        if ts is None or not origin <= ts < end:
            continue
        p = period(ts, origin, span)
        hit = joined.get(str(f.get("request_id")))
        if hit is None:
            unknown[p] = unknown.get(p, 0) + 1
            continue
        r = row(p, hit[1], hit[2])
        r.feedback += 1
        r.bad_feedback += is_bad_feedback(f)
        if f.get("thumbs") in ("up", "down"):
            r.thumbs += 1
            r.thumbs_up += f.get("thumbs") == "up"
        score = f.get("score")
        if isinstance(score, int) and not isinstance(score, bool):
            r.scores += 1
            r.score_sum += score
    return assemble(origin, rows.values(), unknown, span)


def _jsonl(store: ArtifactStore, prefix: str) -> list[dict[str, Any]]:
    return [value for key in sorted(store.list(prefix)) for value in read_jsonl(store, key)]


def _days(start: datetime, end: datetime) -> list[str]:
    day, out = start.date(), []
    while day <= (end - timedelta(microseconds=1)).date():
        out.append(day.isoformat())
        day += timedelta(days=1)
    return out


def read_quality_records(store: ArtifactStore, service: str, start: datetime, end: datetime
                         ) -> tuple[list[dict[str, Any]], dict[str, str], list[dict[str, Any]]]:
    """Queue items, their labels and feedback of [start, end) as records (the in-memory engine's input)."""
    items = [i for d in _days(start, end) for i in _jsonl(store, layout.review_queue_day(service, d))]
    feedback = [f for d in _days(start, end) for f in _jsonl(store, layout.feedback_day(service, d))]
    labels: dict[str, str] = {}
    for it in items:
        found = find_label(store, service, str(it.get("id")))
        if found is not None:
            labels[str(it["id"])] = found.verdict
    return items, labels, feedback


# ----------------------------------------------------------------------------------- verdicts


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def _change_verdict(name: str, title: str, ref: tuple[int, int], cur: tuple[int, int], *, min_n: int,
                    min_pp: float, alpha: float, worse: str, what: str, todo: str) -> FeatureDrift:
    """``ref``/``cur``: (bad events, n). Significant when the bad share rose by >= ``min_pp`` points with
    one-sided p < ``alpha``; the rate shown is ``reference``/``current`` as the title names it."""
    (k1, n1), (k2, n2) = ref, cur
    shown_good = name.startswith("quality_rate")

    def shown(k: int, n: int) -> float | None:
        if not n:
            return None
        return (n - k) / n if shown_good else k / n

    base = {"name": name, "title": title, "kind": "rate", "n_reference": n1, "n_current": n2,
            "reference": {"rate": shown(k1, n1), "events": float(n1 - k1 if shown_good else k1)},
            "current": {"rate": shown(k2, n2), "events": float(n2 - k2 if shown_good else k2)}}
    if min(n1, n2) < min_n:
        return FeatureDrift(**base, phase=Phase.INCONCLUSIVE,
                            reason=f"{title}: {n1} reference and {n2} current {what}, need at least {min_n} each.")
    z, p_value = two_proportion_rise(k1, n1, k2, n2)
    rise_pp = (k2 / n2 - k1 / n1) * 100
    moved = (f"{_pct(shown(k1, n1))} -> {_pct(shown(k2, n2))} "
             f"({int(base['current']['events'])}/{n2} {what})")  # type: ignore[index]
    if p_value < alpha and rise_pp >= min_pp:
        return FeatureDrift(**base, phase=Phase.FAILED, z=round(z, 3), p_value=p_value,
                            reason=f"{title} {worse}: {moved}, {rise_pp:.1f} pp >= {min_pp:g} pp, two-proportion "
                                   f"p={p_value:.2g} < {alpha:g}; {todo}.")
    return FeatureDrift(**base, phase=Phase.SUCCESSFUL, z=round(z, 3), p_value=p_value,
                        reason=f"{title} stable: {moved}, p={p_value:.2g}.")


def quality_features(data: QualityData, current_from: int, cfg: DriftReviewConfig
                     ) -> tuple[list[FeatureDrift], list[str]]:
    """Periods ``current_from``.. against the periods before it: quality rate and bad-feedback rate."""
    ref, cur = data.totals(0, current_from - 1), data.totals(current_from)
    features: list[FeatureDrift] = []
    notes: list[str] = []
    if ref.labelled or cur.labelled:
        features.append(_change_verdict(
            "quality_rate", "Quality rate (labelled good)", (ref.labelled - ref.good, ref.labelled),
            (cur.labelled - cur.good, cur.labelled), min_n=cfg.quality_min_labels, min_pp=cfg.quality_drop_pp,
            alpha=cfg.rate_alpha, worse="fell", what="labelled answers good",
            todo="read the labelled-bad answers (launchgate review-queue list) before the next release"))
    else:
        notes.append("Quality rate skipped: no labelled review-queue items in either window (quality.sample, then "
                     "launchgate review-queue label).")
    if ref.feedback or cur.feedback:
        features.append(_change_verdict(
            "bad_feedback_rate", "Bad user feedback rate", (ref.bad_feedback, ref.feedback),
            (cur.bad_feedback, cur.feedback), min_n=cfg.feedback_min, min_pp=cfg.bad_feedback_rise_pp,
            alpha=cfg.rate_alpha, worse="rose", what="ratings bad",
            todo="replay the bad-feedback requests (launchgate replay --filter bad_feedback) to find the cause"))
    else:
        notes.append("Bad user feedback rate skipped: no feedback joined to a request in either window.")
    features += _per_group(data, current_from, ref, cfg)
    unknown = data.unknown(0)
    if unknown:
        notes.append(f"{unknown} feedback record(s) name a request id the request log of the windows does not hold "
                     f"(counted per week as unknown, left out of the rates).")
    return features, notes


def _per_group(data: QualityData, current_from: int, ref: QualityRow, cfg: DriftReviewConfig) -> list[FeatureDrift]:
    """With more than one release/variant in the current window, each one with enough labels or ratings
    against the whole reference: a candidate serving a tenth of the traffic cannot hide in the total."""
    groups = sorted({(r.release_id, r.variant) for r in data.rows if r.period >= current_from},
                    key=lambda g: (g[0] or "", g[1] or ""))
    if len(groups) < 2:
        return []
    out = []
    for g in groups:
        cur = data.totals(current_from, group=g)
        who = f"{g[0] or 'no release'} ({g[1] or '-'})"
        if cur.labelled >= cfg.quality_min_labels and ref.labelled >= cfg.quality_min_labels:
            out.append(_change_verdict(
                f"quality_rate:{g[0]}:{g[1]}", f"Quality rate of {who}", (ref.labelled - ref.good, ref.labelled),
                (cur.labelled - cur.good, cur.labelled), min_n=cfg.quality_min_labels, min_pp=cfg.quality_drop_pp,
                alpha=cfg.rate_alpha, worse="fell", what="labelled answers good",
                todo=f"read {who}'s labelled-bad answers (launchgate review-queue list) before it serves more"))
        if cur.feedback >= cfg.feedback_min and ref.feedback >= cfg.feedback_min:
            out.append(_change_verdict(
                f"bad_feedback_rate:{g[0]}:{g[1]}", f"Bad user feedback rate of {who}",
                (ref.bad_feedback, ref.feedback), (cur.bad_feedback, cur.feedback), min_n=cfg.feedback_min,
                min_pp=cfg.bad_feedback_rise_pp, alpha=cfg.rate_alpha, worse="rose", what="ratings bad",
                todo=f"replay {who}'s bad-feedback requests (launchgate replay --filter bad_feedback)"))
    return out


# ----------------------------------------------------------------------------------- report


def quality_summary(data: QualityData) -> dict[str, Any]:
    """JSON for the reports: per period and release/variant, the rates with their 95% CIs."""
    out = []
    for r in data.rows:
        out.append({"week_of": r.week_of, "period": r.period, "release_id": r.release_id, "variant": r.variant,
                    "sampled": r.sampled, "quality": r.quality(), "feedback": r.feedback,
                    "thumbs_up_rate": round(r.thumbs_up / r.thumbs, 4) if r.thumbs else None,
                    "mean_score": round(r.score_sum / r.scores, 3) if r.scores else None,
                    "bad_feedback": r.bad()})
    return {"rows": out, "unknown_feedback": {data.week_of(p): n for p, n in data.unknown_feedback.items()}}


def quality_markdown(summary: Mapping[str, Any], title: str = "Quality: labels and user feedback") -> list[str]:
    """The section a review shows, from ``quality_summary``'s JSON (what the report stores)."""
    def ci(d: Mapping[str, Any]) -> str:
        if d["rate"] is None:
            return "-"
        return f"{d['rate'] * 100:.1f}% [{d['low'] * 100:.1f}, {d['high'] * 100:.1f}]"

    lines = [f"## {title}", "",
             "Quality rate = labelled good / labelled review-queue items; bad feedback = thumbs down or a score "
             f"<= {BAD_SCORE_MAX}; each with its 95% bootstrap CI. Feedback is joined to its request (release, "
             "variant) by request id.", ""]
    rows, unknown = summary.get("rows", []), summary.get("unknown_feedback", {})
    if not rows and not unknown:
        return [*lines, "No review-queue items or feedback in these weeks.", ""]
    lines += ["| week of | release | variant | sampled | labelled | quality rate | feedback | thumbs up | mean score "
              "| bad feedback |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        up = "-" if r["thumbs_up_rate"] is None else f"{r['thumbs_up_rate'] * 100:.1f}%"
        score = "-" if r["mean_score"] is None else f"{r['mean_score']:.2f}"
        lines.append(f"| {r['week_of']} | {r['release_id'] or '-'} | {r['variant'] or '-'} | {r['sampled']} | "
                     f"{r['quality']['labelled']} | {ci(r['quality'])} | {r['feedback']} | {up} | {score} | "
                     f"{ci(r['bad_feedback'])} |")
    for week, n in unknown.items():
        lines.append(f"| {week} | unknown request id | | | | | {n} | | | |")
    return [*lines, ""]
