"""Canary evidence: timeseries rows, summary (JSON + Markdown) and the timeline PNG. Pure."""

from __future__ import annotations

import io
import textwrap
from typing import Any

from launchgate.canary.judge import JudgeConfig
from launchgate.canary.rollout import CanaryOutcome, Tick
from launchgate.eval.report import verdict_table
from launchgate.router.base import CANDIDATE, STABLE
from launchgate.verdicts import Verdict


def tick_row(tick: Tick) -> dict[str, Any]:
    variants = {}
    for name, s in (tick.stats or {}).items():
        variants[name] = {"count": s.count, "errors": s.errors, "error_rate": s.error_rate, "p50_ms": s.p50_ms,
                          "p95_ms": s.p95_ms, "p99_ms": s.p99_ms, "schema_failures": s.schema_failures,
                          "cost_per_request": s.cost_per_request}
    return {"t_s": tick.t_s, "ts": tick.ts, "weight": tick.weight, "router_weight": tick.router_weight,
            "phase": tick.phase.value, "action": tick.action.value, "reason": tick.reason, "error": tick.error,
            "variants": variants}


def summary(outcome: CanaryOutcome, cfg: JudgeConfig, *, release_id: str, router: str,
            traffic: dict[str, Any] | None = None) -> dict[str, Any]:
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
        "demo_traffic": traffic,
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
