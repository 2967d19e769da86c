"""Monthly cost review (pure): where the money went, whether spend is steady, what next month costs.

From one calendar month of the request log:

* daily spend and requests; cost per request by model and prompt version;
* week-over-week variance of spend per day (ISO weeks, normalised per day so a week cut by the
  month's edge compares fairly; weeks with fewer than ``MIN_WEEK_DAYS`` days are not judged)
  against the seed's SLO (<= 10%);
* the seed's forecast: average input tokens x requests x input price + average output tokens x
  requests x output price, plus a 10-20% buffer, for the next month's days;
* a recommended daily cap (the larger of the forecast day and the month's p95 day, plus the
  buffer) and alert threshold (the configured alert/cap ratio, 45/50 by default);
* spikes: a day costing ``spike_factor`` x the month's median day, or a week costing
  ``spike_wow_pct`` more per day than the week before. A spike freezes releases.
"""

from __future__ import annotations

import calendar
import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from launchgate.config import Budget, Pricing
from launchgate.metrics.percentiles import percentile
from launchgate.requestlog.reader import AT, num
from launchgate.reviews.config import CostReviewConfig

Record = Mapping[str, Any]
MIN_WEEK_DAYS = 3


class DaySpend(BaseModel):
    day: date
    usd: float
    requests: int


class GroupCost(BaseModel):
    model: str
    prompt_version: str
    requests: int
    usd: float
    cost_per_request: float | None
    avg_input_tokens: float | None
    avg_output_tokens: float | None


class WeekSpend(BaseModel):
    week: str
    days: int
    usd: float
    requests: int
    usd_per_day: float
    cost_per_request: float | None
    change_pct: float | None = Field(default=None, description="usd_per_day vs the previous judged week")
    within_slo: bool | None = None


class Forecast(BaseModel):
    month: str
    days: int
    requests_per_day: float
    requests: int
    avg_input_tokens: float
    avg_output_tokens: float
    input_usd: float
    output_usd: float
    base_usd: float
    buffer_pct: float
    usd: float
    usd_per_day: float


class Recommendation(BaseModel):
    daily_cap_usd: float
    alert_usd: float
    current_daily_usd: float
    current_alert_usd: float
    reason: str


class Spike(BaseModel):
    kind: Literal["day", "week"]
    when: str
    usd: float
    baseline_usd: float
    factor: float
    reason: str


class CostReport(BaseModel):
    service: str
    month: str
    start: datetime
    end: datetime
    requests: int
    total_usd: float
    days: list[DaySpend]
    by_model_prompt: list[GroupCost]
    weeks: list[WeekSpend]
    wow_slo_pct: float
    wow_within_slo: bool | None = Field(description="None when fewer than two weeks could be judged")
    forecast: Forecast | None
    recommendation: Recommendation | None
    spikes: list[Spike]
    spike: bool
    reasons: list[str]
    notes: list[str] = Field(default_factory=list)
    cost_explorer: dict[str, Any] | None = None
    log_quality: dict[str, Any] = Field(default_factory=dict)
    generated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


# ------------------------------------------------------------------------------------ months


def month_bounds(label: str) -> tuple[datetime, datetime]:
    """``2026-10`` -> [Oct 1 00:00 UTC, Nov 1 00:00 UTC)."""
    try:
        year, month = (int(p) for p in label.split("-"))
        start = datetime(year, month, 1, tzinfo=UTC)
    except ValueError:
        raise ValueError(f"month {label!r}: expected YYYY-MM, e.g. 2026-10") from None
    return start, _next_month(start)


def _next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def previous_month(now: datetime) -> str:
    """The last complete month: what a run on the 1st reviews."""
    first = now.astimezone(UTC).replace(day=1)
    return f"{(first - timedelta(days=1)):%Y-%m}"


# ------------------------------------------------------------------------------------ pieces


def _cost(r: Record) -> float:
    return num(r, "cost_usd") or 0.0


def daily_spend(records: Sequence[Record], start: datetime, end: datetime) -> list[DaySpend]:
    """Every day of ``[start, end)``, zero-filled, so a quiet day shows as a gap, not as nothing."""
    usd: dict[date, float] = defaultdict(float)
    count: dict[date, int] = defaultdict(int)
    for r in records:
        d = r[AT].date()
        usd[d] += _cost(r)
        count[d] += 1
    days = (end.date() - start.date()).days
    out = []
    for i in range(days):
        d = start.date() + timedelta(days=i)
        out.append(DaySpend(day=d, usd=round(usd[d], 6), requests=count[d]))
    return out


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def by_model_prompt(records: Sequence[Record]) -> list[GroupCost]:
    groups: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in records:
        groups[(str(r.get("model") or "?"), str(r.get("prompt_version") or "?"))].append(r)
    out = []
    for (model, prompt), rs in sorted(groups.items()):
        usd = sum(_cost(r) for r in rs)
        out.append(GroupCost(
            model=model, prompt_version=prompt, requests=len(rs), usd=round(usd, 6),
            cost_per_request=round(usd / len(rs), 8) if rs else None,
            avg_input_tokens=_mean([v for r in rs if (v := num(r, "input_tokens")) is not None]),
            avg_output_tokens=_mean([v for r in rs if (v := num(r, "output_tokens")) is not None])))
    return out


