"""Review-queue items, labels and user feedback beside synthetic request lines, in the gateway's layout.

    write_quality(store, lines, bad_share=0.4, down_share=0.5, seed=3)

Every 5th request is sampled into the queue and 80% of those are labelled (``bad_share`` of them
bad); every 7th request gets feedback (thumbs or a 1-5 score, ``down_share`` of them bad);
``unknown`` more feedback records name request ids the log does not hold. A malformed line ends
each file, as a torn write would leave it.
"""

from __future__ import annotations

import json
import random
from typing import Any

from launchgate.store import layout
from launchgate.store.base import ArtifactStore

SERVICE = "support-bot"


def write_quality(store: ArtifactStore, lines: list[dict[str, Any]], *, bad_share: float, down_share: float,
                  seed: int, unknown: int = 0) -> None:
    """Every 5th request sampled into the queue, 80% of those labelled; feedback on every 7th request."""
    rng = random.Random(seed)
    items, feedback = [], []
    for i, r in enumerate(lines):
        if i % 5 == 0:
            item = {"id": f"{seed}-{i:06d}", "ts": r["ts"], "service": SERVICE, "request_id": r["request_id"],
                    "release_id": r["release_id"], "variant": r["variant"], "answer": {"category": "billing"}}
            items.append(item)
            if rng.random() < 0.8:
                store.put(layout.review_label(SERVICE, item["id"]), json.dumps(
                    {"item_id": item["id"], "verdict": "bad" if rng.random() < bad_share else "good",
                     "by": "alice", "at": r["ts"], "history": [{"verdict": "good"}]}).encode())
        if i % 7 == 0:
            rating: dict[str, Any] = ({"thumbs": "down" if rng.random() < down_share else "up"} if i % 2 else
                                      {"score": 1 if rng.random() < down_share else rng.choice([3, 4, 5])})
            feedback.append({"ts": r["ts"], "service": SERVICE, "request_id": r["request_id"], **rating})
    feedback += [{"ts": lines[-1]["ts"], "request_id": f"nowhere-{k}", "thumbs": "down"} for k in range(unknown)]
    for kind, recs in (("queue", items), ("feedback", feedback)):
        by_day: dict[str, list[bytes]] = {}
        for rec in recs:
            by_day.setdefault(rec["ts"][:10], []).append(json.dumps(rec).encode())
        for day, batch in by_day.items():
            batch_key = layout.review_queue_batch if kind == "queue" else layout.feedback_batch
            key = batch_key(SERVICE, day, f"gw{seed}", 1)
            store.put(key, b"\n".join([*batch, b"{not json"]) + b"\n")
