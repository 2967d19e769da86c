"""The simulated model server over real HTTP on loopback (httpx client, uvicorn server)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from launchgate.errors import DataFileError
from launchgate.sim.__main__ import main as sim_main
from launchgate.sim.behaviour import score
from launchgate.sim.server import create_app
from launchgate.sim.variants import load_golden, load_variants
from tests.support.sim import EXAMPLE_VARIANTS, admin_url, running_sim, set_sim_knobs

SPEC = load_variants(EXAMPLE_VARIANTS)
CASES = load_golden(SPEC.golden_set)
SYSTEM = (EXAMPLE_VARIANTS.parent / "prompts" / "v2.txt").read_text()


def chat_body(case: dict[str, Any] | str, **extra: Any) -> dict[str, Any]:
    user = case if isinstance(case, str) else json.dumps(case["input"], ensure_ascii=False, sort_keys=True)
    return {
        "model": "support-bot-stable",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
        "max_tokens": 400,
        "temperature": 0,
        **extra,
    }


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    # One client for the module: building a client (its SSL context) costs ~50 ms each time.
    with httpx.Client(timeout=5) as c:
        yield c


@pytest.fixture(scope="module")
def stable() -> Iterator[str]:
    """One shared server for the tests that do not change knobs (each start/stop costs ~0.2 s)."""
    with running_sim(EXAMPLE_VARIANTS, "stable", invalid_json_rate=0) as url:
        yield url


def sse_events(text: str) -> list[Any]:
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        assert block.startswith("data: "), block
        data = block.removeprefix("data: ")
        events.append(data if data == "[DONE]" else json.loads(data))
    return events


def test_models_and_chat_completion_with_usage(client: httpx.Client, stable: str) -> None:
    models = client.get(f"{stable}/models").json()
    assert [m["id"] for m in models["data"]] == ["support-bot-stable"]
    resp = client.post(f"{stable}/chat/completions", json=chat_body(CASES[0], model="whatever-name"))
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "chat.completion" and body["model"] == "whatever-name"
    assert body["id"].startswith("chatcmpl-") and isinstance(body["created"], int)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    answer = json.loads(choice["message"]["content"])
    assert set(answer) == {"category", "priority", "reply", "refused"}
    usage = body["usage"]
    assert usage["prompt_tokens"] >= len(SYSTEM) // 4
    assert usage["completion_tokens"] == -(-len(choice["message"]["content"]) // 4)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_stream_chunks_assemble_into_the_same_answer_with_usage(client: httpx.Client) -> None:
    case = CASES[1]
    # A fixed 250 ms latency (median == p95) makes the timing checkable.
    with running_sim(EXAMPLE_VARIANTS, "stable", invalid_json_rate=0,
                     latency_ms={"median": 250, "p95": 250}, ttft_ms={"fraction": 0.2}) as url:
        plain = client.post(f"{url}/chat/completions", json=chat_body(case)).json()
        body = chat_body(case, stream=True, stream_options={"include_usage": True})
        start = time.perf_counter()
        first_at = None
        raw = ""
        with client.stream("POST", f"{url}/chat/completions", json=body) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            for piece in resp.iter_text():
                if first_at is None and '"content"' in piece:
                    first_at = time.perf_counter() - start
                raw += piece
        total = time.perf_counter() - start
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert content == plain["choices"][0]["message"]["content"]
    assert json.loads(content) == json.loads(plain["choices"][0]["message"]["content"])
    assert len(chunks) > 3
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == plain["usage"]
    assert first_at is not None and 0.045 <= first_at < 0.2  # ttft = 50 ms
    assert 0.24 <= total < 0.7


def test_stream_without_include_usage_has_no_usage_chunk(client: httpx.Client, stable: str) -> None:
    resp = client.post(f"{stable}/chat/completions", json=chat_body(CASES[2], stream=True))
    chunks = sse_events(resp.text)[:-1]
    assert all(c["choices"] and "usage" not in c for c in chunks)


def test_error_rate_one_gives_500_in_openai_shape(client: httpx.Client) -> None:
    with running_sim(EXAMPLE_VARIANTS, "good-candidate", error_rate=1.0) as url:
        resp = client.post(f"{url}/chat/completions", json=chat_body(CASES[0]))
        streamed = client.post(f"{url}/chat/completions", json=chat_body(CASES[0], stream=True))
    assert resp.status_code == 500 and streamed.status_code == 500
    error = resp.json()["error"]
    assert error["type"] == "server_error" and error["message"] and "code" in error


def test_rate_limit_gives_429_with_retry_after(client: httpx.Client) -> None:
    with running_sim(EXAMPLE_VARIANTS, "stable", rate_limit_rate=1.0, retry_after_s=2) as url:
        resp = client.post(f"{url}/chat/completions", json=chat_body(CASES[0]))
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "2" and resp.headers["retry-after-ms"] == "2000"
    assert resp.json()["error"]["code"] == "rate_limit_exceeded"


def test_fault_kicks_in_after_after_s(client: httpx.Client) -> None:
    fault = {"after_s": 0.25, "error_rate": 1.0, "extra_latency_ms": 50}
    with running_sim(EXAMPLE_VARIANTS, "stable", fault=fault) as url:
        client.post(f"{admin_url(url)}/sim/reset").raise_for_status()  # restart the fault clock now
        before = [client.post(f"{url}/chat/completions", json=chat_body(c)).status_code for c in CASES[:3]]
        time.sleep(0.3)
        after = [client.post(f"{url}/chat/completions", json=chat_body(c)).status_code for c in CASES[:3]]
        stats = client.get(f"{admin_url(url)}/sim/stats").json()
    assert before == [200, 200, 200] and after == [500, 500, 500]
    assert stats["outcomes"]["server_error"] == 3 and stats["requests"] == 6


def test_knobs_can_be_patched_at_runtime(client: httpx.Client) -> None:
    with running_sim(EXAMPLE_VARIANTS, "stable") as url:
        assert client.post(f"{url}/chat/completions", json=chat_body(CASES[0])).status_code == 200
        knobs = set_sim_knobs(url, error_rate=1.0)
        assert knobs["error_rate"] == 1.0 and knobs["model"] == "support-bot-stable"
        assert client.post(f"{url}/chat/completions", json=chat_body(CASES[0])).status_code == 500
        bad = client.post(f"{admin_url(url)}/sim/knobs", json={"latency_ms": {"p95": -1}})
        assert bad.status_code == 400 and "latency_ms.p95" in bad.json()["error"]["message"]
        assert client.get(f"{admin_url(url)}/sim/knobs").json()["knobs"]["error_rate"] == 1.0
        set_sim_knobs(url, error_rate=None)  # null = back to the default (0)
        assert client.post(f"{url}/chat/completions", json=chat_body(CASES[0])).status_code == 200


def test_max_tokens_truncates_to_invalid_json(client: httpx.Client, stable: str) -> None:
    body = client.post(f"{stable}/chat/completions", json=chat_body(CASES[0], max_tokens=8)).json()
    streamed = client.post(
        f"{stable}/chat/completions",
        json=chat_body(CASES[0], max_tokens=8, stream=True, stream_options={"include_usage": True}),
    )
    choice = body["choices"][0]
    assert choice["finish_reason"] == "length" and body["usage"]["completion_tokens"] == 8
    with pytest.raises(json.JSONDecodeError):
        json.loads(choice["message"]["content"])
    chunks = sse_events(streamed.text)[:-1]
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 8


def test_bad_requests_get_400(client: httpx.Client, stable: str) -> None:
    missing = client.post(f"{stable}/chat/completions", json={"model": "m"})
    not_json = client.post(f"{stable}/chat/completions", content=b"{nope")
    bad_max = client.post(f"{stable}/chat/completions", json=chat_body(CASES[0], max_tokens=0))
    assert [r.status_code for r in (missing, not_json, bad_max)] == [400, 400, 400]
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert missing.json()["error"]["param"] == "messages"


def test_any_prompt_gets_a_plausible_answer(client: httpx.Client, stable: str) -> None:
    resp = client.post(f"{stable}/chat/completions",
                       json=chat_body("Hello, my parcel never arrived and the tracking is stuck."))
    answer = json.loads(resp.json()["choices"][0]["message"]["content"])
    assert answer["category"] == "shipping" and answer["refused"] is False


def test_full_eval_over_http_is_fast_and_matches_the_behaviour_accuracy() -> None:
    """All golden cases at concurrency 16 with aiohttp, as the eval gate runs them: ~1 s, and the
    realised accuracy equals the one computed from behaviour.py (decisions are per case)."""
    from tests.unit.test_sim_behaviour import realised_accuracy

    async def run(url: str) -> tuple[float, float]:
        sem = asyncio.Semaphore(16)
        async with aiohttp.ClientSession() as session:
            async def one(case: dict[str, Any]) -> bool:
                async with sem, session.post(f"{url}/chat/completions", json=chat_body(case)) as r:
                    body = await r.json()
                return score(body["choices"][0]["message"]["content"], case["expected"])

            start = time.perf_counter()
            results = await asyncio.gather(*(one(c) for c in CASES))
            return sum(results) / len(results), time.perf_counter() - start

    with running_sim(EXAMPLE_VARIANTS, "stable") as url:
        accuracy, elapsed = asyncio.run(run(url))
    assert accuracy == pytest.approx(realised_accuracy("stable"))
    assert elapsed < 2.5, f"{len(CASES)} cases took {elapsed:.2f}s"


def test_unknown_variant_is_a_data_file_error() -> None:
    with pytest.raises(DataFileError, match="unknown variant"):
        create_app(EXAMPLE_VARIANTS, "no-such-variant")


def test_python_dash_m_serves_and_prints_its_url(
    client: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "launchgate.sim", "--variants", str(EXAMPLE_VARIANTS), "--variant",
         "bad-candidate", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1"), line
        deadline = time.monotonic() + 5
        while True:
            try:
                models = client.get(f"{url}/models", timeout=1).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "sim subprocess never answered"
                time.sleep(0.05)
        assert models["data"][0]["id"] == "support-bot-bad"
    finally:
        proc.terminate()
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it: -15 is the clean exit here.
        assert proc.wait(timeout=5) in (0, -15)
    # The error path in-process (a second interpreter start would cost ~0.5 s).
    assert sim_main(["--variants", str(tmp_path / "none.yaml"), "--variant", "x"]) == 2
    assert "variants file not found" in capsys.readouterr().err
