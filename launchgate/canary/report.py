"""Canary evidence: timeseries rows, summary (JSON + Markdown) and the timeline PNG. Pure."""

from __future__ import annotations

import io
import textwrap
from typing import Any

from launchgate.canary.judge import JudgeConfig
from launchgate.canary.rollout import CanaryOutcome, Tick
from launchgate.eval.report import verdict_table
from launchgate.router.base import CANDIDATE, STABLE
from launchgate.verdicts import Verdict, by_severity, pct


def tick_row(tick: Tick) -> dict[str, Any]:
    variants = {}
    for name, s in (tick.stats or {}).items():
        variants[name] = {"count": s.count, "errors": s.errors, "error_rate": s.error_rate, "p50_ms": s.p50_ms,
                          "p95_ms": s.p95_ms, "p99_ms": s.p99_ms, "schema_failures": s.schema_failures,
                          "cost_per_request": s.cost_per_request}
    return {"t_s": tick.t_s, "ts": tick.ts, "weight": tick.weight, "router_weight": tick.router_weight,
            "phase": tick.phase.value, "action": tick.action.value, "reason": tick.reason, "error": tick.error,
            "variants": variants, **({"source": tick.source} if tick.source else {})}


_WHAT = {"canary_error_rate": "error rate", "canary_schema_failures": "schema failure rate",
         "canary_latency_p95": "share of slow requests"}


def detection(outcome: CanaryOutcome, cfg: JudgeConfig, interval_s: float | None) -> dict[str, Any]:
    """How many canary requests the decision took, the fewest it could have taken, and what limited it.

    A sequential test needs a number of requests that depends on the failure rate, not on how often
    it looks: when that number takes longer than one interval to arrive, traffic limits the time
    to detect, and a shorter interval would not help.
    """
    j = outcome.judgement
    rps = j.canary_requests / j.at_s if j.at_s > 0 else None
    base: dict[str, Any] = {"decided_after_requests": j.canary_requests, "decided_at_s": round(j.at_s, 3),
                            "canary_rps": round(rps, 2) if rps is not None else None, "interval_s": interval_s,
                            "looks": len(outcome.ticks)}
    if outcome.result == "promoted":
        return {**base, "check": None, "min_requests": cfg.min_requests, "min_seconds": None, "limited_by": "window",
                "explanation": f"Promoted at the end of the window ({j.at_s:.0f} s) after {j.canary_requests} "
                               f"canary requests: a canary is promoted only when the whole window "
                               f"(canary.duration_s) passed without a breach, over at least {cfg.min_requests} "
                               f"requests (canary.min_requests)."}
    d = j.detection
    if d is None or d.min_requests is None:
        check = d.check if d else next((v.check for v in by_severity(j.verdicts) if v.blocks), None)
        return {**base, "check": check, "min_requests": None, "min_seconds": None, "limited_by": None,
                "explanation": f"Rolled back by {check or 'the router'} after {j.canary_requests} canary requests; "
                               f"no sequential test on a rate decided, so no minimum number of requests applies."}
    needed, what = d.requests, _WHAT.get(d.check, d.check)
    min_s = d.min_requests / rps if rps else None
    limited = None
    if min_s is not None and interval_s:
        limited = "traffic" if min_s > interval_s else "interval"
    looks = f"{len(outcome.ticks)} look{'' if len(outcome.ticks) == 1 else 's'}"
    head = (f"The judge rolled back after {needed} canary requests ({j.at_s:.0f} s at ~{rps or 0:.1f} canary "
            f"req/s, {looks}). At the observed {pct(d.rate)} {what}, its sequential test cannot be sure in "
            f"fewer than {d.min_requests} requests")
    if limited == "traffic":
        tail = (f", ~{min_s:.0f} s at this traffic: traffic, not the {interval_s:g} s interval, limits the time "
                f"to detect. A larger canary share (more requests per second) would detect sooner; a shorter "
                f"interval would not.")
    elif limited == "interval":
        tail = (f", ~{min_s:.1f} s at this traffic, less than the {interval_s:g} s between looks: the interval "
                f"limits the time to detect; a shorter canary.interval_s would detect sooner.")
    else:
        tail = "."
    late = ""
    if d.evidence_requests < needed:
        late = (f" The breach shows in the last {d.evidence_requests} of them; the healthy requests before it "
                f"had to be outweighed first.")
    return {**base, "check": d.check, "decided_after_requests": needed, "evidence_requests": d.evidence_requests,
            "rate": d.rate, "min_requests": d.min_requests,
            "min_seconds": round(min_s, 2) if min_s is not None else None, "limited_by": limited,
            "sprt": {"p0": d.p0, "p1": d.p1, "boundary": d.boundary}, "explanation": head + tail + late}


