"""Is the eval runner limited by the model, or by itself?

Starts the simulator's ``fixed-100ms`` variant (every answer takes exactly 100 ms, no errors)
in its own process, then drives 1000 golden cases through the real runner
(``launchgate.eval.runner.evaluate_variant``: semaphore, aiohttp client, scoring) at
concurrency 32. A perfect runner finishes in ideal_s = 1000 x 0.1 s / 32 = 3.125 s;
achieved_over_ideal = ideal_s / wall_s (target >= 0.9). Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launchgate.config import Pricing, Variant  # noqa: E402
from launchgate.eval.golden import GoldenCase, load_golden_set, read_json_file  # noqa: E402
from launchgate.eval.runner import evaluate_variant, summarize  # noqa: E402
from launchgate.eval.scoring import make_validator  # noqa: E402
from launchgate.sim.local import sim_processes  # noqa: E402

EXAMPLE = ROOT / "examples" / "support-bot"
CASES = 1000
CONCURRENCY = 32
LATENCY_S = 0.1


def bench_cases(n: int) -> list[GoldenCase]:
    """n cases with unique ids, cycling through the golden set's inputs (the simulator knows them)."""
    golden = load_golden_set(EXAMPLE / "golden.jsonl")
    return [golden[i % len(golden)].model_copy(update={"id": f"bench-{i:04d}"}) for i in range(n)]


async def drive(url: str, cases: list[GoldenCase]) -> tuple[float, int]:
    variant = Variant.model_validate(
        {"endpoint": url, "model": "support-bot-fixed", "prompt": {"file": "v2.txt", "version": "v2"},
         "timeout_s": 10, "max_retries": 0},
        context={"check_files": False},
    )
    validator = make_validator(read_json_file(EXAMPLE / "schemas" / "output.schema.json", "schema"), "output")
    prompt = (EXAMPLE / "prompts" / "v2.txt").read_text()
    t0 = time.perf_counter()
    results = await evaluate_variant(
        "candidate", variant, prompt, cases, validator=validator,
        pricing=Pricing(input_per_1k=0.0005, output_per_1k=0.0015), concurrency=CONCURRENCY,
        max_output_tokens=400, max_context_chars=12000,
    )
    wall = time.perf_counter() - t0
    return wall, summarize("candidate", variant, results).errors


def main() -> None:
    cases = bench_cases(CASES)
    with sim_processes(EXAMPLE / "variants.yaml", ["fixed-100ms"]) as urls:
        # One short warm-up so connection set-up and first-call imports are not billed to the run.
        asyncio.run(drive(urls["fixed-100ms"], cases[:CONCURRENCY]))
        wall, errors = asyncio.run(drive(urls["fixed-100ms"], cases))
    if errors:
        raise SystemExit(f"{errors} calls failed: the throughput figure would be meaningless")
    ideal = CASES * LATENCY_S / CONCURRENCY
    print(json.dumps({"cases": CASES, "concurrency": CONCURRENCY, "wall_s": round(wall, 3),
                      "ideal_s": round(ideal, 3), "achieved_over_ideal": round(ideal / wall, 3)}))


if __name__ == "__main__":
    main()