def weekly(days: Sequence[DaySpend], slo_pct: float) -> list[WeekSpend]:
    """ISO weeks of the month; each judged week is compared with the previous judged week."""
    grouped: dict[str, list[DaySpend]] = defaultdict(list)
    for d in days:
        year, week, _ = d.day.isocalendar()
        grouped[f"{year}-W{week:02d}"].append(d)
    out: list[WeekSpend] = []
    previous: WeekSpend | None = None
    for label in sorted(grouped):
        ds = [d for d in grouped[label] if d.requests > 0]
        usd, requests = sum(d.usd for d in ds), sum(d.requests for d in ds)
        w = WeekSpend(week=label, days=len(ds), usd=round(usd, 6), requests=requests,
                      usd_per_day=round(usd / len(ds), 6) if ds else 0.0,
                      cost_per_request=round(usd / requests, 8) if requests else None)
        if w.days >= MIN_WEEK_DAYS:
            if previous is not None and previous.usd_per_day > 0:
                w.change_pct = round((w.usd_per_day / previous.usd_per_day - 1) * 100, 2)
                w.within_slo = abs(w.change_pct) <= slo_pct
            previous = w
        out.append(w)
    return out


def forecast(records: Sequence[Record], days: Sequence[DaySpend], pricing: Pricing, next_start: datetime,
             buffer_pct: float) -> Forecast | None:
    """The seed's model; None when the month had no priced requests to average."""
    tin = [v for r in records if (v := num(r, "input_tokens")) is not None]
    tout = [v for r in records if (v := num(r, "output_tokens")) is not None]
    return forecast_from(days, sum(tin) / len(tin) if tin else None, sum(tout) / len(tout) if tout else None,
                         pricing, next_start, buffer_pct)


def forecast_from(days: Sequence[DaySpend], avg_in: float | None, avg_out: float | None, pricing: Pricing,
                  next_start: datetime, buffer_pct: float) -> Forecast | None:
    """The forecast from the month's days and average token counts (None: no token counts)."""
    active = [d for d in days if d.requests > 0]
    if not active or avg_in is None or avg_out is None:
        return None
    n_days = calendar.monthrange(next_start.year, next_start.month)[1]
    per_day = sum(d.requests for d in active) / len(active)
    requests = math.ceil(per_day * n_days)
    input_usd = avg_in * requests / 1000 * pricing.input_per_1k
    output_usd = avg_out * requests / 1000 * pricing.output_per_1k
    base = input_usd + output_usd
    usd = base * (1 + buffer_pct / 100)
    return Forecast(month=f"{next_start:%Y-%m}", days=n_days, requests_per_day=round(per_day, 2), requests=requests,
                    avg_input_tokens=round(avg_in, 2), avg_output_tokens=round(avg_out, 2),
                    input_usd=round(input_usd, 4), output_usd=round(output_usd, 4), base_usd=round(base, 4),
                    buffer_pct=buffer_pct, usd=round(usd, 4), usd_per_day=round(usd / n_days, 4))


def _cents_up(x: float) -> float:
    return math.ceil(x * 100 - 1e-9) / 100


def recommend(days: Sequence[DaySpend], fc: Forecast | None, budget: Budget,
              buffer_pct: float) -> Recommendation | None:
    active = [d.usd for d in days if d.requests > 0]
    if fc is None or not active:
        return None
    p95_day = percentile(list(active), 95, method="linear") or 0.0
    base = max(fc.usd_per_day, p95_day * (1 + buffer_pct / 100))
    cap = max(_cents_up(base), 0.01)
    alert = _cents_up(cap * budget.alert_usd / budget.daily_usd)
    basis = "forecast day" if fc.usd_per_day >= p95_day * (1 + buffer_pct / 100) else \
        f"p95 day (${p95_day:.2f}) + {buffer_pct:g}%"
    if cap > budget.daily_usd:
        verdict = (f"the configured cap ${budget.daily_usd:.2f} is below it: expect budget stops; raise "
                   f"budget.daily_usd or cut cost per request")
    elif cap < budget.daily_usd / 2:
        verdict = (f"the configured cap ${budget.daily_usd:.2f} leaves more than 2x headroom; lowering it "
                   f"limits runaway spend")
    else:
        verdict = f"the configured cap ${budget.daily_usd:.2f} fits"
    return Recommendation(daily_cap_usd=cap, alert_usd=alert, current_daily_usd=budget.daily_usd,
                          current_alert_usd=budget.alert_usd,
                          reason=f"Recommended daily cap ${cap:.2f} (from the {basis}), alert at ${alert:.2f}; "
                                 f"{verdict}.")


