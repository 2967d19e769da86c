"""`launchgate data export|delete|allow-raw-prompts|scan` and the gateway's raw-prompt guard, as a person
runs them (real processes, the local store, the Slack stand-in).

The log is written by the gateway's own log writer with the data policy installed, so the subject
is in it only as an HMAC, as in production.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from launchgate.cli import main
from launchgate.config import load_config
from launchgate.gateway.logwriter import FIELDS, RequestLogWriter
from launchgate.lifecycle.erasure import verify_index
from launchgate.privacy import logpolicy
from launchgate.store import LocalStore, ReleaseBundle, layout
from tests.conftest import EXAMPLE, ROOT
from tests.support.slack_standin import slack_standin

SVC = "support-bot"
KEY = "test-subject-hmac-key-0123456789"
BASE_TS = 1_763_942_400.0  # 2025-11-24T00:00Z: hours long closed
RELEASE = f"{SVC}-20251124T000000Z-abcdef12"
DATA = """
data:
  subject: {field: user, hmac_secret: env:LG_TEST_SUBJECT_KEY}
  access: {export: [carol], delete: [carol], override_raw_prompts: [carol]}
"""


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def _cli(*args: str, env: dict[str, str] | None = None) -> Done:
    """The command in this process (click's runner: the same code as the console script, without ~3 s of
    interpreter start per call); the gateway test below starts real processes."""
    result = CliRunner().invoke(main, list(args), env={"LG_TEST_SUBJECT_KEY": KEY, **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Done(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def service(tmp_path: Path) -> Path:
    folder = tmp_path / "svc"
    shutil.copytree(EXAMPLE, folder)
    with (folder / "release.yaml").open("a") as fh:
        fh.write(DATA)
    return folder / "release.yaml"


def _line(i: int, user: str) -> dict[str, Any]:
    rec: dict[str, Any] = {k: None for k in FIELDS}
    rec.update(ts=f"2025-11-24T{i % 24:02d}:00:00.000Z", request_id=f"req-{i}", service=SVC, status=200,
               prompt_redacted=f"question {i}", subject=user)
    return rec


def _fill(store: LocalStore, config_path: Path) -> dict[str, str]:
    config = load_config(config_path, check_files=False)
    logpolicy.install(SVC, config.data, KEY.encode())
    try:
        writer = RequestLogWriter(store, SVC, "gw1")
        users = ["alice" if i % 3 == 0 else "bob" if i % 3 == 1 else "" for i in range(60)]
        writer.extend([(_line(i, u), BASE_TS + (i % 24) * 3600) for i, u in enumerate(users)])
        writer.flush()
    finally:
        logpolicy.uninstall(SVC)
    alice = logpolicy.subject_hmac(KEY.encode(), "alice")
    bob = logpolicy.subject_hmac(KEY.encode(), "bob")
    # A handoff item (request id only), feedback (HMAC), and shadow pairs inside an indexed bundle.
    store.put(f"{SVC}/handoff/2025-11-24/items.jsonl",
              b"".join(json.dumps({"request_id": f"req-{i}", "text": "[EMAIL] asks"}).encode() + b"\n"
                       for i in (0, 1, 3)))
    store.put(f"{SVC}/quality/feedback/2025-11-24/fb.jsonl",
              b"".join(json.dumps({"subject_hmac": h, "rating": 1}).encode() + b"\n" for h in (alice, bob)))
    bundle = ReleaseBundle(store, SVC, RELEASE)
    bundle.put_jsonl("shadow/pairs.jsonl", [{"request_id": f"req-{i}", "match": True} for i in range(6)])
    bundle.write_index()
    return {"alice": alice, "bob": bob}


def _rows(store: LocalStore) -> dict[str, list[bytes]]:
    return {k: store.get(k).splitlines() for k in store.list(f"{SVC}/") if k.endswith(".jsonl")
            and "/state/" not in k}


def _is_alice(line: bytes, alice: str, ids: set[str]) -> bool:
    row = json.loads(line)
    return row.get("subject_hmac") == alice or row.get("request_id") in ids


def test_export_then_delete_leaves_no_row_of_the_subject_and_every_other_row_intact(
        service: Path, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    store = LocalStore(store_dir)
    h = _fill(store, service)
    alice_ids = {f"req-{i}" for i in range(0, 60, 3)}
    before = _rows(store)
    assert b"alice" not in b"".join(b"".join(v) for v in before.values())  # only the HMAC was logged
    others_before = {k: [x for x in v if not _is_alice(x, h["alice"], alice_ids)] for k, v in before.items()}
    alice_rows = sum(len(v) - len(others_before[k]) for k, v in before.items())
    assert alice_rows == 20 + 2 + 1 + 2  # log, handoff, feedback, shadow pairs

    out = tmp_path / "alice.jsonl"
    done = _cli("data", "export", "--config", str(service), "--artifacts", str(store_dir), "--subject", "alice",
                "--out", str(out), "--as", "carol")
    assert done.returncode == 0, done.stderr
    exported = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(exported) == alice_rows
    assert {r["_kind"] for r in exported} == {"request_log", "handoff", "quality", "bundle"}

    done = _cli("data", "delete", "--config", str(service), "--artifacts", str(store_dir), "--subject", "alice",
                "--as", "carol", "--reason", "erasure request #42")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["rows_removed"] == alice_rows and result["deferred_open_files"] == []

    after = _rows(store)
    assert not any(_is_alice(x, h["alice"], alice_ids) for v in after.values() for x in v)
    for key, kept in others_before.items():  # every other row intact: count and checksum per file
        assert len(after[key]) == len(kept), key
        assert hashlib.sha256(b"\n".join(after[key])).digest() == hashlib.sha256(b"\n".join(kept)).digest(), key
    assert verify_index(store, layout.release_prefix(SVC, RELEASE))["ok"]

    receipt_key = next(k for k in store.list(layout.state_prefix(SVC) + "data_requests/") if k.endswith("delete.json"))
    receipt = store.get(receipt_key).decode()
    assert "alice" not in receipt and h["alice"] not in receipt and "question" not in receipt
    log = [json.loads(x) for x in store.get(layout.data_access_log(SVC)).splitlines()]
    assert [(e["action"], e["outcome"], e["by"]) for e in log] == [("export", "granted", "carol"),
                                                                  ("delete", "granted", "carol")]


@pytest.mark.parametrize("args", [
    ["export", "--subject", "alice", "--out", "OUT"],
    ["delete", "--subject", "alice", "--reason", "r"],
    ["allow-raw-prompts", "--reason", "debugging", "--hours", "1"],
])
def test_every_command_refuses_an_unlisted_person(service: Path, tmp_path: Path, args: list[str]) -> None:
    store_dir = tmp_path / "store"
    args = [str(tmp_path / "out.jsonl") if a == "OUT" else a for a in args]
    done = _cli("data", *args, "--config", str(service), "--artifacts", str(store_dir), "--as", "mallory")
    assert done.returncode == 3 and "mallory" in done.stderr and "data.access" in done.stderr
    log = [json.loads(x) for x in LocalStore(store_dir).get(layout.data_access_log(SVC)).splitlines()]
    assert [(e["outcome"], e["by"]) for e in log] == [("refused", "mallory")]
    assert not (tmp_path / "out.jsonl").exists()


def test_bad_input_exits_2_naming_the_field(service: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    done = _cli("data", "export", "--config", str(service), "--artifacts", store, "--subject", " ",
                "--out", str(tmp_path / "x.jsonl"), "--as", "carol")
    assert done.returncode == 2 and "--subject" in done.stderr
    done = _cli("data", "export", "--config", str(service), "--artifacts", store, "--subject", "a",
                "--out", str(tmp_path / "nope" / "x.jsonl"), "--as", "carol")
    assert done.returncode == 2 and "--out" in done.stderr
    plain = tmp_path / "plain.yaml"
    plain.write_text(service.read_text().replace(DATA, "\ndata:\n  access: {delete: [carol]}\n"))
    done = _cli("data", "delete", "--config", str(plain), "--artifacts", store, "--subject", "a", "--as", "carol",
                "--reason", "r")
    assert done.returncode == 2 and "data.subject" in done.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(service.read_text().replace("hmac_secret: env:LG_TEST_SUBJECT_KEY", "hmac_secret: hunter2"))
    done = _cli("validate", "--config", str(bad))
    assert done.returncode == 2 and "data.subject.hmac_secret" in done.stderr and "Traceback" not in done.stderr
    done = _cli("data", "delete", "--config", str(service), "--artifacts", store, "--subject", "a", "--as", "carol",
                "--reason", "r", env={"LG_TEST_SUBJECT_KEY": ""})
    assert done.returncode == 2 and "env:LG_TEST_SUBJECT_KEY" in done.stderr



def _wait_listening(proc: subprocess.Popen[bytes], port: str) -> None:
    """Until the gateway process accepts connections on ``port`` (30 s), or fail with its stderr."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", int(port))) == 0:
                return
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    raise AssertionError(f"the gateway did not listen on port {port} within 30 s")

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def gateway_env() -> Iterator[dict[str, str]]:
    yield {"LAUNCHGATE_GATEWAY_ADMIN_TOKEN": "t" * 32}


