"""PNG charts of the drift and cost reviews (matplotlib's object API: no global pyplot state, thread-safe)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

from launchgate.reviews.drift import NUMERIC, RATES


def _png(fig: object) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)  # type: ignore[arg-type]
    return buf.getvalue()


def drift_png(reference: Mapping[str, np.ndarray], current: Mapping[str, np.ndarray],
              ref_rates: Mapping[str, tuple[int, int]], cur_rates: Mapping[str, tuple[int, int]], title: str) -> bytes:
    """One panel per length/latency distribution (reference vs current density) and one of the rates."""
    from matplotlib.figure import Figure

    names = list(NUMERIC)
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    for ax, name in zip(axes, names, strict=False):
        ref, cur = reference.get(name, np.array([])), current.get(name, np.array([]))
        both = np.concatenate([ref, cur]) if len(ref) + len(cur) else np.array([0.0, 1.0])
        hi = float(np.percentile(both, 99.5)) if len(both) else 1.0
        bins = np.linspace(float(both.min()), max(hi, float(both.min()) + 1e-9), 40)
        if len(ref):
            ax.hist(np.clip(ref, None, hi), bins=bins, density=True, alpha=0.5, label=f"reference (n={len(ref)})")
        if len(cur):
            ax.hist(np.clip(cur, None, hi), bins=bins, density=True, alpha=0.5, label=f"current (n={len(cur)})")
        ax.set_title(NUMERIC[name][0], fontsize=10)
        ax.legend(fontsize=7)
    ax = axes[len(names)]
    shown = [n for n in RATES if n in ref_rates or n in cur_rates]
    x = np.arange(len(shown))

    def pct(counts: Mapping[str, tuple[int, int]], n: str) -> float:
        k, d = counts.get(n, (0, 0))
        return 100.0 * k / d if d else 0.0

    ax.bar(x - 0.2, [pct(ref_rates, n) for n in shown], 0.4, label="reference")
    ax.bar(x + 0.2, [pct(cur_rates, n) for n in shown], 0.4, label="current")
    ax.set_xticks(x, [RATES[n][0] for n in shown], fontsize=8, rotation=15)
    ax.set_ylabel("%")
    ax.set_title("Rates", fontsize=10)
    ax.legend(fontsize=7)
    for extra in axes[len(names) + 1:]:
        extra.set_visible(False)
    fig.suptitle(title)
    return _png(fig)


def cost_png(days: Sequence[str], spend: Sequence[float], *, cap_usd: float, alert_usd: float,
             recommended_cap_usd: float | None, title: str) -> bytes:
    """Daily spend bars against the configured cap/alert and the recommended cap."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(days))
    ax.bar(x, spend, color="#4c72b0", label="daily spend (request log)")
    top = max([*spend, 1e-6]) * 1.6
    lines = [(cap_usd, "#c44e52", "-", "daily cap"), (alert_usd, "#dd8452", "--", "alert")]
    if recommended_cap_usd is not None:
        lines.append((recommended_cap_usd, "#55a868", ":", "recommended cap"))
    for value, color, style, name in lines:
        # A $50 cap over $0.30 days would flatten the bars: lines far above the data go in the legend only.
        if value <= top:
            ax.axhline(value, color=color, linestyle=style, label=f"{name} ${value:g}")
        else:
            ax.plot([], [], color=color, linestyle=style, label=f"{name} ${value:g} (off scale)")
    ax.set_ylim(0, top)
    step = max(1, len(days) // 15)
    ax.set_xticks(x[::step], [d[5:] for d in days][::step], fontsize=8)
    ax.set_ylabel("USD")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _png(fig)


def quality_png(summary: Mapping[str, object], title: str) -> bytes:
    """Quality rate and bad-feedback rate week over week, one line per release/variant, with 95% CIs
    (reviews/quality.quality_summary's rows)."""
    from matplotlib.figure import Figure

    rows = list(summary.get("rows", []))  # type: ignore[call-overload]
    weeks = sorted({r["week_of"] for r in rows})
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, key, name in ((axes[0], "quality", "Quality rate (labelled good)"),
                          (axes[1], "bad_feedback", "Bad user feedback rate")):
        for series in sorted({(r["release_id"] or "-", r["variant"] or "-") for r in rows}):
            pts = [(weeks.index(r["week_of"]), r[key]) for r in rows
                   if (r["release_id"] or "-", r["variant"] or "-") == series and r[key]["rate"] is not None]
            if not pts:
                continue
            x = np.array([p[0] for p in pts], dtype=float)
            y = np.array([p[1]["rate"] for p in pts]) * 100
            err = np.array([[max(0.0, p[1]["rate"] - p[1]["low"]) for p in pts],
                            [max(0.0, p[1]["high"] - p[1]["rate"]) for p in pts]]) * 100
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"{series[0]} ({series[1]})")
        ax.set_xticks(range(len(weeks)), weeks, fontsize=8, rotation=15)
        ax.set_ylim(0, 100)
        ax.set_ylabel("%")
        ax.set_title(name, fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    return _png(fig)
