"""The drift review's numbers as DuckDB queries over the ``requests`` view (requestlog/view.py).

Nothing here holds the window as Python objects. Per feature and window:

* count, mean, p50, p95: ``count``/``avg``/``quantile_cont`` in SQL (exact; numpy's linear percentile);
* PSI: the reference deciles by ``quantile_cont`` (exact), then the bin counts of both windows by a
  SQL ``GROUP BY`` (exact): the PSI equals drift.psi over the full arrays up to float rounding;
* KS: while both windows hold at most ``EXACT_MAX_N`` values (scipy's own limit for its exact
  p-value), the values themselves are fetched (at most 2 x 10,000 floats) and scipy.stats.ks_2samp
  runs as before: identical results. Above it, D is computed from a histogram of the values
  rounded to 5 significant digits: exact for integer features below 100,000 (token counts), and
  for other features off by at most the mass of one rounding cell (a 0.001% wide value range,
  i.e. |dD| < 1e-3 on any realistic latency distribution); the p-value is the asymptotic formula
  ks_2samp itself uses at these sizes (``kstwo.sf(D, round(n*m/(n+m)))``), so it only inherits D's error;
* rates: ``count_if`` over both windows in one query (exact).

The Great Expectations suite runs on a bounded stratified sample (``expectation_sample``: at most
``GX_SAMPLE_ROWS`` rows, allocated to each (day, success) stratum in proportion to its size, chosen
by a hash of the request id so reruns pick the same rows). Every expectation but uniqueness is a
share of rows ("mostly"), which a proportional sample of 50,000 estimates within +/-0.5 pp (95%);
uniqueness cannot be judged on a sample, so it is replaced by an exact SQL count over the week.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
from scipy import stats

from launchgate.reviews.config import DriftReviewConfig
from launchgate.reviews.drift import LOG_COLUMNS, NUMERIC, PSI_BINS, PSI_FLOOR, DistStats, dist_stats, psi

EXACT_MAX_N = 10_000
CHART_SAMPLE = 20_000
GX_SAMPLE_ROWS = 50_000
OK = "(coalesce(status = 200, false) AND coalesce(error_code, '') = '')"
FEATURES = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "tokens_per_request": "input_tokens + output_tokens",
    "latency_ms": f"CASE WHEN {OK} THEN latency_ms END",
}
ROUND_SIG = "CASE WHEN x = 0 THEN 0 ELSE round(x, 4 - CAST(floor(log10(abs(x))) AS INTEGER)) END"


def ts_sql(at: datetime) -> str:
    return f"TIMESTAMP '{at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' ')}'"


@dataclass
class DriftData:
    """Everything drift.compare_stats and the chart need, computed in SQL."""

    dists: dict[str, DistStats]
    ref_rates: dict[str, tuple[int, int]]
    cur_rates: dict[str, tuple[int, int]]
    n_reference: int
    n_current: int
    chart_ref: dict[str, np.ndarray] = field(default_factory=dict)
    chart_cur: dict[str, np.ndarray] = field(default_factory=dict)


def _values(expr: str, cur: str) -> str:
    return f"(SELECT ts >= {cur} AS cur, ({expr})::DOUBLE AS x FROM requests) WHERE x IS NOT NULL AND isfinite(x)"


def _r3(v: float | None) -> float | None:
    return None if v is None else round(float(v), 3)


def ks_from_histogram(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Two-sample KS (D, two-sided p) from counts per value (ascending), as ks_2samp's asymptotic mode."""
    n1, n2 = float(ref_counts.sum()), float(cur_counts.sum())
    d = float(np.max(np.abs(np.cumsum(ref_counts) / n1 - np.cumsum(cur_counts) / n2)))
    m, n = max(n1, n2), min(n1, n2)
    p = float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))
    return d, p


def psi_from_counts(ref: np.ndarray, cur: np.ndarray) -> float:
    r = np.clip(ref / ref.sum(), PSI_FLOOR, None)
    c = np.clip(cur / cur.sum(), PSI_FLOOR, None)
    return float(np.sum((c - r) * np.log(c / r)))


