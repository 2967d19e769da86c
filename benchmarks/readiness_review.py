"""How long does the readiness review take, the part a release waits for?

Judges the example service against a store (default: the demo's `.launchgate/store`, after `make demo`)
the way the release step does (bundle + store + config, no gateway probe), ``--runs`` times, and
reports the median and worst wall time of one review, with the counts of the last one.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from launchgate.config.context import ServiceContext
from launchgate.readiness.step import review_service

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default=str(ROOT / "examples/support-bot/release.yaml"))
    ap.add_argument("--artifacts", default=str(ROOT / ".launchgate/store"))
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    ctx = ServiceContext.open(args.config, artifacts=args.artifacts, check_files=False)
    walls = []
    report = None
    for _ in range(args.runs + 1):  # the first run pays imports and cold caches: not counted
        t = time.perf_counter()
        report, ev = review_service(ctx.store, ctx.config, settings=ctx.settings, now=datetime.now(UTC),
                                    config_path=ctx.config_path, probe=False)
        walls.append(time.perf_counter() - t)
    assert report is not None
    print(json.dumps({"benchmark": "readiness_review", "store": args.artifacts, "release_id": report.release_id,
                      "runs": args.runs, "median_s": round(statistics.median(walls[1:]), 3),
                      "max_s": round(max(walls[1:]), 3), "first_s": round(walls[0], 3),
                      "requests_sampled": len(ev.requests or []), **report.counts.model_dump()}))


if __name__ == "__main__":
    main()
