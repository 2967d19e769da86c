"""Shadow mode through the real gateway and two simulated models on loopback.

Stable and the candidate are the same simulated variant, so they answer alike; the bad
candidate answers another category on 8% of requests (the simulator's category_flip_rate).
60 requests/s, shadow at 50%: the paired shadow judge must block the bad candidate and pass the
equal one, and every user must get stable's answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from launchgate.shadow.client import ShadowAdmin
from launchgate.shadow.judge import Decision, SequentialConfig, SequentialTest, judge_pairs
from launchgate.store import layout
from tests.support.gateway import running_gateway
from tests.support.sim import EXAMPLE_VARIANTS, running_sim

RPS = 60
MAX_S = 25.0
_TEXTS = ("I was charged twice on invoice {i}, please refund", "The app crashes when I open settings ({i})",
          "How do I change the e-mail on account {i}?", "My parcel {i} has not arrived yet",
          "Just wanted to say the new release {i} is great")


async def _traffic(base: str, stop: asyncio.Event, answers: dict[str, tuple[str | None, str]]) -> None:
    """60 req/s until ``stop``; records each answer's variant header and content by request id."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        async def one(i: int) -> None:
            rid = f"shadow-test-{i}"
            body = {"model": "support-bot", "messages": [{"role": "user", "content": _TEXTS[i % 5].format(i=i)}]}
            r = await client.post("/v1/chat/completions", json=body, headers={"X-Request-ID": rid})
            assert r.status_code == 200, r.text
            answers[rid] = (r.headers.get("X-LG-Variant"), r.json()["choices"][0]["message"]["content"])

        tasks, i, t0 = [], 0, time.monotonic()
        while not stop.is_set():
            tasks.append(asyncio.create_task(one(i)))
            i += 1
            await asyncio.sleep(max(0.0, t0 + i / RPS - time.monotonic()))
        await asyncio.gather(*tasks)


def _shadow_run(tmp_path: Path, **candidate_knobs: float) -> tuple[SequentialTest, list[dict], dict, dict]:
    stable_knobs = {"invalid_json_rate": 0.0}
    with running_sim(EXAMPLE_VARIANTS, "stable", **stable_knobs) as stable_url, \
         running_sim(EXAMPLE_VARIANTS, "stable", **stable_knobs, **candidate_knobs) as cand_url, \
         running_gateway(stable_url, cand_url, str(tmp_path / "store")) as (base, token):
        admin = ShadowAdmin(base, token)
        admin.set_shadow(enabled=True, sample=0.5, release_id="r-shadow")
        answers: dict[str, tuple[str | None, str]] = {}
        pairs: list[dict] = []
        test = SequentialTest(SequentialConfig())

        async def main() -> None:
            stop = asyncio.Event()
            load = asyncio.create_task(_traffic(base, stop, answers))
            after, deadline = 0, time.monotonic() + MAX_S
            while test.state.decision is Decision.WATCHING and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                got = await asyncio.to_thread(admin.pairs, after)
                pairs.extend(got["pairs"])
                after = got["last_seq"]
                judge_pairs(got["pairs"], ["category", "priority"], test.cfg, test=test)
            stop.set()
            await load

        asyncio.run(main())
        status = admin.shadow()
        admin.close()
    return test, pairs, answers, status


def _check_users_got_stable(pairs: list[dict], answers: dict[str, tuple[str | None, str]]) -> None:
    assert answers and {variant for variant, _ in answers.values()} == {"stable"}
    for p in pairs:
        user_variant, content = answers[p["request_id"]]
        assert json.loads(content)["category"] == p["stable"]["parsed"]["category"]


