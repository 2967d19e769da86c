"""Human-readable load-test evidence: loadtest_report.md and latency_throughput.png."""

from __future__ import annotations

import io

from launchgate.eval.report import verdict_table
from launchgate.loadtest.analysis import CostEstimate, LoadReport, Percentiles
from launchgate.verdicts import Verdict, combine


def _f(x: float | None, spec: str = ".0f") -> str:
    return "n/a" if x is None else format(x, spec)


def _ms(x: float | None) -> str:
    # Whole milliseconds for request latency; one decimal where the values are small (ITL, lag).
    return _f(x, ".1f" if x is not None and x < 10 else ".0f")


def _row(name: str, p: Percentiles) -> str:
    return f"| {name} | {_ms(p.p50)} | {_ms(p.p90)} | {_ms(p.p95)} | {_ms(p.p99)} | {_ms(p.max)} | {p.count} |"


def report_markdown(release_id: str, report: LoadReport | None, verdicts: list[Verdict],
                    cost: CostEstimate | None = None) -> str:
    phase = combine(verdicts).value
    lines = [f"# Load test of {release_id}: {phase}", ""]
    if report is None:
        lines += ["No load was measured.", "", "## Verdicts", "", verdict_table(verdicts), ""]
        return "\n".join(lines)
    s = report.slo
    slo = [f"p95 <= {s.p95_ms:g} ms"] + ([f"p99 <= {s.p99_ms:g} ms"] if s.p99_ms is not None else []) + \
          ([f"TTFT p95 <= {s.ttft_p95_ms:g} ms"] if s.ttft_p95_ms is not None else []) + \
          [f"errors <= {s.error_rate:g}%"]
    lines += [
        f"Drove `{report.model}` at `{report.endpoint}` with {report.arrival} arrivals at "
        f"**{report.target_rps:g} req/s** for {report.duration_s:g} s "
        f"({'streaming' if report.streaming else 'non-streaming'}). SLO: {', '.join(slo)}.",
        "",
        f"- sent {report.sent} requests (achieved {_f(report.achieved_rps, '.2f')} req/s), {report.ok} ok, "
        f"{report.errors} errors, {report.cancelled} cancelled; error rate "
        f"{_f(None if report.error_rate is None else report.error_rate * 100, '.2f')}%",
        f"- errors by code: {', '.join(f'{k} x{n}' for k, n in report.errors_by_code.items()) or 'none'}",
        f"- completed throughput {_f(report.throughput_rps, '.2f')} req/s, "
        f"output {_f(report.output_tokens_per_s, '.0f')} tokens/s",
    ]
    if report.cost_usd is not None:
        lines.append(f"- metered cost ${report.cost_usd:.4f} ({report.usage_input_tokens} input + "
                     f"{report.usage_output_tokens} output tokens, server-reported)")
    if cost is not None:
        lines.append(f"- cost estimate before the run (upper bound) ${cost.usd:.4f} for {cost.requests} requests")
    lines += [
        "", "## Verdicts", "", verdict_table(verdicts), "",
        "## Latency (ms)", "", "| metric | p50 | p90 | p95 | p99 | max | n |", "|---|---|---|---|---|---|---|",
        _row("request latency", report.latency_ms),
        _row("time to first token", report.ttft_ms),
        _row("inter-token latency", report.itl_ms),
        _row("from scheduled send (CO-aware)", report.effective_latency_ms),
        _row("generator lag (credit-to-start)", report.generator_lag_ms),
        "",
        "![latency and throughput over time](latency_throughput.png)", "",
        f"Engine: {report.engine.name} {report.engine.version or '?'} (exit {report.engine.returncode}, "
        f"{_f(report.engine.wall_s, '.1f')} s). Raw export in `aiperf/`.", "",
        "```", " ".join(report.engine.command), "```", "",
    ]
    return "\n".join(lines)


def latency_throughput_png(report: LoadReport) -> bytes:
    """Latency percentiles (top) and sent/failed requests per second (bottom) over the run."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Figure, not pyplot: pyplot keeps global state, and Prefect runs tasks in threads.
    fig = Figure(figsize=(8, 5.2), dpi=100)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    pts = report.timeline
    width = (pts[1].t_s - pts[0].t_s) if len(pts) > 1 else 1.0
    xs = [p.t_s + width / 2 for p in pts]
    for name, attr, style in (("p50", "p50_ms", "-"), ("p95", "p95_ms", "-"), ("p99", "p99_ms", ":")):
        ys = [getattr(p, attr) for p in pts]
        top.plot(xs, [float("nan") if y is None else y for y in ys], style, marker=".", label=name)
    top.axhline(report.slo.p95_ms, color="crimson", linestyle="--", linewidth=1,
                label=f"p95 SLO {report.slo.p95_ms:g} ms")
    top.set_ylabel("latency (ms)")
    top.set_title(f"{report.model}: {report.target_rps:g} req/s {report.arrival}, {report.duration_s:g} s")
    top.legend(fontsize=8, loc="upper left")
    top.grid(alpha=0.3)
    ok = [p.ok / width for p in pts]
    bad = [p.errors / width for p in pts]
    bottom.bar(xs, ok, width=width * 0.9, color="tab:blue", label="ok")
    bottom.bar(xs, bad, width=width * 0.9, bottom=ok, color="tab:red", label="errors")
    bottom.axhline(report.target_rps, color="black", linestyle="--", linewidth=1, label="target")
    bottom.set_ylabel("requests/s sent")
    bottom.set_xlabel("seconds since the first scheduled request")
    bottom.legend(fontsize=8, loc="lower right")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
