"""Pure pieces of the gateway: request parsing, SSE relay, schema check, windowed stats, request log."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from launchgate.errors import StoreError
from launchgate.gateway.logwriter import FIELDS, RequestLogWriter
from launchgate.gateway.payload import PayloadError, SSEAccumulator, parse_chat_request
from launchgate.gateway.schemacheck import SchemaChecker
from launchgate.gateway.window import RequestRecord, StatsWindow, percentile
from launchgate.store import LocalStore

SCHEMA = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}


def _chunk(delta: dict, finish: str | None = None, usage: bool = True) -> bytes:
    obj = {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta,
                                                                       "finish_reason": finish}]}
    if usage:
        obj["usage"] = None
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


USAGE = b'data: {"id": "c1", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5}}\n\n'
STREAM = (_chunk({"role": "assistant", "content": '{"a"'}) + _chunk({"content": ": 1}"}) + _chunk({}, "stop")
          + USAGE + b"data: [DONE]\n\n")


def test_parse_chat_request() -> None:
    chat = parse_chat_request(json.dumps({
        "model": "x", "stream": True,
        "messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"},
                     {"role": "assistant", "content": "hello"},
                     {"role": "user", "content": [{"type": "text", "text": "second"}]}],
    }).encode())
    assert chat.stream and not chat.client_wants_usage
    assert chat.system_prompt == "be nice" and chat.user_text == "second"
    assert len(chat.prompt_sha256 or "") == 64
    body = json.loads(chat.upstream_body("deploy-1"))
    assert body["model"] == "deploy-1" and body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"messages": []}', b'{"messages": [{}], "stream": "yes"}'])
def test_parse_chat_request_rejects(raw: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_chat_request(raw)


def test_sse_relay_strips_usage_the_client_did_not_ask_for() -> None:
    acc = SSEAccumulator(strip_usage=True)
    out = b""
    for i in range(0, len(STREAM), 7):  # arbitrary TCP chunking, events split mid-way
        out += acc.feed(STREAM[i:i + 7])
    out += acc.flush()
    assert b'"usage"' not in out
    assert out.endswith(b"data: [DONE]\n\n")
    done = acc.finish()
    assert done.content == '{"a": 1}' and done.finish_reason == "stop"
    assert (done.input_tokens, done.output_tokens) == (12, 5)
    # every forwarded event is still valid JSON
    for line in out.split(b"\n"):
        if line.startswith(b"data: {"):
            json.loads(line[6:])


def test_sse_relay_is_byte_exact_when_client_asked_for_usage() -> None:
    acc = SSEAccumulator(strip_usage=False)
    out = acc.feed(STREAM[:50]) + acc.feed(STREAM[50:]) + acc.flush()
    assert out == STREAM


def test_sse_relay_keeps_a_final_event_without_blank_line() -> None:
    acc = SSEAccumulator()
    out = acc.feed(b"data: [DONE]")
    assert out == b"" and acc.flush() == b"data: [DONE]"


def test_schema_checker() -> None:
    checker = SchemaChecker(SCHEMA)
    assert checker.check('{"a": 1}') is True
    assert checker.check('{"a": "x"}') is False
    assert checker.check("not json") is False
    assert checker.check(None) is None
    assert SchemaChecker(None).check('{"a": 1}') is None


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95 and percentile(values, 99) == 99
    assert percentile([], 50) is None and percentile([7.0], 99) == 7.0


def test_stats_window() -> None:
    w = StatsWindow(capacity=1000)
    for i in range(100):
        w.add(RequestRecord(ts=float(i), variant="candidate" if i % 4 == 0 else "stable",
                            status=500 if i % 20 == 0 else 200, latency_ms=float(i), schema_ok=i % 10 != 1,
                            cost_usd=0.001, input_tokens=10, output_tokens=5))
    w.add(RequestRecord(ts=100.0, variant="stable", status=499, latency_ms=1.0))
    w.add(RequestRecord(ts=100.0, variant="stable", status=400, latency_ms=1.0))
    all_ = w.query(0, ["stable", "candidate"])
    cand = all_["candidate"]
    assert cand["count"] == 25 and cand["errors"] == 5 and cand["error_rate"] == 0.2
    assert cand["cost_per_request"] == pytest.approx(0.001) and cand["input_tokens"] == 250
    stable = all_["stable"]
    assert stable["count"] == 76 and stable["errors"] == 0 and stable["client_closed"] == 1
    assert stable["schema_failures"] == 10 and stable["schema_failure_rate"] == pytest.approx(10 / 75)
    recent = w.query(90, ["candidate"])["candidate"]
    assert recent["count"] == 2 and recent["p50_ms"] == 92.0  # records 92 and 96


def test_stats_ring_is_bounded() -> None:
    w = StatsWindow(capacity=100)
    for i in range(250):
        w.add(RequestRecord(ts=float(i), variant="stable", status=200, latency_ms=float(i)))
    assert w.dropped == 150 and w.oldest_ts() == 150.0
    assert w.query(0, ["stable"])["stable"]["count"] == 100
    assert w.query(0, ["stable"])["stable"]["p50_ms"] == 199.0  # the newest 100: 150..249
    assert not w.complete(0, ["stable"]) and w.complete(150, ["stable"])
    assert w.query(240, ["stable"])["stable"]["count"] == 10


def test_stats_query_of_a_big_window_is_fast() -> None:
    w = StatsWindow(capacity=200_000)
    for i in range(200_000):
        w.add(RequestRecord(ts=float(i), variant="candidate" if i % 10 == 0 else "stable", status=200,
                            latency_ms=float(i % 1000), schema_ok=True, cost_usd=0.001, input_tokens=10))
    t0 = time.perf_counter()
    stats = w.query(0, ["stable", "candidate"])
    elapsed = time.perf_counter() - t0
    assert stats["stable"]["count"] == 180_000 and stats["candidate"]["input_tokens"] == 200_000
    assert elapsed < 0.25, f"a full-window query took {elapsed * 1000:.0f} ms on the event loop"


def _line(**kw: object) -> dict:
    return {k: kw.get(k) for k in FIELDS}


def test_request_log_appends_by_hour_locally(tmp_path: Path) -> None:
    writer = RequestLogWriter(LocalStore(tmp_path), "svc", "w1")
    writer.append(_line(request_id="a"), 1_700_000_000.0)  # 2023-11-14 22:13 UTC
    writer.append(_line(request_id="b"), 1_700_003_600.0)  # the next hour
    assert writer.flush() == 2
    writer.append(_line(request_id="c"), 1_700_000_001.0)
    assert writer.flush() == 1
    first = tmp_path / "svc/logs/requests/2023-11-14/22-w1.jsonl"
    rows = [json.loads(x) for x in first.read_text().splitlines()]
    assert [r["request_id"] for r in rows] == ["a", "c"]
    assert list(rows[0]) == list(FIELDS)
    assert (tmp_path / "svc/logs/requests/2023-11-14/23-w1.jsonl").exists()


class FlakyStore:
    """An object store (no append) that fails its first ``failures`` puts."""

    uri = "mem://"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes, content_type: str = "", *, overwrite: bool = True) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreError("store is down")
        self.objects[key] = data


def test_request_log_retries_failed_flushes_and_counts_them() -> None:
    store = FlakyStore(failures=2)
    writer = RequestLogWriter(store, "svc", "w1")  # type: ignore[arg-type]
    writer.append(_line(request_id="a"), 1_700_000_000.0)
    assert writer.flush() == 0 and writer.flush_failures == 1 and writer.pending == 1
    writer.append(_line(request_id="b"), 1_700_000_001.0)
    assert writer.flush() == 0 and writer.flush_failures == 2 and writer.pending == 2
    assert writer.flush() == 2 and writer.pending == 0
    writer.append(_line(request_id="c"), 1_700_000_002.0)
    writer.flush()
    body = store.objects["svc/logs/requests/2023-11-14/22-w1.jsonl"].decode()
    assert [json.loads(x)["request_id"] for x in body.splitlines()] == ["a", "b", "c"]


def test_request_log_object_store_rolls_over_and_bounds_buffer() -> None:
    store = FlakyStore(failures=0)
    writer = RequestLogWriter(store, "svc", "w1", max_object_bytes=1200)  # type: ignore[arg-type]
    for i in range(10):
        writer.append(_line(request_id=f"r{i}"), 1_700_000_000.0)
        writer.flush()
    keys = sorted(store.objects)
    base = "svc/logs/requests/2023-11-14/22-w1"
    assert {f"{base}.jsonl", f"{base}-1.jsonl"} <= set(keys) and len(keys) < 10
    assert all(len(store.objects[k]) <= 1200 for k in keys)
    lines = [json.loads(x)["request_id"] for k in keys for x in store.objects[k].decode().splitlines()]
    assert sorted(lines) == sorted(f"r{i}" for i in range(10))
    down = RequestLogWriter(FlakyStore(failures=10**6), "svc", "w2", max_buffered_lines=1000)  # type: ignore[arg-type]
    for i in range(1500):
        down.append(_line(request_id=str(i)), 1_700_000_000.0)
    down.flush()
    assert down.pending == 1000 and down.lines_dropped == 500


def test_sse_error_event_is_noticed() -> None:
    acc = SSEAccumulator()
    acc.feed(_chunk({"content": "{"}) + b'data: {"error": {"message": "boom", "type": "api_error", '
             b'"code": "server_error"}}\n\n')
    done = acc.finish()
    assert done.error_code == "server_error" and done.content == "{"


def test_variant_prompt_is_applied_only_when_the_request_has_none() -> None:
    import hashlib

    bare = parse_chat_request(json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode())
    sent = json.loads(bare.upstream_body("m", "You triage tickets."))
    assert sent["messages"][0] == {"role": "system", "content": "You triage tickets."}
    assert sent["messages"][1]["content"] == "hi"
    assert bare.effective_prompt_sha256("You triage tickets.") == hashlib.sha256(b"You triage tickets.").hexdigest()

    own = parse_chat_request(json.dumps({"messages": [{"role": "system", "content": "mine"},
                                                      {"role": "user", "content": "hi"}]}).encode())
    kept = json.loads(own.upstream_body("m", "You triage tickets."))
    assert [m["content"] for m in kept["messages"]] == ["mine", "hi"]  # the client's prompt wins
    assert own.effective_prompt_sha256("You triage tickets.") == hashlib.sha256(b"mine").hexdigest()