def test_shadow_blocks_a_candidate_that_answers_another_category_on_8pct(tmp_path: Path) -> None:
    test, pairs, answers, status = _shadow_run(tmp_path, category_flip_rate=0.08)
    assert test.state.decision is Decision.WORSE, test.state
    _check_users_got_stable(pairs, answers)
    # the pairs that decided: the candidate disagreed with stable on the category, stable never did
    flipped = [p for p in pairs if p["candidate"]["parsed"]["category"] != p["stable"]["parsed"]["category"]]
    assert flipped and test.state.candidate_only == 0
    assert all(p["release_id"] == "r-shadow" and p["mirrored_as"] == "same" and p["pair_id"] for p in pairs)
    assert all(p["candidate"]["cost_usd"] and p["stable"]["schema_ok"] for p in pairs)
    assert status["dropped"] == 0 and 0.4 < status["offered"] / len(answers) < 0.6
    # the pairs reached the store (flushed on shutdown), redacted like the request log
    stored = list((tmp_path / "store").glob(layout.shadow_prefix("support-bot") + "*/*.jsonl"))
    lines = [json.loads(x) for f in stored for x in f.read_text().splitlines()]
    assert len(lines) >= len(pairs)
    assert any("[EMAIL]" in line["prompt_redacted"] or "e-mail" in line["prompt_redacted"] for line in lines)


def test_shadow_passes_an_equal_candidate(tmp_path: Path) -> None:
    test, pairs, answers, _ = _shadow_run(tmp_path)
    assert test.state.decision is Decision.NOT_WORSE, test.state
    assert test.state.stable_only == 0
    _check_users_got_stable(pairs, answers)


@pytest.mark.parametrize("body", [{"sample": 2}, {"pool": 3}, [1]])
def test_shadow_settings_bad_input_is_400(tmp_path: Path, body: object) -> None:
    with running_sim(EXAMPLE_VARIANTS, "stable") as url, running_gateway(url, url, str(tmp_path)) as (base, token):
        r = httpx.post(f"{base}/admin/shadow", json=body, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
        assert httpx.get(f"{base}/admin/shadow").status_code == 401


def test_streams_mirrored_whole_a_full_pool_drops_and_the_cost_cap_stops_mirroring(tmp_path: Path) -> None:
    slow = {"latency_ms": {"median": 1500, "p95": 1500}}
    with running_sim(EXAMPLE_VARIANTS, "stable") as stable_url, \
         running_sim(EXAMPLE_VARIANTS, "stable", **slow) as cand_url, \
         running_gateway(stable_url, cand_url, str(tmp_path / "store")) as (base, token):
        admin = ShadowAdmin(base, token)
        body = {"model": "support-bot", "messages": [{"role": "user", "content": "My parcel 7 has not arrived"}]}
        admin.set_shadow(enabled=True, sample=1.0, pool_size=1)

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                first = await client.post("/v1/chat/completions", json={**body, "stream": True})
                rest = await asyncio.gather(*(client.post("/v1/chat/completions", json=body) for _ in range(5)))
                return [first, *rest]

        answers = asyncio.run(burst())
        assert all(r.status_code == 200 for r in answers)
        assert admin.shadow()["in_flight"] == 1  # every user has stable's answer while the mirror still waits
        time.sleep(1.6)
        status = admin.shadow()
        assert status["mirrored"] == 1 and status["dropped"] == 5  # one in flight; the rest dropped, not queued
        pair = admin.pairs()["pairs"][0]
        assert pair["mirrored_as"] == "non_stream" and pair["stable"]["parsed"]["category"] == "shipping"
        assert pair["candidate"]["status"] == 200 and pair["candidate"]["latency_ms"] >= 1500
        # a cap below one pair's cost: mirroring stops after the first pair, and says so
        admin.set_shadow(pool_size=8, daily_cost_usd=0.000001)
        for _ in range(3):
            httpx.post(f"{base}/v1/chat/completions", json=body, timeout=10)
            time.sleep(1.6)
        status = admin.shadow()
        assert status["capped"] is True and status["mirrored"] == 2
        assert any(e["kind"] == "shadow_capped" for e in admin.state()["events"])
        admin.close()
