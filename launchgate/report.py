"""Human-readable evidence: eval report (JSON + Markdown), chart, decision Markdown."""

from __future__ import annotations

import io
from typing import Any

from launchgate.evaluation import CaseResult, VariantSummary
from launchgate.release import Decision
from launchgate.verdicts import Phase, Verdict

EMOJI = {Phase.SUCCESSFUL: "✅", Phase.FAILED: "❌", Phase.ERROR: "⚠️", Phase.INCONCLUSIVE: "❔"}


def by_tag(results: dict[str, list[CaseResult]]) -> dict[str, dict[str, dict[str, float]]]:
    """{tag: {variant: {"score": mean, "n": count}}}"""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for label, rows in results.items():
        acc: dict[str, list[float]] = {}
        for r in rows:
            for tag in r.tags or ["untagged"]:
                acc.setdefault(tag, []).append(r.score)
        for tag, scores in acc.items():
            out.setdefault(tag, {})[label] = {"score": round(sum(scores) / len(scores), 4), "n": len(scores)}
    return dict(sorted(out.items()))


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def verdict_table(verdicts: list[Verdict]) -> str:
    lines = ["| check | phase | reason |", "|---|---|---|"]
    for v in verdicts:
        lines.append(f"| {v.check} | {EMOJI[v.phase]} {v.phase.value} | {v.reason} |")
    return "\n".join(lines)


def eval_markdown(release_id: str, summaries: list[VariantSummary], verdicts: list[Verdict],
                  tags: dict[str, dict[str, dict[str, float]]], failures: list[CaseResult]) -> str:
    cols = ["score", "schema valid", "errors", "cost/request (USD)", "p50 ms", "p95 ms", "calls"]
    lines = [f"# Evaluation report: {release_id}", "", "| variant | model | prompt | " + " | ".join(cols) + " |",
             "|---|---|---|" + "---|" * len(cols)]
    for s in summaries:
        svr = "n/a" if s.schema_valid_rate is None else f"{s.schema_valid_rate:.1%}"
        lines.append(
            f"| {s.variant} | {s.model} | {s.prompt_version} | {s.score:.3f} | {svr} | {s.errors} "
            f"({s.error_rate:.1%}) | {_fmt(s.cost_per_request, '.6f')} | {_fmt(s.latency_p50_ms, '.0f')} | "
            f"{_fmt(s.latency_p95_ms, '.0f')} | {s.calls} |"
        )
    lines += ["", "## Verdicts", "", verdict_table(verdicts), "", "## Score by tag", "",
              "| tag | " + " | ".join(s.variant for s in summaries) + " |",
              "|---|" + "---|" * len(summaries)]
    for tag, per in tags.items():
        cells = [f"{per[s.variant]['score']:.3f} (n={int(per[s.variant]['n'])})" if s.variant in per else "-"
                 for s in summaries]
        lines.append(f"| {tag} | " + " | ".join(cells) + " |")
    if failures:
        lines += ["", f"## Candidate failures (first {min(len(failures), 20)} of {len(failures)})", "",
                  "| case | tags | detail |", "|---|---|---|"]
        for r in failures[:20]:
            lines.append(f"| {r.case_id} | {', '.join(r.tags)} | {(r.error or r.detail)[:140]} |")
    lines += ["", "![score by tag](score_by_tag.png)", ""]
    return "\n".join(lines)


def tag_chart_png(tags: dict[str, dict[str, dict[str, float]]], variants: list[str]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(tags)
    fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.7), 3.6), dpi=100)
    width = 0.8 / max(1, len(variants))
    for i, label in enumerate(variants):
        xs = [j + i * width for j in range(len(names))]
        ys = [tags[t].get(label, {}).get("score", 0.0) for t in names]
        ax.bar(xs, ys, width=width, label=label)
    ax.set_xticks([j + width * (len(variants) - 1) / 2 for j in range(len(names))])
    ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title("Eval score by tag")
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
                tags: dict[str, Any], meta: dict[str, Any], wall_s: float) -> dict[str, Any]:
    return {
        "release_id": release_id,
        "meta": meta,
        "wall_s": round(wall_s, 3),
        "variants": {s.variant: s.model_dump(mode="json") for s in summaries},
        "verdicts": [v.model_dump(mode="json") for v in verdicts],
        "by_tag": tags,
    }
