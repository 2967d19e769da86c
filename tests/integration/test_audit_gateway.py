"""`launchgate audit` on requests made through the real gateway (request log written by it)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from click.testing import CliRunner

from launchgate.cli import main
from launchgate.eval.golden import load_prompt
from tests.support.bundles import EXAMPLE, finalized_release
from tests.support.gateway import running_gateway
from tests.support.sim import running_sim

VARIANTS = EXAMPLE / "variants.yaml"
USER = json.dumps({"subject": "Refund", "body": "charged twice", "customer_tier": "pro"})


def ask(base_url: str, request_id: str, prompt_file: Path) -> httpx.Response:
    body = {"model": "support-bot", "messages": [{"role": "system", "content": load_prompt(prompt_file)},
                                                 {"role": "user", "content": USER}]}
    return httpx.post(f"{base_url}/v1/chat/completions", json=body, headers={"X-Request-ID": request_id},
                      timeout=10)


def test_audit_a_canary_request_and_a_stable_request(tmp_path: Path) -> None:
    run = finalized_release(tmp_path)
    prompts = EXAMPLE / "prompts"
    with running_sim(VARIANTS, "stable") as stable, running_sim(VARIANTS, "good-candidate") as cand:
        # The canary: all traffic to the candidate of this release.
        with running_gateway(stable, cand, str(tmp_path), release_id=run.release_id,
                             initial_candidate_pct=100) as (url, _):
            assert ask(url, "req-canary-1", prompts / "v2.txt").headers["X-LG-Variant"] == "candidate"
        with running_gateway(stable, cand, str(tmp_path), release_id=run.release_id) as (url, _):
            assert ask(url, "req-stable-1", prompts / "v1.txt").headers["X-LG-Variant"] == "stable"

    runner = CliRunner()
    canary = runner.invoke(main, ["audit", "--request-id", "req-canary-1", "--service", "support-bot",
                                  "--artifacts", str(tmp_path), "--json"])
    assert canary.exit_code == 0, canary.output
    report = json.loads(canary.output)
    assert report["release_id"] == run.release_id and report["role"] == "candidate"
    assert report["request"]["prompt_sha256"] == run.hashes["prompt_candidate"]
    assert report["gonogo"]["decision"] == "go" and report["approvals"]["outcome"] == "approved"
    assert all(c["ok"] for c in report["checks"])

    stable_req = runner.invoke(main, ["audit", "--request-id", "req-stable-1", "--service", "support-bot",
                                      "--artifacts", str(tmp_path)])
    assert stable_req.exit_code == 0, stable_req.output
    assert "baseline" in stable_req.output and "not released through launchgate" in stable_req.output