def summary(outcome: CanaryOutcome, cfg: JudgeConfig, *, release_id: str, router: str,
            traffic: dict[str, Any] | None = None, interval_s: float | None = None) -> dict[str, Any]:
    """The canary's summary; ``interval_s`` (canary.interval_s) lets it say what limited the time to detect."""
    last = next((t for t in reversed(outcome.ticks) if t.stats), None)
    return {
        "release_id": release_id,
        "result": outcome.result,
        "phase": outcome.judgement.phase.value,
        "reason": outcome.reason,
        "router": router,
        "started_at": outcome.started_at,
        "ended_at": outcome.ended_at,
        "duration_s": round(outcome.ended_at - outcome.started_at, 3),
        "rollback_at_s": outcome.rollback_at_s,
        "reverted_by_router": outcome.reverted_by_router,
        "looks": len(outcome.ticks),
        "shifts": [s.model_dump(mode="json") for s in outcome.shifts],
        "final_stats": {k: v.model_dump(mode="json") for k, v in (last.stats or {}).items()} if last else {},
        "thresholds": {"error_rate": cfg.error_rate, "schema_failure_rate": cfg.schema_failure_rate,
                       "p95_ms": cfg.p95_ms, "cost_increase": cfg.cost_increase, "min_requests": cfg.min_requests,
                       "alpha": cfg.alpha, "sprt_boundary": round(cfg.boundary, 3), "effect": cfg.effect},
        "verdicts": [v.model_dump(mode="json") for v in outcome.verdicts],
        "detection": detection(outcome, cfg, interval_s),
        "demo_traffic": traffic,
        # Why the judge held (metrics stale, absent or unreachable): the look kept the weight, judged nothing.
        "holds": [{"t_s": t.t_s, "reason": t.reason} for t in outcome.ticks if t.action.value == "hold"],
    }


def summary_markdown(s: dict[str, Any]) -> str:
    head = "promoted" if s["result"] == "promoted" else "rolled back"
    lines = [f"# Canary {head}: {s['release_id']}", "", s["reason"], "",
             f"Router `{s['router']}`, {s['looks']} looks over {s['duration_s']:.1f} s; SPRT boundary "
             f"{s['thresholds']['sprt_boundary']} (alpha {s['thresholds']['alpha']}).", ""]
    if s["final_stats"]:
        lines += ["| variant | requests | errors | p95 ms | schema failures | cost/request |",
                  "|---|---|---|---|---|---|"]
        for name, v in s["final_stats"].items():
            p95 = f"{v['p95_ms']:.0f}" if v.get("p95_ms") is not None else "-"
            cost = f"${v['cost_per_request']:.5f}" if v.get("cost_per_request") is not None else "-"
            lines.append(f"| {name} | {v['count']} | {v['errors']} | {p95} | {v['schema_failures']} | {cost} |")
        lines.append("")
    d = s.get("detection")
    if d:
        lines += ["## Time to decide", "", d["explanation"], ""]
        if d.get("min_requests") is not None and d.get("check"):
            lines += ["| decided after | fewest possible at this rate | canary req/s | fewest possible, s | "
                      "interval s | limited by |", "|---|---|---|---|---|---|",
                      f"| {d['decided_after_requests']} requests ({d['decided_at_s']:.1f} s) | {d['min_requests']} "
                      f"| {d['canary_rps'] if d['canary_rps'] is not None else '-'} "
                      f"| {d['min_seconds'] if d['min_seconds'] is not None else '-'} "
                      f"| {d['interval_s'] if d['interval_s'] is not None else '-'} | {d['limited_by'] or '-'} |", ""]
    if s.get("dashboard"):
        lines += [f"Dashboard: [{s['dashboard']['uid']}]({s['dashboard']['url']}) (the canary's time range).", ""]
    if s.get("holds"):
        lines += ["## Looks held without metrics", "", "| t (s) | why |", "|---|---|"]
        lines += [f"| {h['t_s']:.1f} | {h['reason']} |" for h in s["holds"]] + [""]
    lines += ["## Traffic shifts", "", "| t (s) | candidate % | reason |", "|---|---|---|"]
    lines += [f"| {x['t_s']:.1f} | {x['pct']:g} | {x['reason']} |" for x in s["shifts"]]
    lines += ["", "## Verdicts", "", verdict_table([Verdict.model_validate(v) for v in s["verdicts"]]), ""]
    return "\n".join(lines)


def timeline_png(outcome: CanaryOutcome, cfg: JudgeConfig) -> bytes:
    """Error rate and p95 per variant over time (cumulative, as the judge sees them), thresholds, rollback."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_err, ax_lat) = plt.subplots(2, 1, figsize=(8, 5.5), dpi=100, sharex=True)
    for name, color in ((STABLE, "tab:blue"), (CANDIDATE, "tab:orange")):
        pts = [(t.t_s, t.stats[name]) for t in outcome.ticks if t.stats and name in t.stats and t.stats[name].count]
        ax_err.plot([x for x, _ in pts], [100 * (s.error_rate or 0) for _, s in pts], marker=".", color=color,
                    label=name)
        lat = [(x, s.p95_ms) for x, s in pts if s.p95_ms is not None]
        ax_lat.plot([x for x, _ in lat], [y for _, y in lat], marker=".", color=color, label=name)
    ax_err.axhline(100 * cfg.error_rate, color="red", linestyle="--", linewidth=1,
                   label=f"threshold {100 * cfg.error_rate:g}%")
    ax_lat.axhline(cfg.p95_ms, color="red", linestyle="--", linewidth=1, label=f"threshold {cfg.p95_ms:g} ms")
    for ax in (ax_err, ax_lat):
        for shift in outcome.shifts:
            ax.axvline(shift.t_s, color="grey", linewidth=0.6, alpha=0.5)
        if outcome.rollback_at_s is not None:
            ax.axvline(outcome.rollback_at_s, color="black", linewidth=1.5, label="rollback")
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    ax_err.set_ylabel("error rate % (since start)")
    ax_lat.set_ylabel("p95 latency ms")
    ax_lat.set_xlabel("seconds since canary start (grey: weight changes)")
    title = f"Canary {outcome.result.replace('_', ' ')}: {outcome.reason}"
    ax_err.set_title("\n".join(textwrap.wrap(title, 110)[:2]), fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
