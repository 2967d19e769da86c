"""What the real gateway stores (request log, review queue, feedback) and the CLI's labels feed the
post-launch review: both engines read them alike, feedback joined to its request's release and variant."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import yaml
from click.testing import CliRunner

from launchgate.cli import main
from launchgate.requestlog.reader import read_requests
from launchgate.reviews.config import DriftReviewConfig
from launchgate.reviews.postlaunch import Promotion, review, review_markdown
from launchgate.reviews.quality import quality_from_records, quality_summary, read_quality_records
from launchgate.store import LocalStore
from tests.support.gateway import EXAMPLE, running_gateway
from tests.support.sim import EXAMPLE_VARIANTS, running_sim

SERVICE = "support-bot"


def test_gateway_labels_and_feedback_reach_the_post_launch_review(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    started = datetime.now(UTC) - timedelta(hours=1)
    with running_sim(EXAMPLE_VARIANTS, "stable") as url, \
         running_gateway(url, None, str(store_dir), release_id="r-7", review_sample=1.0) as (base, _token):
        ids = []
        for i in range(6):
            body = {"model": "support-bot", "messages": [{"role": "user", "content": f"Where is parcel {i}?"}]}
            ids.append(httpx.post(f"{base}/v1/chat/completions", json=body, timeout=10).headers["X-Request-ID"])
        for rid, rating in zip(ids, ({"thumbs": "down"}, {"score": 2}, {"score": 5}, {"thumbs": "up"}), strict=False):
            assert httpx.post(f"{base}/v1/feedback", json={"request_id": rid, **rating}).status_code == 200
    data = yaml.safe_load((EXAMPLE / "release.yaml").read_text())
    data["artifacts"]["uri"] = str(store_dir)
    cfg = tmp_path / "release.yaml"
    cfg.write_text(yaml.safe_dump(data))
    cli = CliRunner()
    items = [json.loads(x) for x in cli.invoke(main, ["review-queue", "list", "--config", str(cfg), "--json"])
             .output.splitlines()]
    assert len(items) == 6
    for item, verdict in zip(items, ("good", "good", "bad", "good"), strict=False):
        out = cli.invoke(main, ["review-queue", "label", item["id"], "--config", str(cfg), "--as", "ana",
                                "--verdict", verdict])
        assert out.exit_code == 0, out.output

    store = LocalStore(store_dir)
    r = review(store, SERVICE, Promotion(release_id="r-7", promoted_at=started), DriftReviewConfig())
    [row] = r.quality["rows"]  # type: ignore[index]
    assert (row["release_id"], row["variant"], row["sampled"]) == ("r-7", "stable", 6)
    assert row["quality"]["labelled"] == 4 and row["quality"]["rate"] == 0.75
    assert row["feedback"] == 4 and row["bad_feedback"]["bad"] == 2 and row["mean_score"] == 3.5
    assert row["thumbs_up_rate"] == 0.5 and r.quality["unknown_feedback"] == {}  # type: ignore[index]
    assert "| r-7 | stable | 6 | 4 | 75.0%" in review_markdown(r)
    # the in-memory engine reads the same files to the same figures
    origin, end = started - timedelta(days=7), started + timedelta(days=7)
    mem = quality_from_records(read_requests(store, SERVICE, origin, end).records,
                               *read_quality_records(store, SERVICE, origin, end), origin, end)
    assert quality_summary(mem) == r.quality
