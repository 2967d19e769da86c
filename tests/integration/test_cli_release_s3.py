"""`launchgate release --artifacts s3://...` as a user runs it, against moto_server on loopback."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import boto3

from launchgate.sim.local import sim_processes
from tests.conftest import EXAMPLE
from tests.support.moto import moto_s3_server


def test_release_writes_the_bundle_to_s3() -> None:
    with moto_s3_server() as endpoint, sim_processes(EXAMPLE / "variants.yaml",
                                                     ["stable", "good-candidate"]) as urls:
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_DEFAULT_REGION": "us-east-1",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing-secret")
        s3.create_bucket(Bucket="demo-bucket")
        r = subprocess.run(
            [sys.executable, "-m", "launchgate.cli", "release", "--config", str(EXAMPLE / "release.yaml"),
             "--artifacts", "s3://demo-bucket/lg", "--set", f"stable.endpoint={urls['stable']}",
             "--set", f"candidate.endpoint={urls['good-candidate']}", "--set", "load_test.enabled=false",
             # About the bundle on S3, not the readiness review (its own tests sign and check it).
             "--set", "readiness.enforce=warn", "--auto-approve"],
            capture_output=True, text=True, env=env, timeout=240,
        )
        assert r.returncode == 0, r.stderr[-3000:]
        result = json.loads(r.stdout.strip().splitlines()[-1])
        assert result["decision"] == "passed"
        assert result["evidence"].startswith("s3://demo-bucket/lg/support-bot/releases/")
        prefix = f"lg/support-bot/releases/{result['release_id']}/"
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="demo-bucket", Prefix=prefix)["Contents"]}
        assert {prefix + n for n in ("manifest.json", "index.json", "decision.json", "eval/eval_report.json")} <= keys
        index = json.loads(s3.get_object(Bucket="demo-bucket", Key=prefix + "index.json")["Body"].read())
        for art in index["artifacts"]:
            body = s3.get_object(Bucket="demo-bucket", Key=prefix + art["name"])["Body"].read()
            assert hashlib.sha256(body).hexdigest() == art["sha256"], art["name"]
        head = s3.head_object(Bucket="demo-bucket", Key=prefix + "manifest.json")
        assert head["ServerSideEncryption"] in ("AES256", "aws:kms")
        assert head["ContentType"].startswith("application/json")
        assert "testing-secret" not in r.stdout + r.stderr
