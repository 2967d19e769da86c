"""`canary.router: haproxy` against a real HAProxy (Debian 2.6) on loopback in front of the example's
simulated stable and candidate.

The router is built from release.yaml by ``make_router``, as the release does: weights move
through the runtime API only (no reload), the split the clients see follows them (counted per
server by HAProxy), the rollback drill proves stable serves all probes, `launchgate rollback`
works through it, and a pair of HAProxies moves together. The whole release through HAProxy, with
the judge reading HAProxy's exporter from a real Prometheus, is tests/flows/test_haproxy_release.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from launchgate.canary.drill import run_drill
from launchgate.canary.traffic import send_requests
from launchgate.cli import main
from launchgate.config import ReleaseConfig, load_config
from launchgate.errors import RouterError
from launchgate.router import make_router, traffic_url
from launchgate.router.haproxy import HAProxyRouter
from tests.conftest import EXAMPLE
from tests.support.haproxy import HAProxy, running_haproxy
from tests.support.sim import EXAMPLE_VARIANTS, running_sim

SERVICE = "support-bot"
PROMPTS = [[{"role": "user", "content": json.dumps({"subject": "refund", "body": "Where is my refund?"})}]]


def _hostport(base_url: str) -> str:
    return base_url.removeprefix("http://").removesuffix("/v1")


def _overrides(hap: HAProxy, prom_url: str) -> dict[str, Any]:
    return {
        "canary.enabled": True, "canary.router": "haproxy", "canary.steps": [], "canary.traffic": 50,
        "canary.haproxy": {"admin_socket": str(hap.socket_path), "backend": hap.backend,
                           "stable_server": "stable", "candidate_server": "candidate", "frontend_url": hap.url},
        "observability.prometheus_url": prom_url, "observability.canary_metrics": "prometheus",
        "observability.scrape_interval_s": 1,
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("haproxy-router")
    with running_sim(EXAMPLE_VARIANTS, "stable") as stable, running_sim(EXAMPLE_VARIANTS, "good-candidate") as cand, \
            running_haproxy({"stable": _hostport(stable), "candidate": _hostport(cand)}, tmp / "haproxy",
                            weights={"stable": 100, "candidate": 0}) as hap:
        # The judge's Prometheus is exercised in tests/flows/test_haproxy_release.py; none is needed here.
        cfg = load_config(EXAMPLE / "release.yaml", _overrides(hap, "http://127.0.0.1:9"), check_files=False)
        yield {"hap": hap, "cand": cand, "cfg": cfg, "tmp": tmp}


def test_weights_move_through_the_runtime_api_and_the_split_follows(stack: dict[str, Any]) -> None:
    hap, cfg = stack["hap"], stack["cfg"]
    router, own = make_router(cfg.canary)
    assert isinstance(router, HAProxyRouter) and traffic_url(cfg.canary) == hap.url
    router.attach_candidate("unused", "support-bot-good", "v2", "rel-split")
    pid = hap.proc.pid
    router.set_candidate_weight(10, "test: 10%")
    assert hap.weights() == {"stable": 90, "candidate": 10}
    assert router.weights() == {"stable": 90.0, "candidate": 10.0}
    before, since = hap.served(), time.time()
    tally = send_requests(f"{hap.url}/v1", "m", PROMPTS, 300, concurrency=8)
    served = {k: v - before[k] for k, v in hap.served().items()}
    assert tally.ok == 300 and sum(served.values()) == 300
    # Weighted round robin is deterministic: 10% of 300 = 30, give or take the interleaving.
    assert 27 <= served["candidate"] <= 33, served
    own_counts = router.window(since)  # the router's own reading from `show stat`
    assert (own_counts["stable"].count, own_counts["candidate"].count) == (served["stable"], served["candidate"])
    router.set_candidate_weight(0, "test: back")
    assert hap.weights() == {"stable": 100, "candidate": 0} and hap.proc.pid == pid  # no reload, same process


def test_rollback_drill_proves_stable_serves_every_probe(stack: dict[str, Any]) -> None:
    hap, cfg = stack["hap"], stack["cfg"]
    router, own = make_router(cfg.canary)

    def probe() -> Any:
        return send_requests(f"{hap.url}/v1", "m", PROMPTS, 40)

    record = run_drill(router, pct=1, holder="drill", ttl_s=5, probe=probe, metrics=own)
    assert record.phase.value == "successful", record.reason
    assert record.weights_during == {"stable": 99.0, "candidate": 1.0}
    assert record.weights_after == {"stable": 100.0, "candidate": 0.0}
    assert record.probe is not None and record.probe.stats_served == {"stable": 40, "candidate": 0}


def test_launchgate_rollback_cli_through_haproxy(stack: dict[str, Any], tmp_path: Path) -> None:
    hap, cfg = stack["hap"], stack["cfg"]
    hap.set_weight("stable", 75)
    hap.set_weight("candidate", 25)
    data = yaml.safe_load((EXAMPLE / "release.yaml").read_text())
    merged: ReleaseConfig = cfg
    data["canary"] = merged.canary.model_dump(mode="json", exclude_none=True)
    data["observability"] = merged.observability.model_dump(mode="json", exclude_defaults=True)
    path = tmp_path / "release.yaml"
    path.write_text(yaml.safe_dump(data))
    res = CliRunner().invoke(main, ["rollback", "--service", SERVICE, "--config", str(path),
                                    "--artifacts", str(tmp_path / "store"), "--reason", "test"])
    assert res.exit_code == 0, res.output
    assert hap.weights() == {"stable": 100, "candidate": 0}
    assert json.loads(res.stdout.strip().splitlines()[-1])["weights_after"] == {"stable": 100.0, "candidate": 0.0}


def test_unknown_server_and_dead_socket_are_router_errors(stack: dict[str, Any], tmp_path: Path) -> None:
    cfg = stack["cfg"]
    wrong = cfg.canary.haproxy.model_copy(update={"candidate_server": "nope"})  # type: ignore[union-attr]
    with pytest.raises(RouterError, match="no candidate server 'nope'"):
        HAProxyRouter(wrong).attach_candidate("u", "m", "v", "r")
    router = HAProxyRouter(cfg.canary.haproxy)  # type: ignore[arg-type]
    router.set_candidate_weight(100, "test: promoted")  # the next release must not start from here
    with pytest.raises(RouterError, match="already carries 100%"):
        router.attach_candidate("u", "m", "v", "next-release")
    router.set_candidate_weight(0, "test: back")
    dead = cfg.canary.haproxy.model_copy(update={"admin_socket": str(tmp_path / "gone.sock"),  # type: ignore[union-attr]
                                                 "retries": 1})
    with pytest.raises(RouterError, match=r"after 2 attempt\(s\)") as info:
        HAProxyRouter(dead).set_candidate_weight(0, "rollback")
    assert isinstance(info.value.__cause__, OSError)


def test_a_pair_of_haproxies_gets_the_same_weights_and_a_dead_one_does_not_stop_the_rollback(
        stack: dict[str, Any], tmp_path: Path) -> None:
    hap, cfg = stack["hap"], stack["cfg"]
    with running_haproxy(hap.servers, tmp_path / "second", weights={"stable": 100, "candidate": 0}) as second:
        pair = cfg.canary.haproxy.model_copy(  # type: ignore[union-attr]
            update={"admin_socket": [str(hap.socket_path), str(second.socket_path)], "retries": 1})
        router = HAProxyRouter(pair)
        router.set_candidate_weight(10, "test: pair")
        assert hap.weights() == second.weights() == {"stable": 90, "candidate": 10}
        second.set_weight("candidate", 30)  # drifted by hand: the router reports the larger share
        assert router.weights() == {"stable": 75.0, "candidate": 25.0}
        second.kill()
        with pytest.raises(RouterError, match="1 of 2 HAProxy instance"):
            router.set_candidate_weight(0, "rollback")
        assert hap.weights() == {"stable": 100, "candidate": 0}  # the live one was rolled back all the same
