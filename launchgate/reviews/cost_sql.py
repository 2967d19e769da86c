"""The cost review's aggregates as DuckDB queries over the ``requests`` view (requestlog/view.py).

Three GROUP BY queries (per day, per model and prompt version, the month's token averages) give
cost.CostInputs; cost.report_from does the rest exactly as for records. Sums use ``fsum``
(compensated), so they equal Python's left-to-right float sums to well within the report's
6-decimal rounding; counts and averages are exact.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb

from launchgate.reviews.cost import CostInputs, DaySpend, GroupCost

COST = "coalesce(cost_usd, 0.0)"


def _r(v: float | None, n: int) -> float | None:
    return None if v is None else round(float(v), n)


def cost_inputs(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> CostInputs:
    per_day: dict[date, tuple[float, int]] = {
        d: (float(usd), int(n)) for d, usd, n in
        con.execute(f"SELECT CAST(ts AS DATE) AS d, fsum({COST}), count(*) FROM requests GROUP BY d").fetchall()}
    days = []
    for i in range((end.date() - start.date()).days):
        d = start.date() + timedelta(days=i)
        usd, n = per_day.get(d, (0.0, 0))
        days.append(DaySpend(day=d, usd=round(usd, 6), requests=n))
    groups = []
    for model, prompt, n, usd, avg_in, avg_out in con.execute(f"""
            SELECT coalesce(nullif(model, ''), '?') AS m, coalesce(nullif(prompt_version, ''), '?') AS p,
                   count(*), fsum({COST}), avg(input_tokens), avg(output_tokens)
            FROM requests GROUP BY m, p ORDER BY m, p""").fetchall():
        groups.append(GroupCost(model=model, prompt_version=prompt, requests=int(n), usd=round(float(usd), 6),
                                cost_per_request=round(float(usd) / n, 8) if n else None,
                                avg_input_tokens=_r(avg_in, 3), avg_output_tokens=_r(avg_out, 3)))
    total, usd, avg_in, avg_out = con.execute(
        f"SELECT count(*), fsum({COST}), avg(input_tokens), avg(output_tokens) FROM requests").fetchone()  # type: ignore[misc]
    return CostInputs(requests=int(total), total_usd=round(float(usd or 0.0), 6), days=days, groups=groups,
                      avg_input_tokens=None if avg_in is None else float(avg_in),
                      avg_output_tokens=None if avg_out is None else float(avg_out))