def find_spikes(days: Sequence[DaySpend], weeks: Sequence[WeekSpend], cfg: CostReviewConfig) -> list[Spike]:
    out: list[Spike] = []
    active = [d for d in days if d.requests > 0]
    if len(active) >= 3:
        for d in active:
            others = [o.usd for o in active if o.day != d.day]
            median = statistics.median(others)
            if d.usd >= cfg.min_spike_usd and median > 0 and d.usd >= cfg.spike_factor * median:
                factor = d.usd / median
                out.append(Spike(kind="day", when=f"{d.day}", usd=d.usd, baseline_usd=round(median, 6),
                                 factor=round(factor, 2),
                                 reason=f"{d.day}: ${d.usd:.2f} spent, {factor:.1f}x the month's median day "
                                        f"(${median:.2f}; spike at {cfg.spike_factor:g}x)."))
    for w in weeks:
        if w.change_pct is not None and w.change_pct >= cfg.spike_wow_pct and w.usd_per_day >= cfg.min_spike_usd:
            base = w.usd_per_day / (1 + w.change_pct / 100)
            out.append(Spike(kind="week", when=w.week, usd=w.usd_per_day, baseline_usd=round(base, 6),
                             factor=round(1 + w.change_pct / 100, 2),
                             reason=f"{w.week}: ${w.usd_per_day:.2f}/day, {w.change_pct:+.0f}% on the week before "
                                    f"(spike at +{cfg.spike_wow_pct:g}%)."))
    return out


class CostInputs(BaseModel):
    """The month's aggregates the report is built from: from records (small logs) or SQL (cost_sql.py)."""

    requests: int
    total_usd: float
    days: list[DaySpend]
    groups: list[GroupCost]
    avg_input_tokens: float | None
    avg_output_tokens: float | None


def inputs_from_records(records: Sequence[Record], start: datetime, end: datetime) -> CostInputs:
    tin = [v for r in records if (v := num(r, "input_tokens")) is not None]
    tout = [v for r in records if (v := num(r, "output_tokens")) is not None]
    return CostInputs(requests=len(records), total_usd=round(sum(_cost(r) for r in records), 6),
                      days=daily_spend(records, start, end), groups=by_model_prompt(records),
                      avg_input_tokens=sum(tin) / len(tin) if tin else None,
                      avg_output_tokens=sum(tout) / len(tout) if tout else None)


def build_report(service: str, month: str, records: Sequence[Record], pricing: Pricing, budget: Budget,
                 cfg: CostReviewConfig) -> CostReport:
    start, end = month_bounds(month)
    return report_from(service, month, inputs_from_records(records, start, end), pricing, budget, cfg)


def report_from(service: str, month: str, inputs: CostInputs, pricing: Pricing, budget: Budget,
                cfg: CostReviewConfig) -> CostReport:
    start, end = month_bounds(month)
    days = inputs.days
    weeks = weekly(days, cfg.wow_slo_pct)
    judged = [w for w in weeks if w.within_slo is not None]
    fc = forecast_from(days, inputs.avg_input_tokens, inputs.avg_output_tokens, pricing, end,
                       cfg.forecast_buffer_pct)
    spikes = find_spikes(days, weeks, cfg)
    reasons = [s.reason for s in spikes]
    breaches = [w for w in judged if not w.within_slo]
    notes: list[str] = []
    if breaches:
        reasons += [f"Week-over-week variance {w.week}: {w.change_pct:+.1f}% per day, beyond the "
                    f"+/-{cfg.wow_slo_pct:g}% SLO." for w in breaches]
    if not judged:
        notes.append(f"Week-over-week variance not judged: fewer than two weeks with {MIN_WEEK_DAYS}+ days of traffic.")
    if fc is None:
        notes.append("No forecast: the month has no requests with token counts.")
    return CostReport(
        service=service, month=month, start=start, end=end, requests=inputs.requests,
        total_usd=inputs.total_usd, days=days, by_model_prompt=inputs.groups,
        weeks=weeks, wow_slo_pct=cfg.wow_slo_pct, wow_within_slo=(not breaches) if judged else None, forecast=fc,
        recommendation=recommend(days, fc, budget, cfg.forecast_buffer_pct), spikes=spikes, spike=bool(spikes),
        reasons=reasons, notes=notes,
    )