def feature_stats(con: duckdb.DuckDBPyConnection, expr: str, cur: str, cfg: DriftReviewConfig,
                  exact_max: int = EXACT_MAX_N) -> DistStats:
    src = _values(expr, cur)
    qs = ", ".join(f"{i / PSI_BINS:g}" for i in range(1, PSI_BINS))
    rows = con.execute(f"SELECT cur, count(x), avg(x), quantile_cont(x, [0.5, 0.95]), "
                       f"quantile_cont(x, [{qs}]) FROM {src} GROUP BY cur").fetchall()
    by = {bool(r[0]): r for r in rows}
    n_ref, n_cur = (int(by[w][1]) if w in by else 0 for w in (False, True))

    def summary(w: bool) -> dict[str, float | None]:
        if w not in by:
            return {"mean": None, "p50": None, "p95": None}
        _, _, mean, (p50, p95), _ = by[w]
        return {"mean": _r3(mean), "p50": _r3(p50), "p95": _r3(p95)}

    out = DistStats(n_reference=n_ref, n_current=n_cur, reference=summary(False), current=summary(True))
    if min(n_ref, n_cur) < cfg.min_requests:
        return out
    if max(n_ref, n_cur) <= exact_max:  # small windows: the very arrays the in-memory review used
        arr = con.execute(f"SELECT cur, x FROM {src}").fetchnumpy()
        cur_mask = arr["cur"].astype(bool)
        exact = dist_stats(arr["x"][~cur_mask], arr["x"][cur_mask], cfg)
        out.psi, out.ks_statistic, out.ks_pvalue = exact.psi, exact.ks_statistic, exact.ks_pvalue
        return out
    edges = np.unique(np.asarray(by[False][4], dtype=float))
    bucket = " + ".join(f"(x >= {float(e)!r})::INTEGER" for e in edges) or "0"
    counts = con.execute(f"SELECT {bucket} AS b, count_if(NOT cur), count_if(cur) FROM {src} GROUP BY b").fetchall()
    ref_bins, cur_bins = np.zeros(len(edges) + 1), np.zeros(len(edges) + 1)
    for b, r, c in counts:
        ref_bins[b], cur_bins[b] = r, c
    out.psi = psi_from_counts(ref_bins, cur_bins)
    hist = con.execute(f"SELECT {ROUND_SIG} AS v, count_if(NOT cur) AS r, count_if(cur) AS c FROM {src} "
                       f"GROUP BY v ORDER BY v").fetchnumpy()
    out.ks_statistic, out.ks_pvalue = ks_from_histogram(hist["r"].astype(float), hist["c"].astype(float))
    return out


def rate_counts(con: duckdb.DuckDBPyConnection, cur: str) -> tuple[dict[str, tuple[int, int]],
                                                                   dict[str, tuple[int, int]], int, int]:
    """(reference rates, current rates, reference requests, current requests); drift.RATES in SQL."""
    counted = "coalesce(error_code, '') <> 'budget_exceeded'"
    rows = con.execute(f"""
        SELECT ts >= {cur} AS cur, count(*),
               count_if({counted}), count_if({counted} AND NOT {OK}),
               count(schema_ok), count_if(schema_ok = false),
               count(refused), count_if(refused)
        FROM requests GROUP BY cur""").fetchall()
    out: tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]] = ({}, {})
    n = [0, 0]
    for cur_w, total, den_e, ev_e, den_s, ev_s, den_r, ev_r in rows:
        i = 1 if cur_w else 0
        n[i] = int(total)
        out[i]["error_rate"] = (int(ev_e), int(den_e))
        if den_s:
            out[i]["schema_failure_rate"] = (int(ev_s), int(den_s))
        if den_r:
            out[i]["refusal_rate"] = (int(ev_r), int(den_r))
    return out[0], out[1], n[0], n[1]


