"""The shadow step's evidence: summary (JSON + Markdown) and the test's path as a chart."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from typing import Any

from launchgate.shadow.judge import PairScore, SequentialConfig, llrs


def summary_markdown(s: dict[str, Any]) -> str:
    t = s["test"]
    lines = [f"# Shadow evaluation: {s['decision'].replace('_', ' ')}", "", s["reason"], "",
             "| pairs judged | both pass | stable only | candidate only | neither | pairs recorded | dropped mirrors "
             "| capped |", "|---|---|---|---|---|---|---|---|",
             f"| {t['pairs']} | {s['kinds'].get('both', 0)} | {t['stable_only']} | {t['candidate_only']} | "
             f"{s['kinds'].get('neither', 0)} | {s['pairs_recorded']} | {s['gateway'].get('dropped', 0)} | "
             f"{s['gateway'].get('capped')} |",
             "", "## Ratios (candidate / stable, medians over served pairs)", "",
             "| latency | output tokens | cost |", "|---|---|---|",
             "| " + " | ".join(f"{v:.2f}" if v is not None else "n/a" for v in s["ratios"].values()) + " |", ""]
    j = s.get("llm_judge")
    if j:
        pref = j.get("preferred", {})
        lines += ["## LLM judge (free text)", "",
                  "| asked | preferred stable | preferred candidate | tie | failed |", "|---|---|---|---|---|",
                  f"| {j['asked']} | {pref.get('stable', 0)} | {pref.get('candidate', 0)} | {pref.get('tie', 0)} | "
                  f"{j['failed']} |", ""]
        lines += [f"- {e}" for e in j.get("errors", [])] + ([""] if j.get("errors") else [])
    if s["disagreements"]:
        lines += ["## Disagreements by field (pairs judged)", "", "| field | pairs |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in s["disagreements"].items()]
        lines.append("")
    return "\n".join(lines)


def chart_png(scores: Sequence[PairScore], cfg: SequentialConfig, title: str) -> bytes:
    """The two log-likelihood ratios pair by pair, with the block and pass boundaries."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b = c = 0
    worse, rate = [], []
    for i, s in enumerate(scores, 1):
        b += s.kind == "stable_only"
        c += s.kind == "candidate_only"
        w, r = llrs(i, b, c, cfg)
        worse.append(w)
        rate.append(r)
    xs = list(range(1, len(scores) + 1))
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    ax.plot(xs, worse, color="tab:red", label="worse test: ln LR (stable wins discordant pairs)")
    ax.plot(xs, rate, color="tab:green", label="loss-rate test: ln LR (candidate rarely loses)")
    ax.axhline(cfg.block_at, color="red", linestyle="--", linewidth=1, label=f"block at {cfg.block_at:.2f}")
    ax.axhline(cfg.pass_at, color="green", linestyle="--", linewidth=1, label=f"pass at {cfg.pass_at:.2f}")
    ax.axhline(cfg.rate_pass_at, color="green", linestyle=":", linewidth=1,
               label=f"pass (loss rate) at {cfg.rate_pass_at:.2f}")
    ax.axvline(cfg.min_pairs, color="grey", linewidth=0.6, label=f"min pairs {cfg.min_pairs}")
    ax.set_xlabel("shadow pairs")
    ax.set_ylabel("log-likelihood ratio")
    ax.set_title("\n".join(textwrap.wrap(title, 110)[:2]), fontsize=8)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
