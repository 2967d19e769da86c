"""Client API keys on /v1, `launchgate keys`, and admin token rotation without a restart, over real loopback:
the gateway in-process (tests/support/gateway.py) or as a real `launchgate gateway` process (SIGHUP), the
model simulator as upstream, the keys commands as a person runs them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from launchgate.access.registry import create_key, read_registry, revoke_key
from launchgate.cli import main
from launchgate.config import load_config
from launchgate.config.access import Access
from launchgate.store import LocalStore, layout
from tests.conftest import EXAMPLE, ROOT
from tests.support.gateway import running_gateway
from tests.support.sim import EXAMPLE_VARIANTS, running_sim

SVC = "support-bot"
BODY = {"model": "support-bot", "messages": [{"role": "user", "content": "Where is my order?"}]}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def service(tmp_path: Path) -> Path:
    folder = tmp_path / "svc"
    shutil.copytree(EXAMPLE, folder)
    cfg = folder / "release.yaml"
    cfg.write_text(cfg.read_text().replace("  uri: .launchgate/store\n", f"  uri: {tmp_path / 'store'}\n", 1))
    return cfg


def test_keys_on_v1_401_403_and_a_keys_own_rate_limit(service: Path, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    config = load_config(service, check_files=False)
    now = datetime.now(UTC)
    scoped, scoped_token = create_key(store, config, by="alice", tenant="acme", models=["support-bot"],
                                      requests_per_minute=3)
    _, revoked_token = create_key(store, config, by="alice", tenant="acme", models=[])
    revoke_key(store, config, revoked_token[3:15], by="bob")
    _, expired_token = create_key(store, config, by="alice", tenant="acme", models=[], expires_in_days=1,
                                  now=now - timedelta(days=2))
    _, frugal_token = create_key(store, config, by="alice", tenant="initech", models=[], daily_usd=1e-9)
    with running_sim(EXAMPLE_VARIANTS, "stable") as stable, \
            running_gateway(stable, None, str(tmp_path / "store"), access=Access(required=True)) as (url, admin):
        chat = f"{url}/v1/chat/completions"
        with httpx.Client(timeout=10) as c:
            wrong = scoped_token[:-4] + ("AAAA" if not scoped_token.endswith("AAAA") else "BBBB")
            for headers, why in (({}, "needs an API key"), (_bearer("sk-not-ours"), "unknown API key"),
                                 (_bearer(wrong), "unknown API key"), (_bearer(revoked_token), "revoked"),
                                 (_bearer(expired_token), "expired")):
                r = c.post(chat, json=BODY, headers=headers)
                err = r.json()["error"]
                assert r.status_code == 401 and err["code"] == "invalid_api_key", r.text
                assert err["type"] == "invalid_request_error" and why in err["message"], err
                assert scoped_token[15:] not in r.text and revoked_token[15:] not in r.text
            for path in ("/v1/models", "/v1/feedback"):  # every /v1 route, feedback like the API
                r = c.request("GET" if path.endswith("models") else "POST", url + path, json={})
                assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key", (path, r.text)
            assert c.get(f"{url}/health").status_code == 200  # probes and admin need no client key
            assert c.get(f"{url}/admin/state", headers=_bearer(admin)).status_code == 200
            refused = {s.labels["reason"]: s.value for f in text_string_to_metric_families(c.get(f"{url}/metrics").text)
                       if f.name == "launchgate_gateway_auth_refusals" for s in f.samples if s.name.endswith("_total")}
            assert refused == {"missing": 3, "unknown": 2, "revoked": 1, "expired": 1}, refused

            ok = c.post(chat, json=BODY, headers={**_bearer(scoped_token), "X-LG-Tenant": "someone-else"})
            assert ok.status_code == 200, ok.text
            other = c.post(chat, json={**BODY, "model": "gpt-4o"}, headers=_bearer(scoped_token))
            assert other.status_code == 403 and other.json()["error"]["code"] == "model_not_allowed", other.text
            assert other.json()["error"]["param"] == "model" and "support-bot" in other.json()["error"]["message"]
            # rpm 3: the scope check comes first, so the 403 spent none of this minute's three requests
            assert [c.post(chat, json=BODY, headers=_bearer(scoped_token)).status_code for _ in range(2)] == [200, 200]
            limited = c.post(chat, json=BODY, headers=_bearer(scoped_token))
            assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited", limited.text
            assert scoped.id in limited.json()["error"]["message"] and int(limited.headers["Retry-After"]) >= 1
            ids = {ok.headers["X-Request-ID"]}
            # a key's daily budget: the first answer spends more than $1e-9, the next is refused until 00:00 UTC
            assert c.post(chat, json=BODY, headers=_bearer(frugal_token)).status_code == 200
            spent = c.post(chat, json=BODY, headers=_bearer(frugal_token))
            assert spent.status_code == 429 and spent.json()["error"]["code"] == "key_budget_exceeded", spent.text
            keys = c.get(f"{url}/admin/access", headers=_bearer(admin)).json()["keys"]
            assert (keys["keys"], keys["active"], keys["last_error"]) == (4, 2, None)
            assert c.get(f"{url}/admin/access").status_code == 401
    written = b"".join(store.get(k) for k in store.list(f"{SVC}/"))
    for token in (scoped_token, revoked_token, expired_token, frugal_token):
        assert token.encode() not in written and token[15:].encode() not in written  # never a key in the store
    lines = [json.loads(x) for k in store.list(layout.requests_prefix(SVC)) for x in store.get(k).splitlines()]
    served = [ln for ln in lines if ln["request_id"] in ids]
    # the key's tenant, not the header's: the identity of the per-tenant limits and of the log
    assert [(ln["key_id"], ln["tenant"], ln["status"]) for ln in served] == [(scoped.id, "acme", 200)]
    assert {(ln["status"], ln["error_code"]) for ln in lines} == {(200, None), (403, "model_not_allowed"),
                                                                  (429, "rate_limited"), (429, "key_budget_exceeded")}


def test_launchgates_own_traffic_carries_the_configured_key(service: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from launchgate.canary.traffic import send_requests

    store = LocalStore(tmp_path / "store")
    _, token = create_key(store, load_config(service, check_files=False), by="alice", tenant="canary", models=[])
    prompts = [[{"role": "user", "content": "Where is my order?"}]]
    with running_sim(EXAMPLE_VARIANTS, "stable") as stable, \
            running_gateway(stable, None, str(tmp_path / "store"), access=Access(required=True)) as (url, _):
        assert send_requests(f"{url}/v1", SVC, prompts, 2).statuses == {401: 2}
        monkeypatch.setenv("LAUNCHGATE_GATEWAY_API_KEY", token)
        assert send_requests(f"{url}/v1", SVC, prompts, 2).statuses == {200: 2}


def test_the_keys_tenant_is_the_identity_of_the_tenant_budget(service: Path, tmp_path: Path) -> None:
    from launchgate.config.guardrails import TenantBudgets

    config = load_config(service, check_files=False)
    assert config.guardrails is not None
    rails = config.guardrails.model_copy(update={"tenant_budgets": TenantBudgets(daily_usd={"acme": 1e-7})})
    _, token = create_key(LocalStore(tmp_path / "store"), config, by="alice", tenant="acme", models=[])
    headers = {**_bearer(token), "X-LG-Tenant": "someone-without-a-cap"}  # a header cannot change tenant
    with running_sim(EXAMPLE_VARIANTS, "stable") as stable, \
            running_gateway(stable, None, str(tmp_path / "store"), access=Access(required=True),
                            guardrails=rails) as (url, _), httpx.Client(timeout=10) as c:
        assert c.post(f"{url}/v1/chat/completions", json=BODY, headers=headers).status_code == 200
        spent = c.post(f"{url}/v1/chat/completions", json=BODY, headers=headers)
        assert spent.status_code == 429 and spent.json()["error"]["code"] == "tenant_budget_exceeded", spent.text
        assert "acme" in spent.json()["error"]["message"]


def test_no_keys_on_loopback_unless_configured(tmp_path: Path) -> None:
    assert not Access().keys_required("127.0.0.1") and not Access().keys_required("::1")
    assert Access().keys_required("0.0.0.0") and Access().keys_required("10.0.0.5")
    assert Access(required=True).keys_required("127.0.0.1") and not Access(required=False).keys_required("0.0.0.0")
    with running_sim(EXAMPLE_VARIANTS, "stable") as stable, \
            running_gateway(stable, None, str(tmp_path / "store")) as (url, _):
        assert httpx.post(f"{url}/v1/chat/completions", json=BODY, timeout=10).status_code == 200


@pytest.mark.parametrize("args", [["create", "--tenant", "acme"], ["list"], ["revoke", "0123456789ab"]])
def test_every_keys_command_refuses_an_unlisted_person(service: Path, tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(main, ["keys", *args, "--config", str(service), "--as", "mallory"])
    assert result.exit_code == 3 and "--as 'mallory'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    log = LocalStore(tmp_path / "store").get(layout.api_keys_log(SVC)).decode()
    assert json.loads(log)["outcome"] == "refused" and json.loads(log)["by"] == "mallory"
    assert read_registry(LocalStore(tmp_path / "store"), SVC).keys == []


@pytest.mark.parametrize(("args", "field"), [
    (["create", "--tenant", "acme corp"], "--tenant"), (["create", "--tenant", "a", "--model", "a b"], "--model"),
    (["create"], "--tenant"), (["revoke", "0123456789ab"], "KEY_ID"), (["create", "--rotate", "nope"], "--rotate"),
])
def test_bad_keys_input_exits_2_naming_the_field(service: Path, args: list[str], field: str) -> None:
    result = CliRunner().invoke(main, ["keys", *args, "--config", str(service), "--as", "alice"])
    assert result.exit_code == 2 and field in result.stderr and "Traceback" not in result.stderr, result.stderr


# ------------------------------------------------------------------ a real gateway process: poll and SIGHUP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_serving(proc: subprocess.Popen[bytes], port: int) -> None:
    """Until /health answers: the socket listens before the app has started, an answer means it has."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError(proc.stderr.read().decode() if proc.stderr and proc.poll() is not None else "not serving")


