"""Synthetic request-log traffic with controllable distributions (the gateway's line shape).

    lines = synth_requests(start, days=7, per_day=400, seed=1, output_tokens_mean=220)
    write_request_lines(store, "support-bot", lines)

Token counts are drawn from lognormal distributions (LLM lengths are right-skewed), latency grows
with output tokens like a real decoder, and cost follows the example service's pricing, so the
drift and cost reviews see traffic of a realistic shape. Same arguments + seed -> same lines.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

from launchgate.config import Pricing

PRICING = Pricing(input_per_1k=0.0005, output_per_1k=0.0015)


def _lognormal(rng: random.Random, mean: float, cv: float) -> float:
    # Parametrise by mean and coefficient of variation: what a reader of the test thinks in.
    sigma2 = math.log(1 + cv * cv)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


def synth_requests(
    start: datetime, *, days: float = 7, per_day: int = 400, seed: int = 0,
    input_tokens_mean: float = 600, output_tokens_mean: float = 120, tokens_cv: float = 0.4,
    latency_base_ms: float = 250, ms_per_output_token: float = 4.0, error_rate: float = 0.005,
    schema_fail_rate: float = 0.002, refusal_rate: float | None = None, pricing: Pricing = PRICING,
    service: str = "support-bot", model: str = "support-bot-stable", prompt_version: str = "v1",
    release_id: str | None = None, variant: str = "stable",
) -> list[dict[str, Any]]:
    """``per_day`` requests a day for ``days`` days from ``start`` (aware UTC), evenly spread with jitter."""
    rng = random.Random(seed)
    n = int(days * per_day)
    step = 86400 / per_day
    out: list[dict[str, Any]] = []
    for i in range(n):
        at = start + timedelta(seconds=i * step + rng.random() * step)
        failed = rng.random() < error_rate
        line: dict[str, Any] = {
            "ts": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
            "request_id": f"{seed}-{i:07d}", "service": service, "release_id": release_id, "variant": variant,
            "model": model, "prompt_version": prompt_version, "prompt_sha256": "0" * 64,
            "status": 502 if failed else 200, "error_code": "upstream_error" if failed else None,
            "latency_ms": None, "ttft_ms": None, "input_tokens": None, "output_tokens": None, "cost_usd": None,
            "schema_ok": None, "retries": 0, "prompt_redacted": "",
        }
        if failed:
            line["latency_ms"] = round(rng.uniform(5, 50), 3)
        else:
            tin = max(1, round(_lognormal(rng, input_tokens_mean, tokens_cv)))
            tout = max(1, round(_lognormal(rng, output_tokens_mean, tokens_cv)))
            latency = latency_base_ms * rng.uniform(0.8, 1.2) + tout * ms_per_output_token * rng.uniform(0.9, 1.1)
            line.update(input_tokens=tin, output_tokens=tout, latency_ms=round(latency, 3),
                        ttft_ms=round(latency_base_ms * rng.uniform(0.7, 1.0), 3),
                        cost_usd=round(pricing.cost(tin, tout), 8), schema_ok=rng.random() >= schema_fail_rate)
            if refusal_rate is not None:
                line["refused"] = rng.random() < refusal_rate
        out.append(line)
    return out
