"""The review queue through the real gateway and the CLI: sampled answers, redacted, labelled by a person."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import yaml
from click.testing import CliRunner

from launchgate.cli import main
from tests.support.gateway import EXAMPLE, running_gateway
from tests.support.sim import EXAMPLE_VARIANTS, running_sim


def _config(tmp_path: Path, store: Path) -> Path:
    data = yaml.safe_load((EXAMPLE / "release.yaml").read_text())
    data["artifacts"]["uri"] = str(store)
    path = tmp_path / "release.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_quality_sample_from_the_release_config_applies_when_the_gateway_starts(tmp_path: Path) -> None:
    from launchgate.config import load_config, parse_overrides
    from launchgate.gateway.config import from_release_config

    release = load_config(EXAMPLE / "release.yaml", parse_overrides(("quality.sample=1", "quality.answer_chars=9")))
    cfg = from_release_config(release)
    assert (cfg.review_sample, cfg.review_answer_chars) == (1.0, 9)
    store = tmp_path / "store"
    with running_sim(EXAMPLE_VARIANTS, "stable") as url, \
         running_gateway(url, None, str(store), review_sample=cfg.review_sample) as (base, token):
        got = httpx.get(f"{base}/admin/review-queue", headers={"Authorization": f"Bearer {token}"}).json()
        assert got["sample"] == 1.0
        body = {"model": "support-bot", "messages": [{"role": "user", "content": "Where is my parcel?"}]}
        assert httpx.post(f"{base}/v1/chat/completions", json=body, timeout=10).status_code == 200
    out = CliRunner().invoke(main, ["review-queue", "list", "--config", str(_config(tmp_path, store)), "--json"])
    assert out.exit_code == 0, out.output
    assert len(out.output.splitlines()) == 1  # sampled without any POST /admin/review-queue


def test_sampled_answers_are_listed_and_labelled_and_bad_input_exits_2(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with running_sim(EXAMPLE_VARIANTS, "stable") as url, \
         running_gateway(url, None, str(store), release_id="r-1") as (base, token):
        admin = {"Authorization": f"Bearer {token}"}
        assert httpx.post(f"{base}/admin/review-queue", json={"sample": 2}, headers=admin).status_code == 400
        assert httpx.post(f"{base}/admin/review-queue", json={"sample": 1.0}, headers=admin).status_code == 200
        for text in ("My parcel 1 has not arrived, mail me at jane@example.com", "The app crashes on start"):
            body = {"model": "support-bot", "messages": [{"role": "user", "content": text}]}
            r = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=10)
            assert r.status_code == 200
        httpx.post(f"{base}/admin/review-queue", json={"sample": 0}, headers=admin)
        r = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=10)  # not sampled any more
    cfg = str(_config(tmp_path, store))
    cli = CliRunner()
    out = cli.invoke(main, ["review-queue", "list", "--config", cfg, "--json"])
    assert out.exit_code == 0, out.output
    queued = [json.loads(line) for line in out.output.splitlines()]
    assert len(queued) == 2
    first = queued[0]
    assert first["release_id"] == "r-1" and first["variant"] == "stable" and first["request_id"]
    assert "jane@example.com" not in json.dumps(queued) and "[EMAIL]" in first["prompt_redacted"]
    assert first["answer"]["category"] == "shipping"
    done = cli.invoke(main, ["review-queue", "label", first["id"], "--config", cfg, "--as", "ana", "--verdict", "bad",
                             "--expected", '{"category": "shipping", "priority": "high"}'])
    assert done.exit_code == 0, done.output
    left = cli.invoke(main, ["review-queue", "list", "--config", cfg])
    assert first["id"] not in left.output and "1 item(s) to label" in left.output
    labelled = cli.invoke(main, ["review-queue", "list", "--config", cfg, "--all", "--json"])
    lab = next(json.loads(x)["label"] for x in labelled.output.splitlines() if first["id"] in x)
    assert lab["verdict"] == "bad" and lab["by"] == "ana" and lab["expected"]["priority"] == "high"
    # bad input: a clear message and exit 2, nothing written
    unknown = cli.invoke(main, ["review-queue", "label", "nope", "--config", cfg, "--as", "ana", "--verdict", "good"])
    assert unknown.exit_code == 2 and "no review item 'nope'" in unknown.output
    malformed = cli.invoke(main, ["review-queue", "label", first["id"], "--config", cfg, "--as", "ana",
                                  "--verdict", "bad", "--expected", "{category: billing"])
    assert malformed.exit_code == 2 and "--expected is not JSON" in malformed.output
    verdict = cli.invoke(main, ["review-queue", "label", first["id"], "--config", cfg, "--as", "ana",
                                "--verdict", "meh"])
    assert verdict.exit_code == 2
    still = cli.invoke(main, ["review-queue", "list", "--config", cfg, "--all", "--json"])
    assert next(json.loads(x)["label"] for x in still.output.splitlines() if first["id"] in x)["verdict"] == "bad"
    # the bad, corrected answer becomes a golden-case candidate
    proposed = cli.invoke(main, ["golden", "propose", "--config", cfg, "--from-queue"])
    assert proposed.exit_code == 0, proposed.output
    cases = [json.loads(x) for x in proposed.output.splitlines()]
    assert len(cases) == 1 and cases[0]["id"] == f"review-{first['id']}"
    assert cases[0]["expected"]["priority"] == "high" and "[EMAIL]" in cases[0]["input"]["body"]


def test_feedback_is_joined_to_its_request_and_release(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with running_sim(EXAMPLE_VARIANTS, "stable") as url, \
         running_gateway(url, None, str(store), release_id="r-2") as (base, _token):
        body = {"model": "support-bot", "messages": [{"role": "user", "content": "Where is my parcel?"}]}
        rid = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=10).headers["X-Request-ID"]
        ok = httpx.post(f"{base}/v1/feedback", json={"request_id": rid, "thumbs": "down",
                                                     "comment": "wrong, write to bob@example.com"})
        assert ok.status_code == 200 and ok.json()["release_id"] == "r-2"
        assert httpx.post(f"{base}/v1/feedback", json={"request_id": rid, "score": 4}).status_code == 200
        unknown = httpx.post(f"{base}/v1/feedback", json={"request_id": "nope", "score": 3})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_request"
        big = httpx.post(f"{base}/v1/feedback", content=b'{"request_id": "' + b"x" * 9000 + b'"}')
        assert big.status_code == 413
        for bad in ({"request_id": rid}, {"request_id": rid, "score": 9}, {"request_id": rid, "thumbs": "up",
                                                                            "score": 2}):
            r = httpx.post(f"{base}/v1/feedback", json=bad)
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request", bad
    lines = [json.loads(x) for f in sorted((store / "support-bot" / "quality" / "feedback").glob("*/*.jsonl"))
             for x in f.read_text().splitlines()]
    assert [(x["request_id"], x["thumbs"], x["score"]) for x in lines] == [(rid, "down", None), (rid, None, 4)]
    assert lines[0]["release_id"] == "r-2" and lines[0]["variant"] == "stable"
    assert "bob@example.com" not in lines[0]["comment_redacted"] and "[EMAIL]" in lines[0]["comment_redacted"]
