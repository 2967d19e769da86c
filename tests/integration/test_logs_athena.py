"""review.engine: athena against moto_server: the boto3 protocol end to end, as far as moto goes.

moto accepts start_query_execution, reports the query SUCCEEDED and serves get_query_results from
results queued through its /moto-api/static/athena/query-results endpoint. It does not parse or
run SQL, read Glue tables or S3 Parquet, enforce a workgroup's bytes-scanned cutoff or produce
FAILED/slow queries. So this checks the submission (workgroup, database, the SQL actually sent,
partition filter included), the polling, the header row, type conversion and how the rows become
the cost report's inputs; the queries' results in real Athena are not tested here.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config

from launchgate.errors import ExternalError
from launchgate.reviews.athena import AthenaEngine, cost_inputs, table_name
from launchgate.reviews.config import AthenaConfig
from launchgate.reviews.cost import month_bounds
from tests.support.moto import moto_server

CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def _result(columns: list[tuple[str, str]], rows: list[list[str | None]]) -> dict[str, Any]:
    header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
    body = [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows]
    return {"rows": [header, *body], "column_info": [{"Name": n, "Label": n, "Type": t, "Nullable": "NULLABLE",
                                                      "CatalogName": "hive", "SchemaName": "", "TableName": "",
                                                      "Precision": 0, "Scale": 0, "CaseSensitive": False}
                                                     for n, t in columns]}


def _queue(endpoint: str, results: list[dict[str, Any]]) -> None:
    req = urllib.request.Request(f"{endpoint}/moto-api/static/athena/query-results", method="POST",
                                 data=json.dumps({"results": results}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 201


def test_cost_inputs_through_athena(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    with moto_server() as endpoint:
        client = boto3.client("athena", endpoint_url=endpoint, region_name="us-east-1")
        client.create_work_group(Name="launchgate-logs", Configuration={
            "ResultConfiguration": {"OutputLocation": "s3://results/athena/"}})
        _queue(endpoint, [
            _result([("d", "date"), ("usd", "double"), ("n", "bigint")],
                    [["2026-09-01", "1.25", "500"], ["2026-09-02", "0.75", "300"]]),
            _result([("m", "varchar"), ("p", "varchar"), ("n", "bigint"), ("usd", "double"), ("tin", "double"),
                     ("tout", "double")], [["support-bot-stable", "v1", "800", "2.0", "600.5", None]]),
            _result([("n", "bigint"), ("usd", "double"), ("tin", "double"), ("tout", "double")],
                    [["800", "2.0", "600.5", "120.25"]]),
        ])
        cfg = AthenaConfig(endpoint_url=endpoint, poll_s=0.05)
        engine = AthenaEngine(cfg)
        start, end = month_bounds("2026-09")
        inputs = cost_inputs(engine, table_name(cfg, "support-bot"), start, end)

        assert inputs.requests == 800 and inputs.total_usd == 2.0 and inputs.avg_output_tokens == 120.25
        assert [(d.day.isoformat(), d.usd, d.requests) for d in inputs.days[:3]] == [
            ("2026-09-01", 1.25, 500), ("2026-09-02", 0.75, 300), ("2026-09-03", 0.0, 0)]
        assert len(inputs.days) == 30
        g = inputs.groups[0]
        assert (g.model, g.requests, g.usd, g.avg_input_tokens, g.avg_output_tokens) == \
               ("support-bot-stable", 800, 2.0, 600.5, None)
        assert len(engine.query_ids) == 3
        sent = client.get_query_execution(QueryExecutionId=engine.query_ids[0])["QueryExecution"]
        assert sent["WorkGroup"] == "launchgate-logs"
        assert sent["QueryExecutionContext"]["Database"] == "launchgate_logs"
        assert "FROM launchgate_logs.requests_support_bot" in sent["Query"]
        assert "date BETWEEN '2026-09-01' AND '2026-09-30'" in sent["Query"]  # partition pruning


def test_an_unreachable_athena_is_an_external_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    cfg = AthenaConfig(endpoint_url="http://127.0.0.1:9", poll_s=0.05)
    engine = AthenaEngine(cfg)
    engine.client = boto3.client("athena", endpoint_url=cfg.endpoint_url, region_name="us-east-1",
                                 config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1))
    with pytest.raises(ExternalError, match="Athena"):
        engine.query(f"SELECT 1 FROM {table_name(cfg, 'x')} WHERE ts >= TIMESTAMP '{datetime.now(UTC):%Y-%m-%d}'")
