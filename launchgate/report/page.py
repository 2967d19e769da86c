"""report.html: one self-contained page per release: decision first, then the evidence behind it.

Rendered with Jinja2 (autoescaped: every reason and comment in a bundle is text someone typed or a
model produced). Charts are inline SVG (svg.py) and the bundle's PNGs are embedded as data URIs,
so the page opens from a bucket, an e-mail attachment or a laptop without any network request;
its Content-Security-Policy forbids every fetch to make that checkable in a browser.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from launchgate.errors import LaunchgateError
from launchgate.report import svg
from launchgate.report.gather import gather
from launchgate.store.bundle import ReleaseBundle
from launchgate.verdicts import Verdict, by_severity

log = logging.getLogger(__name__)
REPORT_NAME = "report.html"
WORDS = {"promoted": ("Promoted", "ok"), "passed": ("Passed", "ok"), "blocked": ("Blocked", "bad"),
         "rolled_back": ("Rolled back", "bad"), "error": ("Error", "warn")}


@cache
def _template() -> jinja2.Template:
    text = resources.files("launchgate.report").joinpath("template.html.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    return env.from_string(text)


def _pct(v: Any, digits: int = 1) -> str:
    return f"{100 * v:.{digits}f}%" if isinstance(v, int | float) else "–"


def _num(v: Any, fmt: str = "{:.3f}") -> str:
    return fmt.format(v) if isinstance(v, int | float) else "–"


def _eval(rep: dict[str, Any] | None) -> dict[str, Any] | None:
    if not rep:
        return None
    v = rep.get("variants") or {}
    cand, base = v.get("candidate") or {}, v.get("stable") or v.get("baseline") or {}
    cards = [("candidate score", _num(cand.get("score"))), ("baseline score", _num(base.get("score"))),
             ("schema valid", _pct(cand.get("schema_valid_rate"))),
             ("cost / request", _num(cand.get("cost_per_request"), "${:.5f}")),
             ("p95 latency", _num(cand.get("latency_p95_ms"), "{:.0f} ms"))]
    ci = None
    comp = (rep.get("comparison") or {}).get("bootstrap_ci")
    if comp:
        ci = (f"Paired difference candidate − baseline: {comp['delta']:+.3f} "
              f"({100 * comp.get('confidence', 0.95):.0f}% CI {comp['low']:+.3f} to {comp['high']:+.3f}) "
              f"over {comp.get('n', '?')} cases.")
    by_tag = {t: s for t, s in (rep.get("by_tag") or {}).items() if isinstance(s, dict)}
    tags = []
    for tag, s in sorted(by_tag.items()):
        c, st = s.get("candidate") or {}, s.get("stable") or {}
        tags.append({"tag": tag, "n": c.get("n", st.get("n", "")), "stable": _num(st.get("score")),
                     "candidate": _num(c.get("score")),
                     "ci": f"{_num(c.get('low'))}–{_num(c.get('high'))}" if c.get("low") is not None else "–"})
    chart = Markup(svg.score_intervals(by_tag)) if by_tag else None
    return {"cards": cards, "ci": ci, "tags": tags, "chart": chart}


def _load(rep: dict[str, Any] | None, manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    if not rep or not rep.get("report"):
        return None
    r, plan = rep["report"], rep.get("plan") or {}
    lat = r.get("effective_latency_ms") or r.get("latency_ms") or {}
    slo = (((manifest or {}).get("config") or {}).get("load_test") or {}).get("slo", {}).get("p95_ms")
    cards = [("target rate", _num(plan.get("target_rps"), "{:.1f} req/s")),
             ("achieved rate", _num(r.get("achieved_rps"), "{:.1f} req/s")),
             ("p95 latency", _num(lat.get("p95"), "{:.0f} ms")),
             ("requests", _num(lat.get("count"), "{:.0f}")), ("phase", rep.get("phase", "–"))]
    bars = {k: lat[k] for k in ("p50", "p90", "p95", "p99") if isinstance(lat.get(k), int | float)}
    return {"cards": cards, "chart": Markup(svg.latency_bars(bars, slo)) if bars else None}


def _canary(s: dict[str, Any] | None, ticks: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not s:
        return None
    stats = []
    for name, v in (s.get("final_stats") or {}).items():
        stats.append({"name": name, "count": v.get("count", 0), "errors": v.get("errors", 0),
                      "p95": _num(v.get("p95_ms"), "{:.0f}"), "schema": v.get("schema_failures", 0),
                      "cost": _num(v.get("cost_per_request"), "${:.5f}")})
    chart = Markup(svg.canary_timeline(ticks, s.get("shifts") or [], float(s.get("duration_s") or 0),
                                       s.get("rollback_at_s")))
    return {"result": s.get("result", ""), "reason": s.get("reason", ""), "chart": chart, "stats": stats,
            "explanation": (s.get("detection") or {}).get("explanation"), "dashboard": s.get("dashboard"),
            "holds": s.get("holds") or [], "shifts": s.get("shifts") or []}


def _by_severity(verdicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Worst first, as every summary orders them (launchgate.verdicts); unparseable ones keep their place."""
    try:
        parsed = [Verdict.model_validate(v) for v in verdicts]
    except ValueError:
        return verdicts
    return [v.model_dump(mode="json") for v in by_severity(parsed)]