# ------------------------------------------------------------------------------ Cost Explorer


def parse_cost_explorer(response: Mapping[str, Any], metric: str) -> dict[str, float]:
    """``get_cost_and_usage`` (DAILY) -> {yyyy-mm-dd: usd}; groups are summed."""
    out: dict[str, float] = {}
    for period in response.get("ResultsByTime") or []:
        day = str((period.get("TimePeriod") or {}).get("Start", ""))[:10]
        total = (period.get("Total") or {}).get(metric)
        amount = float(total["Amount"]) if total and total.get("Amount") is not None else 0.0
        for group in period.get("Groups") or []:
            g = (group.get("Metrics") or {}).get(metric)
            if g and g.get("Amount") is not None:
                amount += float(g["Amount"])
        out[day] = round(out.get(day, 0.0) + amount, 8)
    return out


def compare_cost_explorer(billed: Mapping[str, float], days: Sequence[DaySpend], metric: str) -> dict[str, Any]:
    """Billing vs metering: a large gap means the pricing in release.yaml or the log is off."""
    billed_total = round(sum(billed.values()), 6)
    logged_total = round(sum(d.usd for d in days), 6)
    diff = None if not logged_total else round((billed_total / logged_total - 1) * 100, 2)
    return {"metric": metric, "billed_usd": billed_total, "logged_usd": logged_total, "difference_pct": diff,
            "days": dict(sorted(billed.items()))}


# ----------------------------------------------------------------------------------- markdown


def cost_markdown(report: CostReport, charts: Sequence[str] = ()) -> str:
    head = "**Cost spike**: releases are frozen until someone lifts it." if report.spike else "No cost spike."
    lines = [f"# Cost review {report.service} {report.month}", "", head, "",
             f"{report.requests} requests, ${report.total_usd:.2f} in total.", ""]
    if report.reasons:
        lines += ["## Findings", "", *(f"- {r}" for r in report.reasons), ""]
    if report.forecast:
        f = report.forecast
        lines += ["## Forecast " + f.month, "",
                  f"{f.requests_per_day:g} requests/day x {f.days} days = {f.requests} requests; "
                  f"{f.avg_input_tokens:g} input tokens (${f.input_usd:.2f}) + {f.avg_output_tokens:g} output "
                  f"tokens (${f.output_usd:.2f}) per request average = ${f.base_usd:.2f}, plus {f.buffer_pct:g}% "
                  f"buffer = **${f.usd:.2f}** (${f.usd_per_day:.2f}/day).", ""]
    if report.recommendation:
        lines += ["## Budget", "", report.recommendation.reason, ""]
    lines += ["## Week over week", "", f"SLO: spend per day within +/-{report.wow_slo_pct:g}% of the week before.",
              "", "| week | days | spend | per day | change | within SLO |", "|---|---|---|---|---|---|"]
    for w in report.weeks:
        change = "-" if w.change_pct is None else f"{w.change_pct:+.1f}%"
        ok = "-" if w.within_slo is None else ("yes" if w.within_slo else "**no**")
        lines.append(f"| {w.week} | {w.days} | ${w.usd:.2f} | ${w.usd_per_day:.2f} | {change} | {ok} |")
    lines += ["", "## Cost per request by model and prompt version", "",
              "| model | prompt | requests | spend | per request | avg in | avg out |", "|---|---|---|---|---|---|---|"]
    for g in report.by_model_prompt:
        cpr = "-" if g.cost_per_request is None else f"${g.cost_per_request:.6f}"
        lines.append(f"| {g.model} | {g.prompt_version} | {g.requests} | ${g.usd:.2f} | {cpr} | "
                     f"{g.avg_input_tokens if g.avg_input_tokens is not None else '-'} | "
                     f"{g.avg_output_tokens if g.avg_output_tokens is not None else '-'} |")
    if report.cost_explorer:
        ce = report.cost_explorer
        diff = "-" if ce.get("difference_pct") is None else f"{ce['difference_pct']:+.1f}%"
        lines += ["", "## AWS Cost Explorer", "",
                  f"{ce['metric']}: ${ce['billed_usd']:.2f} billed vs ${ce['logged_usd']:.2f} from the request log "
                  f"({diff})."]
    if report.notes:
        lines += ["", "## Notes", "", *(f"- {n}" for n in report.notes)]
    if charts:
        lines += ["", *(f"![{c}]({c})" for c in charts)]
    return "\n".join(lines) + "\n"
