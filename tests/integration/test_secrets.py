"""Secret references read from env, a resolver (how the CLI and tasks pass Prefect's Secret blocks) and AWS
Secrets Manager on moto_server (boto3 over HTTP); no value ever appears in an error."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from launchgate.access.secrets import read_secret
from launchgate.errors import SecretNotFound, SecretsUnavailable
from tests.support.moto import free_port, moto_s3_server

VALUE = "s3cr3t-value-never-in-messages"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_s3_server() as url:  # moto_server answers every service on one port
        yield url


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str) -> str:
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIDUMMYTESTKEY00000", "AWS_SECRET_ACCESS_KEY": "dummy",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
                        "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "n"),
                        "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return endpoint


def test_aws_secrets_manager_plain_and_json_field(aws: str) -> None:
    sm = boto3.client("secretsmanager")
    plain, structured = f"lg/{uuid.uuid4().hex}", f"lg/{uuid.uuid4().hex}"
    sm.create_secret(Name=plain, SecretString=VALUE)
    sm.create_secret(Name=structured, SecretString=json.dumps({"hmac": VALUE, "other": "x"}))
    assert read_secret(f"aws:{plain}") == VALUE
    assert read_secret(f"aws:{structured}#hmac") == VALUE
    with pytest.raises(SecretNotFound) as missing:
        read_secret("aws:lg/does-not-exist")
    assert "ResourceNotFoundException" in str(missing.value)
    with pytest.raises(SecretNotFound) as nofield:
        read_secret(f"aws:{structured}#nope")
    assert VALUE not in str(nofield.value) and "nope" in str(nofield.value)


def test_aws_unreachable_is_unavailable_not_a_traceback(monkeypatch: pytest.MonkeyPatch, aws: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens
    with pytest.raises(SecretsUnavailable) as down:
        read_secret("aws:lg/any")
    assert "unreachable" in str(down.value)


def test_env_and_a_passed_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LG_TEST_SECRET", VALUE)
    assert read_secret("env:LG_TEST_SECRET") == VALUE
    monkeypatch.delenv("LG_TEST_SECRET")
    with pytest.raises(SecretNotFound) as unset:
        read_secret("env:LG_TEST_SECRET")
    assert "LG_TEST_SECRET" in str(unset.value)
    blocks = {"subject-key": VALUE}
    assert read_secret("prefect:subject-key", resolvers={"prefect": blocks.__getitem__}) == VALUE
    with pytest.raises(SecretNotFound):
        read_secret("prefect:other", resolvers={"prefect": blocks.__getitem__})
    with pytest.raises(SecretNotFound) as no_resolver:  # the core never imports Prefect itself
        read_secret("prefect:subject-key")
    assert "resolver" in str(no_resolver.value)


def test_gateway_admin_tokens_and_upstream_keys_rotate_from_secrets_manager(aws: str) -> None:
    from launchgate.gateway.config import set_upstream_keys, upstream_key
    from launchgate.gateway.secretset import GatewaySecrets

    sm = boto3.client("secretsmanager")
    admin, upstream = f"lg/{uuid.uuid4().hex}", f"lg/{uuid.uuid4().hex}"
    old, new = "o" * 32, "n" * 32
    sm.create_secret(Name=admin, SecretString=json.dumps({"current": old}))
    sm.create_secret(Name=upstream, SecretString="sk-upstream-one")
    secrets = GatewaySecrets([f"aws:{admin}#current", f"aws:{admin}#next"], {"LG_TEST_UPSTREAM_KEY": f"aws:{upstream}"})
    try:
        assert [(e.name, e.change) for e in secrets.load()] == [(f"aws:{admin}#current", "first_seen"),
                                                                ("LG_TEST_UPSTREAM_KEY", "first_seen")]
        assert secrets.allows(f"Bearer {old}".encode()) and not secrets.allows(f"Bearer {new}".encode())
        assert upstream_key("LG_TEST_UPSTREAM_KEY") == "sk-upstream-one"

        sm.put_secret_value(SecretId=admin, SecretString=json.dumps({"current": old, "next": new}))  # window opens
        sm.put_secret_value(SecretId=upstream, SecretString="sk-upstream-two")
        assert sorted((e.name, e.change) for e in secrets.load()) == [
            ("LG_TEST_UPSTREAM_KEY", "rotated"), (f"aws:{admin}#next", "appeared")]
        assert secrets.allows(f"Bearer {old}".encode()) and secrets.allows(f"Bearer {new}".encode())
        assert upstream_key("LG_TEST_UPSTREAM_KEY") == "sk-upstream-two"

        sm.put_secret_value(SecretId=admin, SecretString=json.dumps({"current": new}))  # window closes
        assert sorted((e.name, e.change) for e in secrets.load()) == [
            (f"aws:{admin}#current", "rotated"), (f"aws:{admin}#next", "cleared")]
        assert not secrets.allows(f"Bearer {old}".encode()) and secrets.allows(f"Bearer {new}".encode())
    finally:
        set_upstream_keys({})
