"""What do labels and feedback add to the drift review, in time and memory?

Writes review_scale.py's synthetic log (5 ISO weeks, ``--lines-per-week`` lines each, gateway format)
plus, in the gateway's layout, a review queue sampling ``--sample`` of the requests, labels on
``--labelled`` of those items (one object each, as `launchgate review-queue label` writes) and
feedback on ``--feedback`` of the requests (with a few unknown request ids). Then, in this process,
over one DuckDB view of the 5 weeks as the drift review opens it:

* ``drift_s``: the drift statistics (reviews/drift_sql.drift_data, without the chart sample);
* ``quality_s``: the labels and feedback (reviews/quality_sql.quality_numbers: read_json of the
  queue and feedback files, the labels of the window's items, the join to the requests);
* ``rss_mb``: this process's peak RSS after both (ru_maxrss), ``rss_before_quality_mb`` before the
  quality step; ``files``: queue and feedback files read (one per hour here; a gateway writes one per
  flush with new items, so a real week can hold many more, each a read);
* ``engines_agree``: the in-memory engine over the same records gives equal figures (only with
  ``--check``: it holds the weeks as Python records, which is what the SQL engine avoids).

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from review_scale import FIRST_MONDAY, SERVICE, WEEKS, write_log  # noqa: E402

from launchgate.requestlog.view import LogView  # noqa: E402
from launchgate.reviews.config import DriftReviewConfig  # noqa: E402
from launchgate.reviews.drift_sql import drift_data  # noqa: E402
from launchgate.reviews.quality import quality_features, quality_from_records, read_quality_records  # noqa: E402
from launchgate.reviews.quality_sql import quality_numbers  # noqa: E402
from launchgate.store import LocalStore, layout  # noqa: E402


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_quality(store: Path, sample: float, labelled: float, feedback: float, seed: int = 2) -> dict[str, int]:
    """Queue items, labels and feedback beside every hour file of the log (read back line by line)."""
    rng = random.Random(seed)
    local = LocalStore(store)
    counts = {"items": 0, "labels": 0, "feedback": 0, "files": 0}
    for hour_file in sorted((store / SERVICE / "logs" / "requests").rglob("*.jsonl")):
        day, hour = hour_file.parent.name, hour_file.name[:2]
        items, ratings = [], []
        for line in hour_file.read_text().splitlines():
            r = json.loads(line)
            if rng.random() < sample:
                item = {"id": f"{r['request_id']}-q", "ts": r["ts"], "service": SERVICE, "request_id": r["request_id"],
                        "release_id": r["release_id"], "variant": r["variant"], "answer": {"category": "billing"}}
                items.append(json.dumps(item))
                if rng.random() < labelled:
                    local.put(layout.review_label(SERVICE, item["id"]), json.dumps(
                        {"item_id": item["id"], "verdict": "bad" if rng.random() < 0.1 else "good", "by": "ana",
                         "at": r["ts"], "expected": None, "history": []}).encode())
                    counts["labels"] += 1
            if rng.random() < feedback:
                known = rng.random() > 0.01
                ratings.append(json.dumps({"ts": r["ts"], "service": SERVICE,
                                           "request_id": r["request_id"] if known else f"gone-{rng.random()}",
                                           "thumbs": "down" if rng.random() < 0.1 else "up"}))
        for key, lines in ((layout.review_queue_batch(SERVICE, day, f"gw{hour}", 1), items),
                           (layout.feedback_batch(SERVICE, day, f"gw{hour}", 1), ratings)):
            if lines:
                local.put(key, ("\n".join(lines) + "\n").encode())
                counts["files"] += 1
        counts["items"] += len(items)
        counts["feedback"] += len(ratings)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines-per-week", type=int, default=100_000)
    ap.add_argument("--sample", type=float, default=0.01, help="share of requests in the review queue")
    ap.add_argument("--labelled", type=float, default=0.3, help="share of queue items labelled")
    ap.add_argument("--feedback", type=float, default=0.02, help="share of requests rated by their user")
    ap.add_argument("--check", action="store_true", help="also run the in-memory engine and compare")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="quality-review-") as tmp:
        store = Path(tmp) / "store"
        t = time.perf_counter()
        lines, _ = write_log(store, args.lines_per_week)
        counts = write_quality(store, args.sample, args.labelled, args.feedback)
        generate_s = round(time.perf_counter() - t, 2)
        origin = datetime.combine(FIRST_MONDAY, datetime.min.time(), UTC)
        end = origin + timedelta(weeks=WEEKS)
        current = end - timedelta(weeks=1)
        local = LocalStore(store)
        with LogView.open(local, SERVICE, origin, end) as view:
            t = time.perf_counter()
            drift_data(view.con, current, DriftReviewConfig(), charts=False)
            drift_s = round(time.perf_counter() - t, 2)
            rss_before = _rss_mb()
            t = time.perf_counter()
            data = quality_numbers(view, origin, end)
            quality_s = round(time.perf_counter() - t, 2)
            rss_after = _rss_mb()
        features, _ = quality_features(data, WEEKS - 1, DriftReviewConfig())
        agree = None
        if args.check:
            from launchgate.requestlog.reader import read_requests

            mem = quality_from_records(read_requests(local, SERVICE, origin, end).records,
                                       *read_quality_records(local, SERVICE, origin, end), origin, end)
            agree = mem == data
        print(json.dumps({
            "lines": lines, "lines_per_week": args.lines_per_week, "queue_items": counts["items"],
            "labels": counts["labels"], "feedback": counts["feedback"], "drift_s": drift_s, "quality_s": quality_s,
            "rss_before_quality_mb": rss_before, "rss_mb": rss_after, "generate_s": generate_s,
            "files": counts["files"], "rows": len(data.rows), "unknown_feedback": sum(data.unknown_feedback.values()),
            "verdicts": {f.name: f.phase.value for f in features}, "engines_agree": agree,
        }))


if __name__ == "__main__":
    main()
