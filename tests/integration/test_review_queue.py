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
