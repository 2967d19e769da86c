"""The release gateway over real HTTP on loopback, in front of two simulated model variants."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
import socketserver
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from launchgate.errors import GatewayError
from launchgate.gateway.client import GatewayAdmin
from launchgate.gateway.logwriter import FIELDS
from tests.support.gateway import EXAMPLE, running_gateway
from tests.support.sim import EXAMPLE_VARIANTS, running_sim

SYSTEM = (EXAMPLE / "prompts" / "v1.txt").read_text()
# The gateway is under test, not the model: fast, and always valid JSON unless a test says otherwise.
FAST = {"latency_ms": {"median": 2, "p95": 4}, "invalid_json_rate": 0.0}
PII_TICKET = ("Card 4111 1111 1111 1111 was charged twice, mail me at jane.doe@example.com "
              "or call +1 415 555 0132. My key sk-proj-abc123DEF456ghi789JKL012mno345 leaked too.")


def chat(user: str = '{"subject": "Refund", "body": "charged twice", "customer_tier": "pro"}',
         **extra: Any) -> dict[str, Any]:
    return {"model": "support-bot", "messages": [{"role": "system", "content": SYSTEM},
                                                 {"role": "user", "content": user}], **extra}


@pytest.fixture
def sims() -> Iterator[tuple[str, str]]:
    with running_sim(EXAMPLE_VARIANTS, "stable", **FAST) as stable, \
            running_sim(EXAMPLE_VARIANTS, "good-candidate", **FAST) as candidate:
        yield stable, candidate


def _log_lines(store: Path) -> list[dict[str, Any]]:
    files = sorted(store.glob("support-bot/logs/requests/*/*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


async def _fire(url: str, n: int, concurrency: int = 32, headers: dict[str, str] | None = None) -> Counter[str]:
    """n chat requests; counts the X-LG-Variant of the answers (and 'status:<n>' for failures)."""
    seen: Counter[str] = Counter()
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:
        async def one(i: int) -> None:
            async with sem, session.post(f"{url}/v1/chat/completions", json=chat(f"ticket {i}"),
                                         headers=headers) as resp:
                await resp.read()
                seen[resp.headers.get("X-LG-Variant", "?") if resp.status == 200 else f"status:{resp.status}"] += 1
        await asyncio.gather(*(one(i) for i in range(n)))
    return seen


def test_weights_are_honoured(sims: tuple[str, str], tmp_path: Path) -> None:
    with running_gateway(*sims, str(tmp_path)) as (url, token):
        admin = GatewayAdmin(url, token)
        state = admin.set_weights(25, "test split", release_id="support-bot-rel-1")
        assert state["weights"] == {"stable": 75.0, "candidate": 25.0}
        seen = asyncio.run(_fire(url, 400))
        assert seen["stable"] + seen["candidate"] == 400, seen
        assert 65 <= seen["candidate"] <= 135, seen  # 100 expected, sd 8.7: 4 sd either way
        stats = admin.stats(since=time.time() - 60)
        assert stats["variants"]["candidate"]["count"] == seen["candidate"]
        assert stats["variants"]["stable"]["count"] == seen["stable"]
        assert stats["variants"]["stable"]["errors"] == 0
        assert stats["variants"]["stable"]["p95_ms"] is not None
        assert stats["variants"]["candidate"]["cost_per_request"] > 0
        assert set(admin.stats(since=0, variant="candidate")["variants"]) == {"candidate"}
        # back to stable: the next requests all go there
        admin.set_weights(0, "done")
        assert asyncio.run(_fire(url, 50)) == Counter(stable=50)


def test_sticky_sessions_stay_on_their_variant(sims: tuple[str, str], tmp_path: Path) -> None:
    with running_gateway(*sims, str(tmp_path), initial_candidate_pct=50) as (url, _), httpx.Client() as client:
        for session in ("alice", "bob", "carol", "dave"):
            variants = {client.post(f"{url}/v1/chat/completions", json=chat(),
                                    headers={"X-LG-Session": session}).headers["X-LG-Variant"]
                        for _ in range(8)}
            assert len(variants) == 1, (session, variants)


def test_streaming_is_relayed_as_it_arrives(tmp_path: Path) -> None:
    slow = {"latency_ms": {"median": 600, "p95": 650}, "ttft_ms": {"fraction": 0.2}}
    with running_sim(EXAMPLE_VARIANTS, "stable", **slow) as stable, \
            running_gateway(stable, None, str(tmp_path)) as (url, _), httpx.Client(timeout=10) as client:
        t0 = time.perf_counter()
        with client.stream("POST", f"{url}/v1/chat/completions", json=chat(stream=True)) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            events, first_at = [], None
            for line in resp.iter_lines():
                if line.startswith("data: "):
                    first_at = first_at or time.perf_counter() - t0
                    events.append(line[6:])
        total = time.perf_counter() - t0
        assert first_at is not None and first_at < total - 0.2, (first_at, total)  # not buffered
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        assert all("usage" not in c for c in chunks)  # the client did not ask for usage
        content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
        assert set(json.loads(content)) == {"category", "priority", "reply", "refused"}
        # asking for usage gets the usage chunk, as from the upstream directly
        with client.stream("POST", f"{url}/v1/chat/completions",
                           json=chat(stream=True, stream_options={"include_usage": True})) as resp:
            datas = [json.loads(x[6:]) for x in resp.iter_lines() if x.startswith("data: {")]
        assert datas[-1]["choices"] == [] and datas[-1]["usage"]["completion_tokens"] > 0
    lines = _log_lines(tmp_path)
    assert len(lines) == 2 and all(line["ttft_ms"] and line["ttft_ms"] < line["latency_ms"] for line in lines)
    assert all(line["output_tokens"] and line["schema_ok"] is True for line in lines)


def test_request_log_has_every_field_and_redacted_prompts(sims: tuple[str, str], tmp_path: Path) -> None:
    with running_gateway(*sims, str(tmp_path), release_id="support-bot-rel-7") as (url, _), httpx.Client() as client:
        resp = client.post(f"{url}/v1/chat/completions", json=chat(PII_TICKET), headers={"X-Request-ID": "req-42"})
        assert resp.status_code == 200 and resp.headers["X-Request-ID"] == "req-42"
        generated = client.post(f"{url}/v1/chat/completions", json=chat()).headers["X-Request-ID"]
        assert len(generated) >= 16
        bad = client.post(f"{url}/v1/chat/completions", content=b"{not json")
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"
    lines = {line["request_id"]: line for line in _log_lines(tmp_path)}
    assert set(lines) == {"req-42", generated, bad.headers["X-Request-ID"]}
    for line in lines.values():
        assert list(line) == list(FIELDS)
    first = lines["req-42"]
    assert first["service"] == "support-bot" and first["release_id"] == "support-bot-rel-7"
    assert first["variant"] == "stable" and first["model"] == "support-bot-stable" and first["prompt_version"] == "v1"
    assert first["prompt_sha256"] == hashlib.sha256(SYSTEM.encode()).hexdigest()
    assert first["status"] == 200 and first["error_code"] is None and first["retries"] == 0
    assert first["input_tokens"] > 0 and first["output_tokens"] > 0
    assert first["cost_usd"] == pytest.approx(first["input_tokens"] * 0.0005 / 1000
                                              + first["output_tokens"] * 0.0015 / 1000)
    assert first["schema_ok"] is True and first["latency_ms"] > 0
    redacted = first["prompt_redacted"]
    for secret in ("4111", "jane.doe", "555 0132", "sk-proj"):
        assert secret not in redacted
    assert {"[CARD]", "[EMAIL]", "[PHONE]", "[SECRET]"} <= {p for p in ("[CARD]", "[EMAIL]", "[PHONE]", "[SECRET]")
                                                             if p in redacted}
    assert lines[bad.headers["X-Request-ID"]]["status"] == 400


def test_admin_api_requires_the_token(sims: tuple[str, str], tmp_path: Path) -> None:
    with running_gateway(*sims, str(tmp_path)) as (url, token), httpx.Client() as client:
        for method, path in [("GET", "/admin/state"), ("POST", "/admin/weights"), ("GET", "/admin/stats"),
                             ("POST", "/admin/lease"), ("DELETE", "/admin/lease"), ("POST", "/admin/upstreams")]:
            assert client.request(method, url + path).status_code == 401
            wrong = client.request(method, url + path, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
            assert token not in wrong.text
        with pytest.raises(GatewayError) as exc:
            GatewayAdmin(url, "wrong-token-wrong-token").state()
        assert exc.value.status == 401
        ok = client.get(f"{url}/admin/state", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json()["weights"] == {"stable": 100.0, "candidate": 0.0}
        bad = client.post(f"{url}/admin/weights", json={"candidate": 120, "reason": "x"},
                          headers={"Authorization": f"Bearer {token}"})
        assert bad.status_code == 400 and "candidate" in bad.json()["error"]["message"]


def test_lease_expiry_returns_traffic_to_stable(sims: tuple[str, str], tmp_path: Path) -> None:
    ttl = 1.0
    with running_gateway(*sims, str(tmp_path)) as (url, token):
        admin = GatewayAdmin(url, token)
        admin.acquire_lease("canary-flow", ttl)
        with pytest.raises(GatewayError) as exc:
            admin.acquire_lease("someone-else", ttl)
        assert exc.value.status == 409
        admin.set_weights(100, "canary at full weight for the test")
        assert asyncio.run(_fire(url, 10)) == Counter(candidate=10)
        renewed_at = time.time()
        admin.acquire_lease("canary-flow", ttl)  # one renewal, then the "flow" dies
        while admin.state()["weights"]["candidate"] > 0:
            assert time.time() - renewed_at < ttl + 1.0, "lease expiry did not return traffic to stable"
            time.sleep(0.05)
        assert time.time() - renewed_at >= ttl - 0.05
        state = admin.state()
        assert state["lease"] is None
        assert state["events"][-1]["kind"] == "lease_expired" and "canary-flow" in state["events"][-1]["reason"]
        assert asyncio.run(_fire(url, 10)) == Counter(stable=10)
        assert 'launchgate_gateway_events_total{kind="lease_expired"} 1.0' in httpx.get(f"{url}/metrics").text
        # the lease is free again; releasing works and is recorded
        admin.acquire_lease("someone-else", 5)
        assert admin.release_lease("someone-else")["lease"] is None


def test_set_candidate_upstream_without_restart(tmp_path: Path) -> None:
    with running_sim(EXAMPLE_VARIANTS, "stable", **FAST) as stable, \
            running_sim(EXAMPLE_VARIANTS, "bad-candidate", **FAST) as bad, \
            running_gateway(stable, None, str(tmp_path)) as (url, token):
        admin = GatewayAdmin(url, token)
        with pytest.raises(GatewayError) as exc:
            admin.set_weights(10, "no candidate yet")
        assert exc.value.status == 409
        state = admin.set_candidate(bad, "support-bot-bad", "v3", "support-bot-rel-9")
        assert state["release_id"] == "support-bot-rel-9"
        assert state["upstreams"]["candidate"]["model"] == "support-bot-bad"
        admin.set_weights(100, "all to the new candidate")
        resp = httpx.post(f"{url}/v1/chat/completions", json=chat())
        assert resp.json()["model"] == "support-bot-bad"


def test_upstream_timeout_and_errors_have_clear_codes(tmp_path: Path) -> None:
    slow = {"latency_ms": {"median": 900, "p95": 950}}
    dead_port = "http://127.0.0.1:9/v1"  # discard port: nothing listens, connections are refused
    with running_sim(EXAMPLE_VARIANTS, "stable", **slow) as stable, \
            running_gateway(stable, dead_port, str(tmp_path), upstream_timeout_s=0.3) as (url, token), \
            httpx.Client(timeout=5) as client:
        t0 = time.perf_counter()
        resp = client.post(f"{url}/v1/chat/completions", json=chat())
        assert resp.status_code == 504 and time.perf_counter() - t0 < 1.5
        assert resp.json()["error"]["code"] == "upstream_timeout"
        GatewayAdmin(url, token).set_weights(100, "point at a dead candidate")
        dead = client.post(f"{url}/v1/chat/completions", json=chat())
        assert dead.status_code == 502 and dead.json()["error"]["code"] == "upstream_error"
        stats = GatewayAdmin(url, token).stats(0)["variants"]
        assert stats["stable"]["errors"] == 1 and stats["candidate"]["errors"] == 1
    lines = _log_lines(tmp_path)
    assert {(x["status"], x["error_code"]) for x in lines} == {(504, "upstream_timeout"), (502, "upstream_error")}
    assert [x["retries"] for x in lines if x["status"] == 502] == [1]  # connection refused is retried once


@contextmanager
def upstream_dropping_reused_connections() -> Iterator[str]:
    """Answers the first request on each connection and closes the connection unanswered when a
    second one arrives on it: an upstream dropping an idle keep-alive connection just as it is reused."""
    answer = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": "{}"},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 3, "completion_tokens": 1}}).encode()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for n in range(2):
                length = 0
                while (line := self.rfile.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.rfile.read(length)
                if n == 1 or not line:
                    return  # closes without an answer
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                                 + str(len(answer)).encode() + b"\r\n\r\n" + answer)
                self.wfile.flush()

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_a_dropped_keep_alive_connection_is_retried_on_a_fresh_one(tmp_path: Path) -> None:
    with upstream_dropping_reused_connections() as upstream, \
            running_gateway(upstream, None, str(tmp_path)) as (url, _), httpx.Client(timeout=5) as client:
        for _ in range(3):
            resp = client.post(f"{url}/v1/chat/completions", json=chat())
            assert resp.status_code == 200, resp.text
    assert [x["retries"] for x in _log_lines(tmp_path)] == [0, 1, 1]


def test_upstream_http_errors_are_relayed(tmp_path: Path) -> None:
    with running_sim(EXAMPLE_VARIANTS, "stable", error_rate=1.0, **FAST) as stable, \
            running_gateway(stable, None, str(tmp_path)) as (url, _):
        resp = httpx.post(f"{url}/v1/chat/completions", json=chat())
        assert resp.status_code == 500 and "error" in resp.json()


def test_schema_failures_are_counted(tmp_path: Path) -> None:
    with running_sim(EXAMPLE_VARIANTS, "stable", **{**FAST, "invalid_json_rate": 1.0}) as stable, \
            running_gateway(stable, None, str(tmp_path)) as (url, token):
        asyncio.run(_fire(url, 5))
        stable_stats = GatewayAdmin(url, token).stats(0)["variants"]["stable"]
        assert stable_stats["schema_failures"] == 5 and stable_stats["schema_failure_rate"] == 1.0
        assert stable_stats["errors"] == 0
        assert 'launchgate_gateway_schema_failures_total{variant="stable"} 5.0' in httpx.get(f"{url}/metrics").text
    assert [x["schema_ok"] for x in _log_lines(tmp_path)] == [False] * 5


def test_metrics_expose_counters(sims: tuple[str, str], tmp_path: Path) -> None:
    with running_gateway(*sims, str(tmp_path), initial_candidate_pct=50) as (url, _):
        asyncio.run(_fire(url, 20))
        text = httpx.get(f"{url}/metrics").text
    counts = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line.startswith("launchgate_gateway_requests_total{")}
    assert sum(counts.values()) == 20
    assert 'launchgate_gateway_request_latency_seconds_bucket{le="0.05",variant="stable"}' in text
    assert 'launchgate_gateway_tokens_total{direction="output",variant="stable"}' in text
    assert "launchgate_gateway_cost_usd_total" in text
    assert 'launchgate_gateway_weight_percent{variant="candidate"} 50.0' in text
    assert "launchgate_gateway_log_flush_failures_total 0.0" in text


def test_official_openai_client_works_through_the_gateway(sims: tuple[str, str], tmp_path: Path) -> None:
    openai = pytest.importorskip("openai")
    with running_gateway(*sims, str(tmp_path)) as (url, _):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="not-used-by-the-gateway", max_retries=0)
        answer = client.chat.completions.create(model="support-bot", messages=chat()["messages"])
        assert set(json.loads(answer.choices[0].message.content or "")) == {"category", "priority", "reply", "refused"}
        assert answer.usage is not None and answer.usage.completion_tokens > 0
        stream = client.chat.completions.create(model="support-bot", messages=chat()["messages"], stream=True)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        assert json.loads(text)["category"]
        models = client.models.list()
        assert [m.id for m in models.data] == ["support-bot-stable"]
        client.close()
    lines = _log_lines(tmp_path)
    assert len(lines) == 2 and all(x["status"] == 200 and x["schema_ok"] for x in lines)


def test_cli_gateway_needs_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LAUNCHGATE_GATEWAY_ADMIN_TOKEN"}
    proc = subprocess.run([sys.executable, "-m", "launchgate.cli", "gateway", "--config",
                           str(EXAMPLE / "release.yaml"), "--port", "0"], env=env, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2 and "LAUNCHGATE_GATEWAY_ADMIN_TOKEN" in proc.stderr


def test_cli_gateway_serves_and_flushes_its_log_on_sigterm(sims: tuple[str, str], tmp_path: Path) -> None:
    token = "cli-test-token-0123456789"
    env = {**os.environ, "LAUNCHGATE_GATEWAY_ADMIN_TOKEN": token}
    cmd = [sys.executable, "-m", "launchgate.cli", "gateway", "--config", str(EXAMPLE / "release.yaml"),
           "--port", "0", "--set", f"stable.endpoint={sims[0]}", "--set", f"candidate.endpoint={sims[1]}",
           "--set", f"artifacts.uri={tmp_path}", "--set", "gateway.log_flush_s=60"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        url = re.search(r"at (http://\S+)/v1", banner)
        assert url, banner
        assert GatewayAdmin(url.group(1), token).set_weights(100, "cli test")["weights"]["candidate"] == 100
        resp = httpx.post(f"{url.group(1)}/v1/chat/completions", json=chat(), timeout=10)
        assert resp.status_code == 200 and resp.headers["X-LG-Variant"] == "candidate"
        assert _log_lines(tmp_path) == []  # flush interval is 60 s: nothing written yet
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert token not in stderr and token not in banner
    lines = _log_lines(tmp_path)
    assert [(x["variant"], x["prompt_version"]) for x in lines] == [("candidate", "v2")]
