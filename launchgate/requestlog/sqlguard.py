"""``launchgate logs query`` runs a person's SQL: only reads, judged by DuckDB itself.

Two layers, both DuckDB's own, no regexes over SQL text:

1. the statement types from DuckDB's parser (``extract_statements``): exactly one statement, and
   it must be a SELECT (not even EXPLAIN: ``EXPLAIN ANALYZE`` runs the statement it explains).
   COPY, ATTACH, INSTALL/LOAD, SET, PRAGMA, CALL, CREATE, INSERT, UPDATE, DELETE, EXPORT... are
   refused before anything runs;
2. the connection itself (view.LogView(read_only=True)): ``enable_external_access = false`` with
   ``allowed_paths`` = the view's own files, so a SELECT cannot read another file
   (``read_csv('/etc/passwd')``) or reach the network; ``lock_configuration`` so nothing can
   turn that back on. The database is in memory: there is nothing persistent to write to.
"""

from __future__ import annotations

from typing import Any

import duckdb

from launchgate.errors import InputError

ALLOWED = (duckdb.StatementType.SELECT,)


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Raises InputError unless ``sql`` is one read-only statement."""
    if not sql.strip():
        raise InputError("the SQL is empty: give a SELECT over the `requests` view, e.g. "
                         "\"SELECT status, count(*) FROM requests GROUP BY status\"")
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise InputError(f"the SQL does not parse: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise InputError(f"give exactly one statement (got {len(statements)}): logs query runs a single SELECT")
    kind = statements[0].type
    if kind not in ALLOWED:
        name = str(kind).rsplit(".", 1)[-1]
        raise InputError(f"only SELECT is allowed: this is a {name} statement; logs query is "
                         f"read-only (no writing, attaching, installing, copying or settings)")


def run_query(con: duckdb.DuckDBPyConnection, sql: str,
              limit: int | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of a checked read-only statement; DuckDB's errors become InputError."""
    check_read_only(con, sql)
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description or []]
        rows = cur.fetchmany(limit) if limit else cur.fetchall()
    except duckdb.PermissionException as exc:
        raise InputError(f"not allowed: {_first_line(exc)} (logs query reads only the `requests` view)") from None
    except duckdb.Error as exc:
        raise InputError(f"the query failed: {_first_line(exc)}") from None
    return names, rows


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
