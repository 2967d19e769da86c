"""The real engine (aiperf, in .venv-aiperf) against the simulator on loopback.

Each run is short (5-6 s of load, ~20 s with aiperf's start-up). `make test` creates the aiperf
venv first, so these only skip on a machine where someone ran pytest without it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from launchgate.config import ReleaseConfig, load_config
from launchgate.eval.golden import load_golden_set, load_prompt
from launchgate.loadtest.engine import LoadOutcome, find_engine, run_load_test
from launchgate.settings import get_settings
from launchgate.verdicts import Phase, combine
from tests.conftest import EXAMPLE
from tests.support.sim import EXAMPLE_VARIANTS, running_sim

ENGINE = find_engine(get_settings().aiperf_bin)
pytestmark = pytest.mark.skipif(ENGINE is None, reason="aiperf venv missing: run `make aiperf` (`make test` does)")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lg-cache")  # the first run builds the tokenizer, the rest reuse it


def config(url: str, rps: float, duration: float, **extra: Any) -> ReleaseConfig:
    return load_config(EXAMPLE / "release.yaml", {
        "candidate.endpoint": url, "load_test.enabled": True, "load_test.expected_peak_rps": rps / 2,
        "load_test.duration_s": duration, "load_test.arrival": "constant", **extra,
    })


def run(cfg: ReleaseConfig, tmp_path: Path, cache: Path) -> LoadOutcome:
    cases = load_golden_set(cfg.evaluation.golden_set)
    stages: list[str] = []
    out = run_load_test(cfg, load_prompt(cfg.candidate.prompt.file), [c.input for c in cases],
                        work_dir=tmp_path / "work", aiperf_bin=ENGINE, cache_root=cache,
                        on_progress=lambda stage, _f: stages.append(stage))
    assert stages and stages[-1] == "done"
    return out


def verdict(out: LoadOutcome, check: str) -> Any:
    return next(v for v in out.verdicts if v.check == check)


def test_stable_variant_passes_the_slo(tmp_path: Path, cache: Path) -> None:
    with running_sim(EXAMPLE_VARIANTS, "stable") as url:
        out = run(config(url, 10, 5, **{"load_test.slo.ttft_p95_ms": 500}), tmp_path, cache)
    assert combine(out.verdicts) is Phase.SUCCESSFUL, [v.reason for v in out.verdicts]
    r = out.report
    assert r is not None and 45 <= r.sent <= 51 and r.errors == 0
    assert r.latency_ms.p95 is not None and r.latency_ms.p95 < 1200
    assert r.ttft_ms.p95 is not None and r.ttft_ms.p95 < r.latency_ms.p95
    assert r.engine.version == "0.13.0" and "--request-rate" in r.engine.command
    assert (out.artifact_dir / "profile_export_aiperf.json").is_file()
    assert any((cache / "tokenizer").iterdir())


def test_slow_variant_fails_p95_with_numbers(tmp_path: Path, cache: Path) -> None:
    with running_sim(EXAMPLE_VARIANTS, "slow-candidate") as url:  # latency median 900 ms, p95 2500 ms
        out = run(config(url, 10, 5), tmp_path, cache)
    v = verdict(out, "load_p95")
    assert v.phase is Phase.FAILED, v.reason
    assert v.value > 1500 and "ms > 1200 ms over" in v.reason
    assert verdict(out, "load_generator_lag").phase is Phase.SUCCESSFUL  # the candidate is slow, not the client
    assert out.verdicts[1].check == "load_p95"  # headline after the cost check


def test_flaky_variant_fails_on_errors(tmp_path: Path, cache: Path) -> None:
    # 5% HTTP 500s; the simulator's draws are deterministic, so 120 requests carry several of them.
    with running_sim(EXAMPLE_VARIANTS, "flaky-candidate") as url:
        out = run(config(url, 20, 6), tmp_path, cache)
    v = verdict(out, "load_error_rate")
    assert v.phase is Phase.FAILED, v.reason
    assert out.report is not None and out.report.errors_by_code.get("http_500", 0) >= 3
    assert "http_500 x" in v.reason and "> 1.0% over" in v.reason
    assert verdict(out, "load_p95").phase is Phase.SUCCESSFUL


@pytest.fixture
def slammer() -> Iterator[str]:
    """A listener that accepts and at once closes every connection: reachable, but never answers."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            conn.close()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/v1"
    stop.set()
    t.join(timeout=2)
    srv.close()


def test_endpoint_that_drops_every_request_is_a_clear_failure(tmp_path: Path, cache: Path, slammer: str) -> None:
    # aiperf exits 1 and writes no summary when every request fails; the records still tell why.
    out = run(config(slammer, 10, 3), tmp_path, cache)
    v = verdict(out, "load_error_rate")
    assert v.phase is Phase.FAILED and "100.0% > 1.0%" in v.reason
    assert out.report is not None and out.report.ok == 0 and out.report.engine.returncode != 0
    assert combine(out.verdicts) is Phase.FAILED
