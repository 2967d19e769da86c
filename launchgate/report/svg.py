"""Small inline SVG charts for report.html: crisp at any width, no script, no network.

Each function returns one ``<svg>`` element (a string) with a viewBox, so the page scales it to
the screen; text is real text (selectable, readable by screen readers through ``<title>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

STABLE_COLOR, CANDIDATE_COLOR = "#3b6fb6", "#d9822b"
W = 480  # viewBox width: scaled to ~0.8 on a phone, ~1.5 on a laptop (see the page's max-width)
ACTION_COLOR = {"continue": "#2f8f5b", "hold": "#b58900", "rollback": "#c0392b", "promote": "#2f8f5b"}


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
            f'xmlns="http://www.w3.org/2000/svg" class="chart"><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def canary_timeline(ticks: Sequence[dict[str, Any]], shifts: Sequence[dict[str, Any]], duration_s: float,
                    rollback_at_s: float | None) -> str:
    """Candidate weight over the window (step line) and every judge look as a dot coloured by its action."""
    w, h, left, right, top, bottom = W, 236, 44, 14, 14, 76
    end = max(duration_s, max((t.get("t_s") or 0 for t in ticks), default=0.0), 1e-9)
    pw, ph = w - left - right, h - top - bottom

    def x(t: float) -> float:
        return left + pw * min(max(t / end, 0.0), 1.0)

    def y(pct: float) -> float:
        return top + ph * (1 - pct / 100)

    body = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#f7f7f5" stroke="#ddd"/>']
    for pct in (0, 25, 50, 75, 100):
        body.append(f'<line x1="{left}" x2="{w - right}" y1="{y(pct):.1f}" y2="{y(pct):.1f}" stroke="#e4e4e0"/>'
                    f'<text x="{left - 6}" y="{y(pct) + 4:.1f}" text-anchor="end" class="ax">{pct}%</text>')
    pts: list[tuple[float, float]] = []
    last = 0.0
    for s in sorted(shifts, key=lambda s: s.get("t_s", 0)):
        t, pct = float(s.get("t_s", 0)), float(s.get("pct", 0))
        pts += [(x(t), y(last)), (x(t), y(pct))]
        last = pct
    pts.append((x(end), y(last)))
    body.append(f'<polyline fill="none" stroke="{CANDIDATE_COLOR}" stroke-width="2.5" points="'
                + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
    for t in ticks:
        action = str(t.get("action", "continue"))
        weight = t.get("router_weight") if t.get("router_weight") is not None else t.get("weight", 0)
        tip = f"{_fmt(float(t.get('t_s', 0)))} s: {action}: {t.get('reason', '')}"
        body.append(f'<circle cx="{x(float(t.get("t_s", 0))):.1f}" cy="{y(float(weight or 0)):.1f}" r="4.5" '
                    f'fill="{ACTION_COLOR.get(action, "#777")}" stroke="#fff" stroke-width="1.2">'
                    f"<title>{escape(tip)}</title></circle>")
    if rollback_at_s is not None:
        rx = x(rollback_at_s)
        body.append(f'<line x1="{rx:.1f}" x2="{rx:.1f}" y1="{top}" y2="{top + ph}" stroke="#c0392b" '
                    f'stroke-dasharray="4 3" stroke-width="1.5"/>'
                    f'<text x="{min(rx + 4, w - right - 60):.1f}" y="{top + 12}" class="ax" '
                    f'fill="#c0392b">rollback</text>')
    for frac in (0, 0.25, 0.5, 0.75, 1):
        t = end * frac
        body.append(f'<text x="{x(t):.1f}" y="{top + ph + 16}" text-anchor="middle" class="ax">{_fmt(t)} s</text>')
    ly = h - 38
    legend = [("candidate weight", CANDIDATE_COLOR, "line"), ("look: watch / promote", ACTION_COLOR["continue"], "dot"),
              ("hold (no metrics)", ACTION_COLOR["hold"], "dot"), ("rollback", ACTION_COLOR["rollback"], "dot")]
    lx = left
    for label, color, kind in legend:
        mark = (f'<line x1="{lx}" x2="{lx + 16}" y1="{ly - 4}" y2="{ly - 4}" stroke="{color}" stroke-width="2.5"/>'
                if kind == "line" else f'<circle cx="{lx + 8}" cy="{ly - 4}" r="4.5" fill="{color}"/>')
        body.append(mark + f'<text x="{lx + 22}" y="{ly}" class="ax">{escape(label)}</text>')
        lx += 22 + 7 * len(label) + 14
        if lx > w - 180:  # wrap: the chart is narrow so that its text stays readable on a phone
            lx, ly = left, ly + 20
    return _svg(w, h, "Canary timeline: candidate weight and judge looks", body)


def score_intervals(by_tag: dict[str, dict[str, dict[str, float]]]) -> str:
    """Eval score per tag, stable and candidate, with their confidence intervals (dot + whisker)."""
    tags = sorted(by_tag)
    row_h, left, right, top = 28, 120, 14, 26
    w = W
    h = top + row_h * len(tags) + 34
    pw = w - left - right

    def x(v: float) -> float:
        return left + pw * min(max(v, 0.0), 1.0)

    body = []
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        body.append(f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{top - 6}" y2="{h - 28}" stroke="#e4e4e0"/>'
                    f'<text x="{x(v):.1f}" y="{h - 12}" text-anchor="middle" class="ax">{v:.2f}</text>')
    for i, tag in enumerate(tags):
        cy = top + row_h * i + row_h / 2
        shown = tag if len(tag) <= 16 else tag[:15] + "…"
        body.append(f'<text x="{left - 8}" y="{cy + 4:.1f}" text-anchor="end" class="lbl">{escape(shown)}'
                    f'<title>{escape(tag)}</title></text>')
        for j, (variant, color) in enumerate((("stable", STABLE_COLOR), ("candidate", CANDIDATE_COLOR))):
            s = by_tag[tag].get(variant)
            if not s or s.get("score") is None:
                continue
            yy = cy - 5 + 10 * j
            lo, hi = s.get("low", s["score"]), s.get("high", s["score"])
            tip = f"{tag} {variant}: {s['score']:.3f} (CI {lo:.3f}..{hi:.3f}, n={s.get('n', '?')})"
            body.append(f'<g><title>{escape(tip)}</title>'
                        f'<line x1="{x(lo):.1f}" x2="{x(hi):.1f}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{color}" '
                        f'stroke-width="2"/><circle cx="{x(s["score"]):.1f}" cy="{yy:.1f}" r="4" fill="{color}"/></g>')
    body.append(f'<circle cx="{left}" cy="10" r="4" fill="{STABLE_COLOR}"/><text x="{left + 8}" y="14" class="ax">'
                f'stable</text><circle cx="{left + 70}" cy="10" r="4" fill="{CANDIDATE_COLOR}"/>'
                f'<text x="{left + 78}" y="14" class="ax">candidate (line: confidence interval)</text>')
    return _svg(w, h, "Eval score by tag with confidence intervals", body)


def latency_bars(latency: dict[str, float], slo_ms: float | None) -> str:
    """Load-test latency percentiles as horizontal bars, with the p95 SLO line."""
    rows = [(k, float(v)) for k, v in latency.items() if isinstance(v, int | float)]
    w, left, right, top, row_h = W, 44, 64, 10, 26
    h = top + row_h * len(rows) + 28
    top_v = max([v for _, v in rows] + [slo_ms or 0, 1.0]) * 1.1
    pw = w - left - right
    body = []
    for i, (name, v) in enumerate(rows):
        yy = top + row_h * i
        body.append(f'<text x="{left - 8}" y="{yy + 16}" text-anchor="end" class="lbl">{escape(name)}</text>'
                    f'<rect x="{left}" y="{yy + 4}" width="{pw * v / top_v:.1f}" height="16" rx="2" '
                    f'fill="{CANDIDATE_COLOR}"/><text x="{left + pw * v / top_v + 6:.1f}" y="{yy + 16}" '
                    f'class="ax">{v:.0f} ms</text>')
    if slo_ms:
        sx = left + pw * slo_ms / top_v
        body.append(f'<line x1="{sx:.1f}" x2="{sx:.1f}" y1="{top}" y2="{h - 22}" stroke="#c0392b" '
                    f'stroke-dasharray="4 3"/><text x="{sx:.1f}" y="{h - 8}" text-anchor="middle" class="ax" '
                    f'fill="#c0392b">p95 SLO {slo_ms:.0f} ms</text>')
    return _svg(w, h, "Load test latency percentiles", body)
