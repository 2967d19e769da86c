"""The release flow keeps going when S3 disappears mid-release, and loses no artifact.

S3 is moto_server behind tests/support/tcpproxy.py: the proxy cuts the connection after the
fifth PUT (manifest, the config audit line, the output schema baseline, the freeze evidence, early
contracts evidence) and stays down until the flow has finished.
Then `launchgate flush-spool` uploads the rest and the bucket is checked against index.json.
(tests/integration/test_s3_faults.py covers the other faults at store level, faster.)
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import boto3
import pytest

from flows.release import release
from tests.conftest import EXAMPLE, ROOT
from tests.support.moto import moto_s3_server
from tests.support.sim import running_sim
from tests.support.tcpproxy import TcpProxy, tcp_proxy


@pytest.fixture
def s3_behind_proxy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[TcpProxy, str, dict[str, str]]]:
    with ExitStack() as stack:
        moto = stack.enter_context(moto_s3_server())
        proxy = stack.enter_context(tcp_proxy(moto))
        env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": proxy.endpoint,
               "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
               "LAUNCHGATE_S3_MAX_ATTEMPTS": "2", "LAUNCHGATE_S3_CONNECT_TIMEOUT_S": "1",
               "LAUNCHGATE_SPOOL_DIR": str(tmp_path / "spool")}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("LAUNCHGATE_ARTIFACTS_URI", raising=False)
        yield proxy, moto, env


def test_s3_outage_mid_release_loses_no_artifact(s3_behind_proxy: tuple[TcpProxy, str, dict[str, str]]) -> None:
    proxy, moto, env = s3_behind_proxy
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing-secret")
    s3.create_bucket(Bucket="evidence")
    proxy.cut_after_puts(5)
    with ExitStack() as stack:
        stable = stack.enter_context(running_sim(EXAMPLE / "variants.yaml", "stable"))
        candidate = stack.enter_context(running_sim(EXAMPLE / "variants.yaml", "good-candidate"))
        result = release(config=str(EXAMPLE / "release.yaml"), artifacts="s3://evidence/lg", auto_approve=True,
                         overrides={"stable.endpoint": stable, "candidate.endpoint": candidate,
                                    "load_test.enabled": False})
    assert proxy.cuts == 1 and not proxy.is_up  # S3 really was gone for most of the release
    # The run went on to a decision. Go/no-go could not read the freeze state from S3, and a
    # check that cannot be made never promotes: blocked, nothing shifted.
    assert result["decision"] == "blocked" and result["exit_code"] == 3, result["reasons"]
    assert any("release_freeze (error)" in r for r in result["reasons"]), result["reasons"]
    prefix = f"lg/support-bot/releases/{result['release_id']}/"
    in_bucket = {o["Key"] for o in s3.list_objects_v2(Bucket="evidence", Prefix=prefix).get("Contents", [])}
    assert prefix + "manifest.json" in in_bucket and len(in_bucket) <= 4  # the config audit line is under state/

    proxy.restore()
    flushed = subprocess.run([sys.executable, "-m", "launchgate.cli", "flush-spool"], capture_output=True,
                             text=True, env={**os.environ, **env}, cwd=ROOT, timeout=60)
    assert flushed.returncode == 0, flushed.stdout + flushed.stderr

    index = json.loads(s3.get_object(Bucket="evidence", Key=prefix + "index.json")["Body"].read())
    # Written while S3 was down: it says which artifacts were only spooled at that moment.
    assert index["pending"] and set(index["pending"]) <= {a["name"] for a in index["artifacts"]}
    assert {a["state"] for a in index["artifacts"]} == {"persisted", "spooled"}
    in_bucket = {o["Key"] for o in s3.list_objects_v2(Bucket="evidence", Prefix=prefix)["Contents"]}
    # index.json, and report.html (the page drawn from the index, written after it) are the only unlisted files.
    unlisted = {prefix + "index.json", prefix + "report.html"}
    assert in_bucket == {prefix + a["name"] for a in index["artifacts"]} | unlisted
    for art in index["artifacts"]:
        body = s3.get_object(Bucket="evidence", Key=prefix + art["name"])["Body"].read()
        assert hashlib.sha256(body).hexdigest() == art["sha256"], art["name"]
    for name in ("decision.json", "eval/eval_report.json", "gonogo.json", "notifications.jsonl", "review.md"):
        assert prefix + name in in_bucket, name
