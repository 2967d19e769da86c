"""The drift review's numbers as DuckDB queries over the ``requests`` view (requestlog/view.py).

Nothing here holds the window as Python objects. Per feature and window:

* count, mean, p50, p95: ``count``/``avg``/``quantile_cont`` in SQL (exact; numpy's linear percentile);
* PSI: the reference deciles by ``quantile_cont`` (exact; edges at 12 significant digits, as in
  drift.psi), then the bin counts of both windows by a SQL ``GROUP BY`` (exact): the PSI equals
  drift.psi over the full arrays;
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
from launchgate.reviews.drift import (
    LOG_COLUMNS,
    NUMERIC,
    PSI_BINS,
    PSI_FLOOR,
    DistStats,
    dist_stats,
    psi,
    psi_edges,
)
from launchgate.reviews.quality import QualityData

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
ROUND_SIG = "CASE WHEN {x} = 0 THEN 0 ELSE round({x}, 4 - CAST(floor(log10(abs({x}))) AS INTEGER)) END"


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
    quality: QualityData | None = None  # labels and feedback (reviews/quality_sql.py), filled by the caller


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


def _features_sql(cur: str) -> str:
    """One row per request: the window flag, the four features (null unless finite) and the rate flags."""
    cols = ", ".join(f"CASE WHEN isfinite(({e})::DOUBLE) THEN ({e})::DOUBLE END AS {n}" for n, e in FEATURES.items())
    return (f"SELECT ts >= {cur} AS cur, {cols}, coalesce(error_code, '') <> 'budget_exceeded' AS counted, "
            f"{OK} AS ok, schema_ok, refused FROM requests")


_QS = [0.5, 0.95] + [i / PSI_BINS for i in range(1, PSI_BINS)]  # summary percentiles, then the PSI deciles


def _stats_query(con: duckdb.DuckDBPyConnection, cur: str) -> dict[bool, dict[str, Any]]:
    """One scan: per window the request count, the rate counts and each feature's count and mean."""
    per_feature = ", ".join(f"count({n}) AS {n}_n, avg({n}) AS {n}_mean" for n in FEATURES)
    cursor = con.execute(f"""
        SELECT cur, count(*) AS n, count_if(counted) AS den_e, count_if(counted AND NOT ok) AS ev_e,
               count(schema_ok) AS den_s, count_if(schema_ok = false) AS ev_s,
               count(refused) AS den_r, count_if(refused) AS ev_r, {per_feature}
        FROM ({_features_sql(cur)}) GROUP BY cur""")
    names = [d[0] for d in cursor.description]
    return {bool(row[0]): dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def _quantiles(con: duckdb.DuckDBPyConnection, cur: str, name: str, by: dict[bool, dict[str, Any]]) -> None:
    """p50, p95 and the deciles of one feature per window, exact, into ``by[w][name + '_q']``.

    One feature per query: an exact quantile keeps every value of its group in memory, so four at
    once would hold four copies of the window (~320 MB at 10 M requests) where this holds one."""
    qs = "[" + ", ".join(f"{q:g}" for q in _QS) + "]"
    for w, q in con.execute(f"SELECT cur, quantile_cont({name}, {qs}) FROM ({_features_sql(cur)}) "
                            f"WHERE {name} IS NOT NULL GROUP BY cur").fetchall():
        by[bool(w)][f"{name}_q"] = q


def _rates(row: dict[str, Any] | None) -> dict[str, tuple[int, int]]:
    if row is None:
        return {"error_rate": (0, 0)}
    out = {"error_rate": (int(row["ev_e"]), int(row["den_e"]))}
    if row["den_s"]:
        out["schema_failure_rate"] = (int(row["ev_s"]), int(row["den_s"]))
    if row["den_r"]:
        out["refusal_rate"] = (int(row["ev_r"]), int(row["den_r"]))
    return out


def _summary(row: dict[str, Any] | None, name: str) -> dict[str, float | None]:
    if row is None or not row[f"{name}_n"]:
        return {"mean": None, "p50": None, "p95": None}
    q = row[f"{name}_q"]
    return {"mean": _r3(row[f"{name}_mean"]), "p50": _r3(q[0]), "p95": _r3(q[1])}


def _histograms(con: duckdb.DuckDBPyConnection, cur: str, edges: dict[str, np.ndarray]
                ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """One scan: per feature, counts per (value rounded to 5 significant digits, PSI bin) and window
    (GROUPING SETS: one small hash table per feature, no row multiplied)."""
    if not edges:
        return {}
    names = list(edges)
    cols = []
    for i, n in enumerate(names):
        bucket = " + ".join(f"({n} >= {float(e)!r})::INTEGER" for e in edges[n]) or "0"
        cols.append(f"{ROUND_SIG.format(x=n)} AS v{i}, CASE WHEN {n} IS NOT NULL THEN {bucket} END AS b{i}")
    sets = ", ".join(f"(v{i}, b{i})" for i in range(len(names)))
    vs = ", ".join(f"v{i}" for i in range(len(names)))
    bs = ", ".join(f"b{i}" for i in range(len(names)))
    data = con.execute(f"""
        SELECT GROUPING({vs}) AS g, {vs}, {bs}, count_if(NOT cur) AS r, count_if(cur) AS c
        FROM (SELECT cur, {", ".join(cols)} FROM ({_features_sql(cur)}))
        GROUP BY GROUPING SETS ({sets})""").fetchnumpy()
    out = {}
    full = (1 << len(names)) - 1
    for i, n in enumerate(names):
        # GROUPING(v0..vk) has bit (k - i) clear for the set that groups by v_i.
        m = (np.asarray(data["g"]) == full ^ (1 << (len(names) - 1 - i)))
        col = data[f"v{i}"]
        m &= ~np.ma.getmaskarray(col)  # the feature's own null group (requests without the value)
        v = np.asarray(np.ma.getdata(col))[m].astype(float)
        b = np.asarray(np.ma.getdata(data[f"b{i}"]))[m].astype(int)
        r, c = np.asarray(data["r"])[m].astype(float), np.asarray(data["c"])[m].astype(float)
        ref_bins = np.bincount(b, weights=r, minlength=len(edges[n]) + 1)
        cur_bins = np.bincount(b, weights=c, minlength=len(edges[n]) + 1)
        uniq, inv = np.unique(v, return_inverse=True)  # a rounding cell split by a bin edge appears twice
        out[n] = (ref_bins, cur_bins, np.bincount(inv, weights=r, minlength=len(uniq)),
                  np.bincount(inv, weights=c, minlength=len(uniq)))
    return out


def chart_sample(con: duckdb.DuckDBPyConnection, cur: str, n: int = CHART_SAMPLE
                 ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A reservoir sample of both windows' feature values for the histograms (a picture, not a statistic)."""
    data = con.execute(f"SELECT * FROM ({_features_sql(cur)}) USING SAMPLE reservoir({2 * n} ROWS) "
                       f"REPEATABLE (7)").fetchnumpy()
    is_cur = np.asarray(data["cur"], dtype=bool)
    out: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] = ({}, {})
    for name in FEATURES:
        v = np.asarray(data[name], dtype=float)
        for i, mask in enumerate((~is_cur, is_cur)):
            x = v[mask]
            out[i][name] = x[np.isfinite(x)]
    return out


def drift_data(con: duckdb.DuckDBPyConnection, current_start: datetime, cfg: DriftReviewConfig, *,
               exact_max: int = EXACT_MAX_N, charts: bool = True) -> DriftData:
    """Scans of the view: counts and means, each feature's quantiles, the histograms, a chart sample
    (plus, for small windows, the values)."""
    cur = ts_sql(current_start)
    by = _stats_query(con, cur)
    for name in NUMERIC:
        if any(w[f"{name}_n"] for w in by.values()):
            _quantiles(con, cur, name, by)
    ref, now = by.get(False), by.get(True)
    dists: dict[str, DistStats] = {}
    binned: dict[str, np.ndarray] = {}
    for name in NUMERIC:
        n_ref, n_cur = (int(w[f"{name}_n"]) if w else 0 for w in (ref, now))
        d = DistStats(n_reference=n_ref, n_current=n_cur, reference=_summary(ref, name), current=_summary(now, name))
        dists[name] = d
        if min(n_ref, n_cur) < cfg.min_requests:
            continue
        if max(n_ref, n_cur) <= exact_max:  # small windows: the very arrays the in-memory review used
            arr = con.execute(f"SELECT cur, {name} AS x FROM ({_features_sql(cur)}) WHERE {name} IS NOT NULL"
                              ).fetchnumpy()
            mask = np.asarray(arr["cur"], dtype=bool)
            x = np.asarray(arr["x"], dtype=float)
            exact = dist_stats(x[~mask], x[mask], cfg)
            d.psi, d.ks_statistic, d.ks_pvalue = exact.psi, exact.ks_statistic, exact.ks_pvalue
        else:
            binned[name] = psi_edges(ref[f"{name}_q"][2:])  # type: ignore[index]
    for name, (ref_bins, cur_bins, ref_hist, cur_hist) in _histograms(con, cur, binned).items():
        d = dists[name]
        d.psi = psi_from_counts(ref_bins, cur_bins)
        d.ks_statistic, d.ks_pvalue = ks_from_histogram(ref_hist, cur_hist)
    data = DriftData(dists=dists, ref_rates=_rates(ref), cur_rates=_rates(now),
                     n_reference=int(ref["n"]) if ref else 0, n_current=int(now["n"]) if now else 0)
    if charts:
        data.chart_ref, data.chart_cur = chart_sample(con, cur)
    return data


# ------------------------------------------------------------------------ Great Expectations


def expectation_sample(con: duckdb.DuckDBPyConnection, current_start: datetime,
                       rows: int = GX_SAMPLE_ROWS) -> Any:
    """A pandas DataFrame of at most ~``rows`` current-window lines, stratified by (day, success).

    The rows are picked on a narrow projection (hash, day, success: ~13 bytes a request), then
    fetched whole by a semi-join, so the window's lines are never sorted or held in full."""
    cur = ts_sql(current_start)
    cols = ", ".join(f'"{c}"' for c in LOG_COLUMNS if c != "ts")
    return con.execute(f"""
        WITH keyed AS (SELECT hash(request_id, ts) AS h, CAST(ts AS DATE) AS d, {OK} AS ok
                       FROM requests WHERE ts >= {cur}),
             pick AS (SELECT h FROM keyed
                      QUALIFY row_number() OVER (PARTITION BY d, ok ORDER BY h)
                              <= ceil(count(*) OVER (PARTITION BY d, ok)
                                      * least(1.0, {rows} / count(*) OVER ())))
        SELECT strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ') AS ts, {cols} FROM requests
        WHERE ts >= {cur} AND hash(request_id, ts) IN (SELECT h FROM pick)
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