def chart_sample(con: duckdb.DuckDBPyConnection, cur: str, current: bool,
                 n: int = CHART_SAMPLE) -> dict[str, np.ndarray]:
    """A reservoir sample of each feature's values for the histograms (a picture, not a statistic)."""
    cols = ", ".join(f"({e})::DOUBLE AS {name}" for name, e in FEATURES.items())
    where = f"ts >= {cur}" if current else f"ts < {cur}"
    data = con.execute(f"SELECT * FROM (SELECT {cols} FROM requests WHERE {where}) "
                       f"USING SAMPLE reservoir({n} ROWS) REPEATABLE (7)").fetchnumpy()
    out = {}
    for name in FEATURES:
        v = np.asarray(data[name], dtype=float)
        out[name] = v[np.isfinite(v)]
    return out


def drift_data(con: duckdb.DuckDBPyConnection, current_start: datetime, cfg: DriftReviewConfig, *,
               exact_max: int = EXACT_MAX_N, charts: bool = True) -> DriftData:
    cur = ts_sql(current_start)
    ref_rates, cur_rates, n_ref, n_cur = rate_counts(con, cur)
    dists = {name: feature_stats(con, FEATURES[name], cur, cfg, exact_max) for name in NUMERIC}
    data = DriftData(dists=dists, ref_rates=ref_rates, cur_rates=cur_rates, n_reference=n_ref, n_current=n_cur)
    if charts:
        data.chart_ref, data.chart_cur = chart_sample(con, cur, False), chart_sample(con, cur, True)
    return data


# ------------------------------------------------------------------------ Great Expectations


def expectation_sample(con: duckdb.DuckDBPyConnection, current_start: datetime,
                       rows: int = GX_SAMPLE_ROWS) -> Any:
    """A pandas DataFrame of at most ~``rows`` current-window lines, stratified by (day, success)."""
    cur = ts_sql(current_start)
    cols = ", ".join(f'"{c}"' for c in LOG_COLUMNS if c != "ts")
    return con.execute(f"""
        WITH s AS (SELECT strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ') AS ts, {cols}, CAST(ts AS DATE) AS d, {OK} AS ok,
                          hash(request_id, ts) AS h
                   FROM requests WHERE ts >= {cur}),
             t AS (SELECT count(*) AS total FROM s)
        SELECT ts, {cols} FROM s, t
        QUALIFY row_number() OVER (PARTITION BY d, ok ORDER BY h)
                <= ceil(count(*) OVER (PARTITION BY d, ok) * least(1.0, {rows} / total))
        """).df()


def uniqueness(con: duckdb.DuckDBPyConnection, current_start: datetime) -> dict[str, Any]:
    """request_id uniqueness over the whole current window (a sample cannot find duplicates)."""
    cur = ts_sql(current_start)
    total, distinct = con.execute(f"SELECT count(*), count(DISTINCT request_id) FROM requests "
                                  f"WHERE ts >= {cur} AND request_id IS NOT NULL").fetchone()  # type: ignore[misc]
    dup_pct = 0.0 if not total else (total - distinct) / total * 100
    return {"expectation": "expect_column_values_to_be_unique", "column": "request_id",
            "success": dup_pct <= 0.1 + 1e-12, "mostly": 0.999, "unexpected_percent": round(dup_pct, 4),
            "element_count": int(total), "over": "every line of the week (SQL)"}


def run_sampled_expectations(con: duckdb.DuckDBPyConnection, current_start: datetime, *, max_output_tokens: int,
                             min_schema_valid: float, rows: int = GX_SAMPLE_ROWS) -> dict[str, Any]:
    """The drift review's GX suite on the stratified sample, uniqueness replaced by the exact SQL count."""
    from launchgate.reviews.drift import run_expectations

    df = expectation_sample(con, current_start, rows)
    out = run_expectations(df, max_output_tokens=max_output_tokens, min_schema_valid=min_schema_valid)
    unique = uniqueness(con, current_start)
    out["results"] = [unique if (r["expectation"] == unique["expectation"] and r["column"] == "request_id") else r
                      for r in out["results"]]
    out["failed"] = sum(1 for r in out["results"] if not r["success"])
    out["success"] = out["failed"] == 0
    out["sample"] = {"rows": len(df), "cap": rows, "strata": "day x success", "method": "proportional, hash order"}
    return out


__all__ = ["EXACT_MAX_N", "DriftData", "drift_data", "expectation_sample", "psi", "run_sampled_expectations"]