def test_a_production_gateway_logging_raw_prompts_needs_a_recorded_override(
        service: Path, tmp_path: Path, gateway_env: dict[str, str]) -> None:
    raw = tmp_path / "svc" / "raw.yaml"
    raw.write_text(service.read_text().replace("  uri: .launchgate/store\n", f"  uri: {tmp_path / 'store'}\n", 1)
                   + "  environment: production\n  prompt: raw\n")
    port = str(_free_port())
    gateway = [sys.executable, "-m", "launchgate.cli", "gateway", "--config", str(raw), "--port", port]
    env = {**os.environ, "LG_TEST_SUBJECT_KEY": KEY, **gateway_env}
    done = _cli(*gateway[3:], env=gateway_env)  # refused before it binds: no process needed
    assert done.returncode == 2 and "data.prompt" in done.stderr and "allow-raw-prompts" in done.stderr

    done = _cli("data", "allow-raw-prompts", "--config", str(raw), "--as", "carol", "--reason", "incident 7",
                "--hours", "1")
    assert done.returncode == 0, done.stderr
    proc = subprocess.Popen(gateway, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(proc, port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    audit = [json.loads(x) for x in LocalStore(tmp_path / "store").get(layout.config_audit(SVC)).splitlines()]
    assert [a["event"] for a in audit] == ["gateway_start"]
    assert audit[0]["config_sha256"] == hashlib.sha256(raw.read_bytes()).hexdigest()


def test_an_unsafe_logging_finding_alerts_without_the_matched_text(service: Path, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    store = LocalStore(store_dir)
    leaked = "jane.doe@example.com"
    good = {k: None for k in FIELDS} | {"ts": "2025-11-24T01:00:00Z", "request_id": "r1", "prompt_redacted": "[EMAIL]"}
    bad = good | {"request_id": "r2", "prompt_redacted": f"mail {leaked} please"}
    store.put(layout.request_log(SVC, "2025-11-24", "01", "gw1"),
              (json.dumps(good) + "\n" + json.dumps(bad) + "\n").encode())
    cfg = service.read_text().replace("owners:\n", "owners:\n  compliance: '#privacy'\n", 1)
    service.write_text(cfg)
    with slack_standin() as (url, state):
        done = _cli("data", "scan", "--config", str(service), "--artifacts", str(store_dir),
                    env={"LAUNCHGATE_NOTIFIER": "slack", "LAUNCHGATE_SLACK_TOKEN": "xoxb-test",
                         "LAUNCHGATE_SLACK_BASE_URL": url})
        posts = state.posts()
    assert done.returncode == 3, done.stderr
    channels = {p.body.get("channel") for p in posts}
    assert "#privacy" in channels and len(posts) == 2  # compliance and operations
    everything = json.dumps([p.body for p in posts]) + done.stdout + done.stderr
    assert "EMAIL" in everything and "prompt_redacted" in everything
    assert leaked not in everything and "jane" not in everything
    report = next(k for k in store.list(f"{SVC}/reviews/unsafe_logging/"))
    assert leaked not in store.get(report).decode()


def _parquet_rows(store: LocalStore) -> dict[str, list[dict[str, Any]]]:
    import io

    import pyarrow.parquet as pq

    from launchgate.requestlog.columns import to_record

    return {k: [to_record(r) for r in pq.read_table(io.BytesIO(store.get(k))).to_pylist()]
            for k in store.list(layout.requests_parquet_prefix(SVC)) if k.endswith(".parquet")}


def test_export_then_delete_on_the_compacted_parquet_log(service: Path, tmp_path: Path) -> None:
    from launchgate.requestlog.compaction import compact
    from launchgate.requestlog.view import LogView

    store_dir = tmp_path / "store"
    store = LocalStore(store_dir)
    h = _fill(store, service)
    compact(store, SVC, datetime(2025, 11, 25, 12, tzinfo=UTC))
    before = _parquet_rows(store)
    assert sum(map(len, before.values())) == 60
    others = {k: [r for r in v if r.get("subject_hmac") != h["alice"]] for k, v in before.items()}

    out = tmp_path / "alice.jsonl"
    done = _cli("data", "export", "--config", str(service), "--artifacts", str(store_dir), "--subject", "alice",
                "--out", str(out), "--as", "carol")
    assert done.returncode == 0, done.stderr
    logged = [json.loads(x) for x in out.read_text().splitlines() if json.loads(x)["_kind"] == "request_log"]
    assert len(logged) == 20  # each request once, though its hour is in both the JSONL and the Parquet part

    done = _cli("data", "delete", "--config", str(service), "--artifacts", str(store_dir), "--subject", "alice",
                "--as", "carol", "--reason", "erasure request #43")
    assert done.returncode == 0, done.stderr
    after = _parquet_rows(store)
    assert after == others  # no row of the subject; every other row identical, part by part
    with LogView.open(store, SVC) as view:  # the log's own reader: parts through their updated records
        total, alice = view.con.execute(
            "SELECT count(*), count(*) FILTER (WHERE extra LIKE ?) FROM requests", [f"%{h['alice']}%"]).fetchone()
    assert (total, alice) == (40, 0)


def test_the_gateway_logs_the_subject_header_only_as_its_hmac_and_export_finds_it(
        service: Path, tmp_path: Path, gateway_env: dict[str, str]) -> None:
    import httpx

    from tests.support.sim import EXAMPLE_VARIANTS, running_sim

    cfg = tmp_path / "svc" / "header.yaml"
    cfg.write_text(service.read_text().replace("subject: {field: user,", "subject: {header: x-end-user-id,"))
    store_dir = tmp_path / "store"
    port = str(_free_port())
    user = "user-7f3a9c2e-raw-id"
    with running_sim(EXAMPLE_VARIANTS, "stable") as stable:
        gateway = [sys.executable, "-m", "launchgate.cli", "gateway", "--config", str(cfg), "--port", port,
                   "--set", f"stable.endpoint={stable}", "--set", f"candidate.endpoint={stable}",
                   "--set", f"artifacts.uri={store_dir}"]
        env = {**os.environ, "LG_TEST_SUBJECT_KEY": KEY, **gateway_env}
        proc = subprocess.Popen(gateway, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_listening(proc, port)
            body = {"model": "support-bot", "messages": [{"role": "user", "content": "Where is my order?"}]}
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            ids = [httpx.post(url, json=body, headers={"x-end-user-id": u}, timeout=10).headers["X-Request-ID"]
                   for u in (user, "someone-else", "")]
        finally:
            proc.terminate()  # a graceful stop flushes the request log
            proc.wait(timeout=10)
    store = LocalStore(store_dir)
    logs = store.list(layout.requests_prefix(SVC))
    written = b"".join(store.get(k) for k in store.list(f"{SVC}/"))
    assert logs and user.encode() not in written  # the raw id nowhere in the store
    out = tmp_path / "user.jsonl"
    done = _cli("data", "export", "--config", str(cfg), "--artifacts", str(store_dir), "--subject", user,
                "--out", str(out), "--as", "carol")
    assert done.returncode == 0, done.stderr
    exported = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(r["_kind"], r["request_id"]) for r in exported] == [("request_log", ids[0])]
    assert exported[0]["subject_hmac"] == logpolicy.subject_hmac(KEY.encode(), user)
