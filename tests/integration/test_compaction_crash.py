"""Compaction killed mid-run (SIGKILL, as the OOM killer or a node loss would) and rerun loses and doubles nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from launchgate.requestlog.compaction import read_record
from launchgate.requestlog.reader import read_requests, write_request_lines
from launchgate.requestlog.view import LogView
from launchgate.store import LocalStore, layout
from tests.conftest import EXAMPLE
from tests.support.requestlog import synth_requests

SERVICE = "support-bot"


def test_kill_mid_run_then_rerun_gives_every_line_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    start = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    write_request_lines(store, SERVICE, synth_requests(start, days=2, per_day=1200, seed=1), writer="gw-1")
    write_request_lines(store, SERVICE, synth_requests(start, days=2, per_day=600, seed=2), writer="gw-2")
    jsonl = read_requests(store, SERVICE, start, start + timedelta(days=2)).records
    cmd = [sys.executable, "-m", "launchgate.cli", "logs", "compact", "--config", str(EXAMPLE / "release.yaml"),
           "--artifacts", str(tmp_path), "--lookback-days", "4"]
    records = tmp_path / SERVICE / "logs" / "compaction"

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and len(list(records.rglob("*.json"))) < 10:
        time.sleep(0.005)
    assert proc.poll() is None, "compaction finished before it could be killed: give it more hours"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(records.rglob("*.json")))
    assert 10 <= done < 48

    # Killed half-way, the log still reads every request once (Parquet where recorded, JSONL elsewhere).
    with LogView.open(store, SERVICE, start, start + timedelta(days=2)) as view:
        n, distinct = view.con.execute("SELECT count(*), count(DISTINCT request_id) FROM requests").fetchone()
    assert n == len(jsonl) == 48 * 75 and distinct == n

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads(rerun.stdout.strip().splitlines()[-1])["compacted"] == 48 - done

    # Every hour compacted: the Parquet files alone hold exactly the JSONL's lines.
    parts: Counter[tuple[str, str]] = Counter()
    for h in range(48):
        at = start + timedelta(hours=h)
        record = read_record(store, SERVICE, f"{at:%Y-%m-%d}", f"{at:%H}")
        assert record is not None and record.verified
        assert record.part == layout.requests_parquet_part(SERVICE, f"{at:%Y-%m-%d}", f"{at:%H}")
    files = sorted((tmp_path / SERVICE / "logs" / "requests-parquet").rglob("*.parquet"))
    assert len(files) == 48
    with LogView.open(store, SERVICE) as view:
        rows = view.con.execute(f"SELECT request_id, source_key FROM read_parquet({[str(f) for f in files]})"
                                ).fetchall()
    parts.update(rows)
    want = Counter((r["request_id"], layout.request_log(SERVICE, r["ts"][:10], r["ts"][11:13],
                                                        "gw-1" if r["request_id"].startswith("1-") else "gw-2"))
                   for r in jsonl)
    assert len(rows) == len(jsonl) and parts == want and max(parts.values()) == 1
