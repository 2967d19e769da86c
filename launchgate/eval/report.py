"""Human-readable evidence: eval report (JSON + Markdown), chart, decision Markdown."""

from __future__ import annotations

import io
from typing import Any

from launchgate.eval.paired_stats import mean_ci
from launchgate.eval.runner import CaseResult, VariantSummary, case_outcomes
from launchgate.release.records import Decision
from launchgate.verdicts import Phase, Verdict

EMOJI = {Phase.SUCCESSFUL: "✅", Phase.FAILED: "❌", Phase.ERROR: "⚠️", Phase.INCONCLUSIVE: "❔"}


def by_tag(results: dict[str, list[CaseResult]], confidence: float = 0.95) -> dict[str, dict[str, dict[str, float]]]:
    """{tag: {variant: {"score": mean, "n": cases, "low": CI low, "high": CI high}}}

    Per case (repeats averaged first), so a tag's n is its number of cases, not of calls.
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    for label, rows in results.items():
        tags_of = {r.case_id: r.tags for r in rows}
        acc: dict[str, list[float]] = {}
        for cid, outcome in case_outcomes(rows).items():
            for tag in tags_of[cid] or ["untagged"]:
                acc.setdefault(tag, []).append(outcome.score)
        for tag, scores in acc.items():
            mean, low, high = mean_ci(scores, confidence=confidence, resamples=2000)
            out.setdefault(tag, {})[label] = {"score": round(mean, 4), "n": len(scores),
                                              "low": round(low, 4), "high": round(high, 4)}
    return dict(sorted(out.items()))


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def verdict_table(verdicts: list[Verdict]) -> str:
    lines = ["| check | phase | reason |", "|---|---|---|"]
    for v in verdicts:
        lines.append(f"| {v.check} | {EMOJI[v.phase]} {v.phase.value} | {v.reason} |")
    return "\n".join(lines)


def eval_markdown(release_id: str, summaries: list[VariantSummary], verdicts: list[Verdict],
                  tags: dict[str, dict[str, dict[str, float]]], failures: list[CaseResult], *,
                  comparison: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> str:
    cols = ["score", "schema valid", "errors", "cost/request (USD)", "eval cost (USD)", "p50 ms", "p90 ms",
            "p95 ms", "p99 ms", "calls", "flaky cases"]
    lines = [f"# Evaluation report: {release_id}", "", "| variant | model | prompt | " + " | ".join(cols) + " |",
             "|---|---|---|" + "---|" * len(cols)]
    for s in summaries:
        svr = "n/a" if s.schema_valid_rate is None else f"{s.schema_valid_rate:.1%}"
        lines.append(
            f"| {s.variant} | {s.model} | {s.prompt_version} | {s.score:.3f} | {svr} | {s.errors} "
            f"({s.error_rate:.1%}) | {_fmt(s.cost_per_request, '.6f')} | {s.total_cost_usd:.4f} | "
            f"{_fmt(s.latency_p50_ms, '.0f')} | {_fmt(s.latency_p90_ms, '.0f')} | {_fmt(s.latency_p95_ms, '.0f')} | "
            f"{_fmt(s.latency_p99_ms, '.0f')} | {s.calls} | {len(s.flaky_cases)} |"
        )
    if meta:
        lines += ["", f"Prompt {meta.get('prompt_version')} (`{str(meta.get('prompt_sha256'))[:12]}`), golden set "
                      f"`{str(meta.get('dataset_sha256'))[:12]}`, config `{str(meta.get('config_sha256'))[:12]}`, "
                      f"model {meta.get('model_deployment')}, repeats {meta.get('repeats')}. Baseline: "
                      f"{meta.get('baseline_note', meta.get('baseline'))}."]
    lines += ["", "## Verdicts", "", verdict_table(verdicts)]
    if comparison:
        ci, m = comparison["bootstrap_ci"], comparison["mcnemar"]
        lines += ["", "## Paired comparison (same cases)", "",
                  f"- delta (candidate - baseline): {comparison['delta']:+.4f}, {ci['confidence']:.0%} bootstrap CI "
                  f"[{ci['low']:+.4f}, {ci['high']:+.4f}] ({ci['resamples']} resamples, {ci['n']} cases)",
                  f"- exact McNemar: p = {m['p_value']:.4g}; only the candidate passes {m['candidate_only']}, "
                  f"only the baseline passes {m['baseline_only']}",
                  f"- significantly better: {'yes' if comparison['significantly_better'] else 'no'}"]
        if comparison.get("non_inferiority"):
            ni = comparison["non_inferiority"]
            lines.append(f"- non-inferiority (margin {ni['margin']}): {ni['confidence']:.0%} lower bound "
                         f"{ni['lower_bound']:+.4f} -> {'shown' if ni['passed'] else 'not shown'}")
    flaky = [(s.variant, s.flaky_cases) for s in summaries if s.flaky_cases]
    if flaky:
        lines += ["", "## Flaky cases (pass/fail differs between repeats)", ""]
        lines += [f"- {label} ({len(ids)}): {', '.join(ids[:40])}{' ...' if len(ids) > 40 else ''}"
                  for label, ids in flaky]
    lines += ["", "## Score by tag", "",
              "| tag | " + " | ".join(s.variant for s in summaries) + " |",
              "|---|" + "---|" * len(summaries)]
    for tag, per in tags.items():
        cells = [_tag_cell(per[s.variant]) if s.variant in per else "-" for s in summaries]
        lines.append(f"| {tag} | " + " | ".join(cells) + " |")
    if failures:
        lines += ["", f"## Candidate failures (first {min(len(failures), 20)} of {len(failures)})", "",
                  "| case | tags | detail |", "|---|---|---|"]
        for r in failures[:20]:
            lines.append(f"| {r.case_id} | {', '.join(r.tags)} | {(r.error or r.detail)[:140]} |")
    lines += ["", "![score by tag](score_by_tag.png)", ""]
    return "\n".join(lines)


def _tag_cell(cell: dict[str, float]) -> str:
    ci = f" [{cell['low']:.2f}, {cell['high']:.2f}]" if "low" in cell else ""
    return f"{cell['score']:.3f}{ci} (n={int(cell['n'])})"


def tag_chart_png(tags: dict[str, dict[str, dict[str, float]]], variants: list[str]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(tags)
    fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.7), 3.6), dpi=100)
    width = 0.8 / max(1, len(variants))
    for i, label in enumerate(variants):
        xs = [j + i * width for j in range(len(names))]
        cells = [tags[t].get(label, {}) for t in names]
        ys = [c.get("score", 0.0) for c in cells]
        # Asymmetric error bars from the bootstrap CI: a tag with few cases shows how little it says.
        err = [[max(0.0, y - c.get("low", y)) for y, c in zip(ys, cells, strict=True)],
               [max(0.0, c.get("high", y) - y) for y, c in zip(ys, cells, strict=True)]]
        ax.bar(xs, ys, width=width, label=label, yerr=err, capsize=2, error_kw={"elinewidth": 0.8})
    ax.set_xticks([j + width * (len(variants) - 1) / 2 for j in range(len(names))])
    ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title("Eval score by tag (bars: bootstrap CI of each mean)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def decision_markdown(decision: Decision) -> str:
    icon = {"passed": "✅", "promoted": "🚀", "blocked": "⛔", "rolled_back": "↩️", "error": "⚠️"}[decision.decision]
    return "\n".join([
        f"# {icon} {decision.decision.upper()}: {decision.release_id}", "", decision.summary, "",
        verdict_table(decision.verdicts), "", f"Evidence: `{decision.evidence}`", "",
    ])


def eval_report(release_id: str, summaries: list[VariantSummary], verdicts: list[Verdict],
                tags: dict[str, Any], meta: dict[str, Any], wall_s: float, *,
                comparison: dict[str, Any] | None = None, baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "release_id": release_id,
        "meta": meta,
        "wall_s": round(wall_s, 3),
        "variants": {s.variant: s.model_dump(mode="json") for s in summaries},
        "verdicts": [v.model_dump(mode="json") for v in verdicts],
        "by_tag": tags,
        # Paired bootstrap CI + exact McNemar p of candidate vs baseline on the same cases.
        "comparison": comparison,
        "baseline": baseline,
        "flaky_cases": {s.variant: s.flaky_cases for s in summaries},
        "cost": {"eval_total_usd": round(sum(s.total_cost_usd for s in summaries), 6),
                 "per_request_usd": {s.variant: s.cost_per_request for s in summaries}},
        "latency_ms": {s.variant: {"p50": s.latency_p50_ms, "p90": s.latency_p90_ms, "p95": s.latency_p95_ms,
                                   "p99": s.latency_p99_ms} for s in summaries},
        "artifacts": {"cases": "eval/cases.jsonl", "markdown": "eval/eval_report.md",
                      "chart": "eval/score_by_tag.png"},
    }
