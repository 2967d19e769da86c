"""`launchgate logs query|search` as a person runs them: local store and moto_server S3, read-only SQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from launchgate.cli import main
from launchgate.requestlog.compaction import compact
from launchgate.requestlog.reader import write_request_lines
from launchgate.settings import Settings
from launchgate.store import LocalStore
from launchgate.store.s3 import S3Store
from tests.conftest import EXAMPLE
from tests.support.moto import moto_s3_server
from tests.support.requestlog import synth_requests

CONFIG = str(EXAMPLE / "release.yaml")
SERVICE = "support-bot"
DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)


def fill(store: object, hours: int = 24) -> None:
    """``hours`` of traffic (4 requests an hour), two errors in it; all but the last 6 hours compacted."""
    lines = synth_requests(DAY, days=hours / 24, per_day=96, seed=1, error_rate=0.0)
    lines[1].update(status=502, error_code="upstream_error")
    lines[-2].update(status=503, error_code="overloaded")
    write_request_lines(store, SERVICE, lines)  # type: ignore[arg-type]
    compact(store, SERVICE, DAY + timedelta(hours=hours - 6, minutes=40), lookback=timedelta(days=1))  # type: ignore[arg-type]


def logs(*args: str, artifacts: str) -> tuple[int, str, str]:
    out = CliRunner().invoke(main, ["logs", args[0], "--config", CONFIG, "--artifacts", artifacts, *args[1:]])
    return out.exit_code, out.stdout, out.stderr


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("store")
    fill(LocalStore(root))
    return str(root)


def test_query_over_parquet_and_jsonl_in_three_formats(local: str) -> None:
    sql = "SELECT status, count(*) AS n FROM requests GROUP BY status ORDER BY status"
    code, out, _ = logs("query", "--format", "json", sql, artifacts=local)
    assert code == 0 and json.loads(out) == [{"status": 200, "n": 94}, {"status": 502, "n": 1}, {"status": 503, "n": 1}]
    code, out, _ = logs("query", "--format", "csv", "SELECT count(DISTINCT hour) AS hours, "
                        "count(*) FILTER (WHERE source_key LIKE '%.jsonl') AS lines FROM requests", artifacts=local)
    assert code == 0 and list(csv.DictReader(io.StringIO(out))) == [{"hours": "24", "lines": "96"}]
    code, out, _ = logs("query", "SELECT request_id, status FROM requests WHERE status >= 500 ORDER BY ts",
                        artifacts=local)
    assert code == 0 and out.splitlines()[0].split() == ["request_id", "status"] and "(2 rows)" in out


@pytest.mark.parametrize("sql, says", [
    ("SELEC 1", "does not parse"),
    ("SELECT nope FROM requests", "query failed"),
    ("COPY (SELECT * FROM requests) TO '/tmp/out.csv'", "COPY statement"),
    ("ATTACH '/tmp/other.duckdb'", "ATTACH statement"),
    ("INSTALL httpfs", "LOAD statement"),
    ("SET enable_external_access = true", "SET statement"),
    ("CREATE TABLE t AS SELECT * FROM requests", "CREATE statement"),
    ("SELECT 1; DROP VIEW requests", "exactly one statement"),
    ("SELECT * FROM read_csv('/etc/passwd')", "not allowed"),
    ("SELECT * FROM read_parquet('/tmp/**/*.parquet')", "not allowed"),
])
def test_bad_or_writing_sql_is_refused_with_exit_2(local: str, sql: str, says: str) -> None:
    code, out, err = logs("query", sql, artifacts=local)
    assert code == 2 and says in err and out == "" and "Traceback" not in err


def test_search_by_status_class_request_id_and_time(local: str) -> None:
    code, out, _ = logs("search", "--status", "5xx", "--since", "3d", "--format", "json", artifacts=local)
    rows = json.loads(out)
    assert code == 0 and [r["status"] for r in rows] == [503, 502]  # newest first
    code, out, _ = logs("search", "--request-id", rows[1]["request_id"], "--format", "json", artifacts=local)
    assert code == 0 and [r["error_code"] for r in json.loads(out)] == ["upstream_error"]
    assert logs("search", "--status", "teapot", artifacts=local)[0] == 2
    assert logs("search", artifacts=local)[0] == 2


def test_query_against_moto_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    with moto_s3_server() as endpoint:
        for k, v in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                     "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(k, v)
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="logs-bucket")
        fill(S3Store("logs-bucket", "lg", Settings()), hours=8)  # 2 hours compacted, 6 still JSONL
        code, out, err = logs("query", "--format", "json", "SELECT count(*) AS n, count(DISTINCT date || hour) AS "
                              "hours, count(*) FILTER (WHERE status >= 500) AS errors, count(DISTINCT source_key) "
                              "AS files FROM requests", artifacts="s3://logs-bucket/lg")
        assert code == 0, err
        assert json.loads(out) == [{"n": 32, "hours": 8, "errors": 2, "files": 8}]
        code, _, err = logs("query", "COPY requests TO 'x.csv'", artifacts="s3://logs-bucket/lg")
        assert code == 2 and "COPY statement" in err
