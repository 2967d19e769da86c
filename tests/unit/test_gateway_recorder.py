"""The gateway's recorder: request records worked out after the answer, in batches, nothing lost."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import pytest

from launchgate.config import Pricing
from launchgate.gateway.config import GatewayConfig, Upstream
from launchgate.gateway.logwriter import FIELDS, RequestLogWriter
from launchgate.gateway.metrics import GatewayMetrics
from launchgate.gateway.payload import SSEAccumulator, parse_chat_request
from launchgate.gateway.recorder import Finished, Outcome, Recorder
from launchgate.gateway.schemacheck import SchemaChecker
from launchgate.gateway.window import StatsWindow
from launchgate.store import LocalStore

SCHEMA = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}
UPSTREAM = Upstream(url="http://127.0.0.1:1/v1", model="m-stable", prompt_version="v1", system_prompt="variant prompt")
PRICING = Pricing(input_per_1k=0.5, output_per_1k=1.5)


def completion(content: str, tokens: tuple[int, int] = (10, 4)) -> bytes:
    return json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1]}}).encode()


def make(tmp_path: Path, **kw: float) -> tuple[Recorder, RequestLogWriter, StatsWindow, GatewayMetrics]:
    cfg = GatewayConfig(service="svc", stable=UPSTREAM, pricing=PRICING, log_store_uri=str(tmp_path))
    writer = RequestLogWriter(LocalStore(tmp_path), "svc", "w1")
    metrics = GatewayMetrics(writer, lambda v: 0.0)
    stats = StatsWindow(1000)
    return Recorder(cfg, stats, writer, metrics, SchemaChecker(SCHEMA), **kw), writer, stats, metrics


def finished(outcome: Outcome, request_id: str = "r1", user: str = "mail me at jane@example.com",
             system: str | None = None) -> Finished:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    chat = parse_chat_request(json.dumps({"model": "svc", "messages": messages}).encode())
    now = time.time()
    return Finished(now - 0.01, now, 0.01, request_id, "rel-1", "stable", UPSTREAM, chat, outcome)


def lines(tmp_path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for f in sorted(tmp_path.rglob("*.jsonl")) for x in f.read_text().splitlines()]


def test_drain_records_everything_the_answer_says(tmp_path: Path) -> None:
    async def main() -> None:
        rec, writer, stats, metrics = make(tmp_path)
        rec.submit(finished(Outcome(status=200, body=completion('{"a": 1}'))))
        rec.submit(finished(Outcome(status=200, body=completion('{"a": "x"}')), "r2", system="client prompt"))
        rec.submit(finished(Outcome(status=429, body=b'{"error": {"code": "rate_limit_exceeded"}}'), "r3"))
        assert stats.query(0, ["stable"])["stable"]["count"] == 0  # not yet: it is off the request path
        assert rec.drain() == 3 and rec.pending == 0
        s = stats.query(0, ["stable"])["stable"]
        assert s["count"] == 3 and s["errors"] == 1 and s["schema_failures"] == 1 and s["schema_checked"] == 2
        assert b'launchgate_gateway_errors_total{code="upstream_429",variant="stable"} 1.0' in metrics.render()
        writer.flush()

    asyncio.run(main())
    by_id = {x["request_id"]: x for x in lines(tmp_path)}
    assert all(list(x) == list(FIELDS) for x in by_id.values())
    ok = by_id["r1"]
    assert ok["status"] == 200 and ok["schema_ok"] is True and ok["input_tokens"] == 10
    assert ok["cost_usd"] == pytest.approx(PRICING.cost(10, 4))
    assert ok["prompt_redacted"] == "mail me at [EMAIL]" and ok["release_id"] == "rel-1"
    assert ok["prompt_sha256"] == hashlib.sha256(b"variant prompt").hexdigest()  # the prompt the gateway applied
    assert by_id["r2"]["prompt_sha256"] == hashlib.sha256(b"client prompt").hexdigest()
    assert by_id["r2"]["schema_ok"] is False
    assert by_id["r3"]["error_code"] == "rate_limit_exceeded" and by_id["r3"]["schema_ok"] is None


def test_streams_are_read_after_the_fact_and_errors_inside_them_count(tmp_path: Path) -> None:
    def stream(*events: bytes) -> SSEAccumulator:
        acc = SSEAccumulator()
        acc.feed(b"".join(b"data: " + e + b"\n\n" for e in events))
        return acc

    good = stream(b'{"choices":[{"delta":{"content":"{\\"a\\": 2}"},"finish_reason":"stop"}]}',
                  b'{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}', b"[DONE]")
    bad = stream(b'{"error":{"code":"overloaded","message":"busy"}}')

    async def main() -> None:
        rec, writer, stats, _ = make(tmp_path)
        rec.submit(finished(Outcome(status=200, ttft_s=0.004, stream=good), "s1"))
        rec.submit(finished(Outcome(status=200, stream=bad), "s2"))
        rec.drain()
        assert stats.query(0, ["stable"])["stable"]["errors"] == 1
        writer.flush()

    asyncio.run(main())
    by_id = {x["request_id"]: x for x in lines(tmp_path)}
    assert by_id["s1"]["schema_ok"] is True and by_id["s1"]["output_tokens"] == 2 and by_id["s1"]["ttft_ms"] == 4.0
    assert (by_id["s2"]["status"], by_id["s2"]["error_code"]) == (502, "overloaded")


def test_batches_drain_on_their_own_and_one_bad_record_costs_nothing_else(tmp_path: Path) -> None:
    async def main() -> None:
        rec, writer, stats, _ = make(tmp_path, batch_s=0.01)
        broken = finished(Outcome(status=200, body=completion('{"a": 1}')), "broken")
        broken = broken._replace(chat=object())  # type: ignore[arg-type]  # a bug in the recorder's input
        rec.submit(finished(Outcome(status=200, body=completion('{"a": 1}')), "before"))
        rec.submit(broken)
        rec.submit(finished(Outcome(status=200, body=completion('{"a": 1}'), retries=1), "after",
                            user="lone \ud800 surrogate"))
        await asyncio.sleep(0.05)  # no reader asked: the batch timer drained it
        assert rec.pending == 0 and rec.failures == 1
        assert stats.query(0, ["stable"])["stable"]["count"] == 2
        writer.flush()

    asyncio.run(main())
    assert [x["request_id"] for x in lines(tmp_path)] == ["before", "after"]


def test_a_burst_is_recorded_in_slices_between_other_work(tmp_path: Path) -> None:
    async def main() -> None:
        rec, writer, stats, _ = make(tmp_path, batch_s=0.001)
        for i in range(40):
            rec.submit(finished(Outcome(status=200, body=completion('{"a": 1}')), f"r{i}"))
        seen: list[int] = []

        async def watch() -> None:  # another task on the loop: it runs between slices
            while rec.pending:
                seen.append(rec.pending)
                await asyncio.sleep(0)

        await asyncio.gather(watch(), asyncio.sleep(0.05))
        assert rec.pending == 0 and stats.query(0, ["stable"])["stable"]["count"] == 40
        assert any(0 < n < 40 for n in seen)  # it saw the drain part-way
        writer.flush()

    asyncio.run(main())
    assert [x["request_id"] for x in lines(tmp_path)] == [f"r{i}" for i in range(40)]
