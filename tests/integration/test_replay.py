"""launchgate replay through the real gateway's request log, two simulated versions and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
from click.testing import CliRunner

from launchgate.cli import main
from tests.support.gateway import EXAMPLE, running_gateway
from tests.support.sim import EXAMPLE_VARIANTS, running_sim

TEXTS = ["I was charged twice on invoice {i}", "The app crashes when I open settings ({i})",
         "My parcel {i} has not arrived yet", "How do I reset my password for account {i}?"]


def test_replay_failed_requests_against_the_candidate(tmp_path: Path) -> None:
    store = tmp_path / "store"
    # production: a stable that fails about half of its requests
    with running_sim(EXAMPLE_VARIANTS, "stable", error_rate=0.5) as url, \
         running_gateway(url, None, str(store), upstream_retries=0) as (base, _token):
        statuses = [httpx.post(f"{base}/v1/chat/completions", timeout=10, json={
            "model": "support-bot", "messages": [{"role": "user", "content": TEXTS[i % 4].format(i=i)}]}).status_code
            for i in range(16)]
    failed = statuses.count(500)
    assert 0 < failed < 16
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    with running_sim(EXAMPLE_VARIANTS, "stable") as stable, \
         running_sim(EXAMPLE_VARIANTS, "stable", category_flip_rate=1.0) as cand:
        args = ["replay", "--config", str(EXAMPLE / "release.yaml"), "--from-log", today, "--filter", "errors",
                "--against", "candidate", "--set", f"stable.endpoint={stable}", "--set", f"candidate.endpoint={cand}",
                "--set", "candidate.model=support-bot-stable", "--set", f"artifacts.uri={store}"]
        out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    reports = list((store / "support-bot" / "reviews" / "replay").glob("*/replay_report.json"))
    assert len(reports) == 1
    for name in ("replay.md", "replay.png"):
        assert (reports[0].parent / name).is_file()
    report = json.loads(reports[0].read_text())
    s = report["summary"]
    assert s["requests"] == failed and s["compared"] == failed  # the failed requests, now answered by both
    assert s["fields"]["category"] == failed and s["fields"]["priority"] == 0  # the candidate's flipped categories
    assert all(r["logged"]["status"] == 500 for r in report["results"])
    bad = CliRunner().invoke(main, ["replay", "--config", str(EXAMPLE / "release.yaml"), "--from-log", "yesterday",
                                    "--set", f"artifacts.uri={store}"])
    assert bad.exit_code == 2 and "--from-log 'yesterday'" in bad.output
