"""``review.engine: athena``: the cost review's queries run in Athena over the Glue table of the compacted log.

Through boto3 (start_query_execution, get_query_execution polled every ``poll_s``, get_query_results
paginated), in the workgroup infra/terraform creates, which enforces its encrypted result location
and a bytes-scanned cutoff. Queries filter on the ``date`` partition so Athena reads only the
month's partitions. Results come back as text; they are converted by the column types Athena
reports. botocore errors become ExternalError here, the one boundary.

Only the cost review runs here: its figures are sums, counts and averages, which Athena computes
as DuckDB does. The drift review needs exact quantiles and value histograms of whole windows, and
Athena has only ``approx_percentile``, so it stays on DuckDB (docs/logs.md shows the Athena SQL for
people who want approximate drift figures in the console).
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from launchgate.errors import ExternalError
from launchgate.reviews.config import AthenaConfig
from launchgate.reviews.cost import CostInputs, DaySpend, GroupCost

_DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


def table_name(cfg: AthenaConfig, service: str) -> str:
    return f"{cfg.database}.{cfg.table or 'requests_' + service.replace('-', '_')}"


def _convert(value: str | None, kind: str) -> Any:
    if value is None:
        return None
    if kind in ("bigint", "integer", "int", "smallint", "tinyint"):
        return int(value)
    if kind in ("double", "float", "real"):
        return float(value)
    if kind == "decimal":
        return float(Decimal(value))
    if kind == "boolean":
        return value == "true"
    if kind == "date":
        return date.fromisoformat(value)
    return value


class AthenaEngine:
    """Runs one statement at a time and returns (column names, rows) like a DB-API cursor would."""

    def __init__(self, cfg: AthenaConfig, client: Any | None = None) -> None:
        self.cfg = cfg
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client("athena", region_name=cfg.region, endpoint_url=cfg.endpoint_url,
                                  config=Config(retries={"max_attempts": 5, "mode": "standard"},
                                                connect_timeout=10, read_timeout=60))
        self.client = client
        self.query_ids: list[str] = []

    def query(self, sql: str) -> tuple[list[str], list[list[Any]]]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            qid = self.client.start_query_execution(
                QueryString=sql, WorkGroup=self.cfg.workgroup,
                QueryExecutionContext={"Database": self.cfg.database})["QueryExecutionId"]
            self.query_ids.append(qid)
            state, reason = self._wait(qid)
            if state != "SUCCEEDED":
                raise ExternalError(f"Athena query {qid} in workgroup {self.cfg.workgroup} {state.lower()}: "
                                    f"{reason or 'no reason given'}")
            return self._results(qid)
        except (BotoCoreError, ClientError) as exc:
            raise ExternalError(f"Athena (workgroup {self.cfg.workgroup}, region {self.cfg.region}): "
                                f"{type(exc).__name__}: {str(exc)[:300]}") from exc

    def _wait(self, qid: str) -> tuple[str, str | None]:
        deadline = time.monotonic() + self.cfg.timeout_s
        while True:
            status = self.client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
            if status["State"] in _DONE:
                return status["State"], status.get("StateChangeReason")
            if time.monotonic() > deadline:
                self.client.stop_query_execution(QueryExecutionId=qid)
                return "CANCELLED", f"still running after {self.cfg.timeout_s:g} s (review.athena.timeout_s)"
            time.sleep(self.cfg.poll_s)

    def _results(self, qid: str) -> tuple[list[str], list[list[Any]]]:
        names: list[str] = []
        types: list[str] = []
        rows: list[list[Any]] = []
        token: str | None = None
        first = True
        while True:
            kw = {"QueryExecutionId": qid, **({"NextToken": token} if token else {})}
            page = self.client.get_query_results(**kw)
            meta = page["ResultSet"].get("ResultSetMetadata", {}).get("ColumnInfo", [])
            if not names:
                names = [c.get("Name") or c.get("Label") or "" for c in meta]
                types = [str(c.get("Type", "varchar")).lower() for c in meta]
            for i, row in enumerate(page["ResultSet"].get("Rows", [])):
                cells = [d.get("VarCharValue") for d in row.get("Data", [])]
                if first and i == 0 and cells == names:  # a SELECT's first row repeats the header
                    continue
                rows.append([_convert(v, t) for v, t in zip(cells, types, strict=False)])
            first = False
            token = page.get("NextToken")
            if not token:
                return names, rows


def _ts(at: datetime) -> str:
    return f"TIMESTAMP '{at:%Y-%m-%d %H:%M:%S}'"


def cost_inputs(engine: AthenaEngine, table: str, start: datetime, end: datetime) -> CostInputs:
    """cost_sql.cost_inputs in Athena's SQL (Trino): the same three aggregates."""
    where = (f"date BETWEEN '{start:%Y-%m-%d}' AND '{end - timedelta(microseconds=1):%Y-%m-%d}' "
             f"AND ts >= {_ts(start)} AND ts < {_ts(end)}")
    cost = "coalesce(cost_usd, 0.0)"
    _, by_day = engine.query(f"SELECT CAST(ts AS DATE) AS d, sum({cost}) AS usd, count(*) AS n FROM {table} "
                             f"WHERE {where} GROUP BY 1")
    per_day = {d if isinstance(d, date) else date.fromisoformat(str(d)): (float(usd or 0), int(n))
               for d, usd, n in by_day}
    days = []
    for i in range((end.date() - start.date()).days):
        d = start.date() + timedelta(days=i)
        usd, n = per_day.get(d, (0.0, 0))
        days.append(DaySpend(day=d, usd=round(usd, 6), requests=n))
    _, grouped = engine.query(
        f"SELECT coalesce(nullif(model, ''), '?') AS m, coalesce(nullif(prompt_version, ''), '?') AS p, "
        f"count(*) AS n, sum({cost}) AS usd, avg(input_tokens) AS tin, avg(output_tokens) AS tout "
        f"FROM {table} WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2")
    groups = [GroupCost(model=m, prompt_version=p, requests=int(n), usd=round(float(usd or 0), 6),
                        cost_per_request=round(float(usd or 0) / n, 8) if n else None,
                        avg_input_tokens=None if tin is None else round(float(tin), 3),
                        avg_output_tokens=None if tout is None else round(float(tout), 3))
              for m, p, n, usd, tin, tout in grouped]
    _, total = engine.query(f"SELECT count(*) AS n, sum({cost}) AS usd, avg(input_tokens) AS tin, "
                            f"avg(output_tokens) AS tout FROM {table} WHERE {where}")
    n, usd, tin, tout = total[0] if total else (0, 0.0, None, None)
    return CostInputs(requests=int(n or 0), total_usd=round(float(usd or 0), 6), days=days, groups=groups,
                      avg_input_tokens=None if tin is None else float(tin),
                      avg_output_tokens=None if tout is None else float(tout))