def _keys_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launchgate.cli", "keys", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def _until(check: Any, limit_s: float) -> float:
    """Seconds until ``check()`` is true; fails after ``limit_s``."""
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < limit_s, f"not within {limit_s} s"
        time.sleep(0.05)
    return time.monotonic() - t0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One `launchgate gateway` process for the tests below (a start costs seconds): keys required (poll 1 s),
    its admin token from two files, current and next."""
    tmp_path = tmp_path_factory.mktemp("served")
    shutil.copytree(EXAMPLE, tmp_path / "svc")
    service = tmp_path / "svc" / "release.yaml"
    service.write_text(service.read_text().replace("  uri: .launchgate/store\n", f"  uri: {tmp_path / 'store'}\n", 1))
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "current").write_text("A" * 32 + "\n")
    with service.open("a") as fh:
        fh.write(f"access:\n  required: true\n  poll_s: 1\n  managers: [carol]\n"
                 f"  admin_tokens: ['file:{secrets / 'current'}', 'file:{secrets / 'next'}']\n")
    store = LocalStore(tmp_path / "store")
    _, traffic_token = create_key(store, load_config(service, check_files=False), by="carol", tenant="acme",
                                  models=[])
    port = _free_port()
    with running_sim(EXAMPLE_VARIANTS, "stable") as stable:
        cmd = [sys.executable, "-m", "launchgate.cli", "gateway", "--config", str(service), "--port", str(port),
               "--set", f"stable.endpoint={stable}", "--set", f"candidate.endpoint={stable}"]
        env = {k: v for k, v in os.environ.items() if k != "LAUNCHGATE_GATEWAY_ADMIN_TOKEN"}
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_serving(proc, port)
            yield {"url": f"http://127.0.0.1:{port}", "proc": proc, "secrets": secrets, "config": service,
                   "store": store, "traffic_token": traffic_token}
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def test_keys_create_and_revoke_reach_a_running_gateway_within_the_poll_interval(served: dict[str, Any]) -> None:
    chat, cfg = f"{served['url']}/v1/chat/completions", str(served["config"])
    done = _keys_cli("create", "--config", cfg, "--as", "carol", "--tenant", "globex", "--model", "support-bot")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("lg_") and len(done.stdout.splitlines()) == 1  # the key, once, alone on stdout
    key_id = token[3:15]
    with httpx.Client(timeout=10) as c:
        accepted_s = _until(lambda: c.post(chat, json=BODY, headers=_bearer(token)).status_code == 200, 3.0)
        listed = CliRunner().invoke(main, ["keys", "list", "--config", cfg, "--as", "carol", "--json"])
        assert listed.exit_code == 0 and token[15:] not in listed.stdout and "sha256" not in listed.stdout
        assert {k["id"]: k["state"] for k in json.loads(listed.stdout)}[key_id] == "active"
        done = _keys_cli("revoke", key_id, "--config", cfg, "--as", "carol", "--reason", "laptop lost")
        assert done.returncode == 0, done.stderr
        refused_s = _until(lambda: c.post(chat, json=BODY, headers=_bearer(token)).status_code == 401, 3.0)
    assert accepted_s < 2.5 and refused_s < 2.5, (accepted_s, refused_s)  # poll_s 1, plus a request's time
    log = [json.loads(x) for x in served["store"].get(layout.api_keys_log(SVC)).splitlines()]
    assert [(e["action"], e["by"], e["key_id"]) for e in log[-3:]] == [
        ("create", "carol", key_id), ("list", "carol", None), ("revoke", "carol", key_id)]


def test_rotating_the_admin_token_mid_traffic_drops_no_request(served: dict[str, Any]) -> None:
    url, secrets, proc = served["url"], served["secrets"], served["proc"]
    old, new = "A" * 32, "B" * 32
    admin_token = [old]  # what the admin callers send now: always one valid at that moment
    stop = threading.Event()
    v1: list[int] = []
    admin: list[tuple[str, int]] = []

    def traffic() -> None:
        with httpx.Client(timeout=10, headers=_bearer(served["traffic_token"])) as c:
            while not stop.is_set():
                v1.append(c.post(f"{url}/v1/chat/completions", json=BODY).status_code)

    def poller() -> None:
        with httpx.Client(timeout=10) as c:
            while not stop.is_set():
                token = admin_token[0]
                admin.append((token[0], c.get(f"{url}/admin/state", headers=_bearer(token)).status_code))
                time.sleep(0.01)

    def reloads(token: str) -> int:
        events = httpx.get(f"{url}/admin/state", headers=_bearer(token), timeout=10).json()["events"]
        return sum(e["kind"] == "reloaded" for e in events)

    threads = [threading.Thread(target=f) for f in (traffic, traffic, poller, poller)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        (secrets / "next").write_text(new)  # the window opens: both tokens valid after the reload
        proc.send_signal(signal.SIGHUP)
        _until(lambda: reloads(old) == 1, 5.0)
        assert httpx.get(f"{url}/admin/state", headers=_bearer(new)).status_code == 200
        admin_token[0] = new  # callers move over
        time.sleep(0.5)
        (secrets / "current").write_text(new)  # the window closes: the old token goes
        (secrets / "next").unlink()
        proc.send_signal(signal.SIGHUP)
        _until(lambda: reloads(new) == 2, 5.0)
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
    assert httpx.get(f"{url}/admin/state", headers=_bearer(old)).status_code == 401
    assert proc.poll() is None  # SIGHUP reloads; it does not stop the gateway
    assert len(v1) > 20 and set(v1) == {200}, {s: v1.count(s) for s in set(v1)}
    assert len(admin) > 20 and set(admin) == {("A", 200), ("B", 200)}, {a: admin.count(a) for a in set(admin)}

    rotations = served["store"].get(layout.secret_rotations(SVC)).decode()
    assert old not in rotations and new not in rotations
    changes = [(e["name"].rsplit("/", 1)[-1], e["change"]) for e in json.loads(rotations)["history"]]
    assert changes == [("next", "appeared"), ("current", "rotated"), ("next", "cleared")]
    status = CliRunner().invoke(main, ["status", "--service", SVC, "--config", str(served["config"])],
                                env={"LAUNCHGATE_GATEWAY_ADMIN_TOKEN": new})
    out = json.loads(status.stdout)["access"]
    assert out["secrets"][f"file:{secrets / 'current'}"]["last_rotated_at"] is not None
    assert "acme" in [k["tenant"] for k in out["api_keys"]] and all("sha256" not in k for k in out["api_keys"])
    assert served["traffic_token"][15:] not in status.stdout and new not in status.stdout


def test_rotation_is_an_overlap_the_old_key_lives_until_its_expiry(service: Path, tmp_path: Path) -> None:
    def keys(*args: str) -> Any:
        return CliRunner().invoke(main, ["keys", *args, "--config", str(service), "--as", "alice"])

    first = keys("create", "--tenant", "acme", "--model", "support-bot", "--rpm", "60")
    assert first.exit_code == 0, first.stderr
    old_id = first.stdout.strip()[3:15]
    second = keys("create", "--rotate", old_id, "--old-expires-in-hours", "24")
    assert second.exit_code == 0, second.stderr
    new_id = second.stdout.strip()[3:15]
    reg = read_registry(LocalStore(tmp_path / "store"), SVC)
    old, new = reg.find(old_id), reg.find(new_id)
    assert old is not None and new is not None and reg.version == 2
    assert (new.tenant, new.models, new.requests_per_minute, new.rotates) == ("acme", ["support-bot"], 60, old_id)
    assert old.replaced_by == new_id and old.rotated_at == new.created_at
    assert old.expires_at is not None and timedelta(hours=23) < old.expires_at - new.created_at <= timedelta(hours=24)
    assert old.state(datetime.now(UTC)) == new.state(datetime.now(UTC)) == "active"  # both valid in the window
    listed = keys("list")
    assert old_id in listed.stdout and new_id in listed.stdout and second.stdout.strip()[15:] not in listed.stdout