def render(d: dict[str, Any]) -> str:
    """The page for gathered bundle data (``gather.gather``)."""
    dec = d.get("decision") or {}
    word, tone = WORDS.get(dec.get("decision", ""), ("Not decided yet", "neutral"))
    manifest = d.get("manifest") or {}
    approvals = [e for e in ((d.get("approvals") or {}).get("entries") or []) if isinstance(e, dict)]
    readiness = d.get("readiness") if isinstance(d.get("readiness"), dict) else None
    if readiness is not None and not isinstance(readiness.get("items"), list):
        readiness = None
    sections = [("why", "Why", dec.get("verdicts") or dec.get("reasons")), ("rubric", "Rubric", d.get("gonogo")),
                ("readiness", "Readiness", readiness), ("eval", "Evaluation", d.get("eval")),
                ("load", "Load test", d.get("load")), ("canary", "Canary", d.get("canary")),
                ("approvals", "Approvals", approvals), ("artifacts", "Artifacts", True)]
    return _template().render(
        d=d, decision_word=word, tone=tone,
        summary=dec.get("summary") or "This release has no decision.json yet: it is still running or crashed.",
        decided_at=str(dec.get("decided_at", ""))[:19].replace("T", " ") + (" UTC" if dec.get("decided_at") else ""),
        candidate=manifest.get("candidate"), stable=manifest.get("stable"), reasons=dec.get("reasons") or [],
        verdicts=_by_severity(dec.get("verdicts") or []), readiness=readiness, ev=_eval(d.get("eval")),
        load=_load(d.get("load"), manifest), canary=_canary(d.get("canary"), d.get("ticks") or []),
        drill=d.get("drill"), approvals=approvals, hashes=sorted((manifest.get("hashes") or {}).items()),
        artifacts=(d.get("index") or {}).get("artifacts") or [],
        toc=[(i, label) for i, label, present in sections if present],
    )


def build_report(bundle: ReleaseBundle) -> str:
    return render(gather(bundle))


def write_report(bundle: ReleaseBundle, *, skip_existing: bool = False) -> str | None:
    """Store report.html at the bundle's base; returns its location, None when it was not written.

    Written after index.json (it shows the index's hashes, so it is a view of the index and not
    listed in it). A report that cannot be built is logged, never fatal: the release is decided.
    """
    if skip_existing and bundle.exists(REPORT_NAME):
        return bundle.location(REPORT_NAME)
    try:
        html = build_report(bundle)
        bundle.put_text(REPORT_NAME, html, "text/html; charset=utf-8")
    except (LaunchgateError, jinja2.TemplateError, ValueError, TypeError, KeyError) as exc:
        log.warning("report.html of %s not written: %s", bundle.release_id, exc)
        return None
    return bundle.location(REPORT_NAME)
