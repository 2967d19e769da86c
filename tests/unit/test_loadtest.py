"""Load-test logic without the engine: parsing real aiperf exports, verdicts, cost, command line, runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from launchgate.config import LoadSLO, LoadTest, Pricing, Variant, load_config
from launchgate.eval.golden import load_golden_set, load_prompt
from launchgate.loadtest.analysis import (
    EngineInfo,
    LoadPlan,
    LoadReport,
    Percentiles,
    build_command,
    cost_verdict,
    estimate_cost,
    inputs_jsonl,
    load_verdicts,
    parse_export,
    quantile,
    rate_floor,
    split_endpoint,
)
from launchgate.loadtest.engine import (
    StageTracker,
    engine_env,
    find_engine,
    probe_endpoint,
    read_export,
    run_engine,
    run_load_test,
)
from launchgate.loadtest.report import latency_throughput_png, report_markdown
from launchgate.sim.local import free_port
from launchgate.verdicts import Phase, combine
from tests.conftest import EXAMPLE

DATA = Path(__file__).resolve().parents[1] / "data" / "aiperf"


def plan(rps: float = 10, duration: float = 3, arrival: str = "constant", streaming: bool = True) -> LoadPlan:
    return LoadPlan(endpoint="http://127.0.0.1:8000/v1", model="support-bot-good", target_rps=rps,
                    duration_s=duration, arrival=arrival, streaming=streaming, seed=7, request_timeout_s=10,
                    grace_s=10, max_output_tokens=400)


def real(name: str, p: LoadPlan, slo: LoadSLO | None = None) -> LoadReport:
    summary, records = read_export(DATA / name)
    return parse_export(summary, records, p, slo or LoadSLO(), EngineInfo(command=["aiperf", "profile"]))


def by_check(verdicts: list[Any]) -> dict[str, Any]:
    return {v.check: v for v in verdicts}


# ---------------------------------------------------------------------------- parsing real exports


def test_parses_a_real_export_of_a_healthy_run() -> None:
    # Captured from aiperf 0.13.0 against the simulator's stable variant: 10 req/s constant for 3 s.
    r = real("stable", plan(10, 3))
    summary = json.loads((DATA / "stable" / "profile_export_aiperf.json").read_text())
    assert (r.sent, r.ok, r.errors, r.errors_by_code) == (29, 29, 0, {})
    assert r.error_rate == 0.0
    assert r.achieved_rps == pytest.approx(29 / 3)
    assert r.latency_ms.p95 == pytest.approx(summary["request_latency"]["p95"])
    assert r.ttft_ms.p95 == pytest.approx(summary["time_to_first_token"]["p95"])
    assert r.itl_ms.p50 == pytest.approx(summary["inter_token_latency"]["p50"])
    assert r.generator_lag_ms.p95 == pytest.approx(summary["credit_to_start_latency"]["p95"])
    assert r.engine.version == "0.13.0"
    assert sum(p.sent for p in r.timeline) == 29 and len(r.timeline) in (3, 4)
    metered = parse_export(summary, [], plan(10, 3), LoadSLO(), EngineInfo(), Pricing(input_per_1k=1, output_per_1k=2))
    tin, tout = summary["total_usage_prompt_tokens"]["avg"], summary["total_usage_completion_tokens"]["avg"]
    assert metered.cost_usd == pytest.approx(tin / 1000 + tout / 1000 * 2) and metered.usage_output_tokens == tout
    verdicts = load_verdicts(r, LoadTest(enabled=True, duration_s=3, arrival="constant"))
    assert combine(verdicts) is Phase.SUCCESSFUL, [v.reason for v in verdicts]


def test_parses_errors_by_code_and_fails_the_error_slo_with_numbers() -> None:
    # Captured against flaky-candidate (5% HTTP 500s) at 20 req/s for 4 s.
    r = real("flaky", plan(20, 4))
    assert r.errors_by_code == {"http_500": 3}
    assert (r.sent, r.ok, r.errors) == (79, 76, 3)
    v = by_check(load_verdicts(r, LoadTest(enabled=True, duration_s=4, arrival="constant")))["load_error_rate"]
    assert v.phase is Phase.FAILED
    assert v.reason == "Error rate at 19.8 req/s 3.8% > 1.0% over 79 requests. Errors by code: http_500 x3."


def test_records_without_a_summary_still_give_a_verdict() -> None:
    # aiperf writes no summary when every request failed (endpoint went away mid-run): the records remain.
    records = [{"metadata": {"benchmark_phase": "profiling", "credit_issued_ns": i * 100_000_000,
                             "request_start_ns": i * 100_000_000 + 1_000_000},
                "metrics": {}, "error": {"type": "ClientConnectorError", "message": "refused"}} for i in range(30)]
    r = parse_export(None, records, plan(10, 3), LoadSLO(), EngineInfo(returncode=1))
    assert r.errors_by_code == {"ClientConnectorError": 30} and r.error_rate == 1.0
    v = by_check(load_verdicts(r, LoadTest(enabled=True, duration_s=3, arrival="constant")))
    assert v["load_error_rate"].phase is Phase.FAILED and "100.0% > 1.0%" in v["load_error_rate"].reason
    assert v["load_p95"].phase is Phase.INCONCLUSIVE  # no successful request to time


def test_records_alone_give_the_metered_tokens() -> None:
    summary, records = read_export(DATA / "flaky")
    assert summary is not None
    r = parse_export(None, records, plan(20, 4), LoadSLO(), EngineInfo(), Pricing(input_per_1k=1, output_per_1k=1))
    assert r.usage_input_tokens == summary["total_usage_prompt_tokens"]["avg"]
    assert r.usage_output_tokens == summary["total_usage_completion_tokens"]["avg"]


def test_summary_without_records_uses_the_error_summary() -> None:
    summary = json.loads((DATA / "flaky" / "profile_export_aiperf.json").read_text())
    r = parse_export(summary, [], plan(20, 4), LoadSLO(), EngineInfo())
    assert r.errors_by_code == {"http_500": 3} and r.sent == 79 and r.timeline == []
    assert r.latency_ms.p95 == pytest.approx(summary["request_latency"]["p95"])


# ---------------------------------------------------------------------------- verdicts


def synthetic(**kw: Any) -> LoadReport:
    base: dict[str, Any] = dict(
        endpoint="http://x/v1", model="m", target_rps=10, duration_s=10, arrival="constant", streaming=True,
        slo=LoadSLO(), expected_requests=100, sent=100, ok=100, errors=0, error_rate=0.0, achieved_rps=10.0,
        latency_ms=Percentiles(p50=80, p95=150, p99=200, count=100),
        ttft_ms=Percentiles(p95=40, count=100), generator_lag_ms=Percentiles(p95=2.0, count=100),
    )
    return LoadReport(**{**base, **kw})


def test_breached_p95_fails_with_the_numbers() -> None:
    r = synthetic(latency_ms=Percentiles(p50=900, p95=2480, p99=3900, count=100))
    verdicts = load_verdicts(r, LoadTest(enabled=True, slo=LoadSLO(p95_ms=1200, p99_ms=3000)))
    v = by_check(verdicts)
    assert v["load_p95"].phase is Phase.FAILED
    assert v["load_p95"].reason.startswith("p95 latency at 10.0 req/s 2480 ms > 1200 ms over 100 requests.")
    assert v["load_p99"].phase is Phase.FAILED
    assert verdicts[0].check == "load_p95"  # the release summary headlines the first blocking verdict


def test_overloaded_generator_is_an_error_never_a_pass() -> None:
    r = synthetic(generator_lag_ms=Percentiles(p95=120.0, count=100))
    verdicts = load_verdicts(r, LoadTest(enabled=True))
    lag = by_check(verdicts)["load_generator_lag"]
    assert lag.phase is Phase.ERROR and "120 ms > 50 ms" in lag.reason
    assert combine(verdicts) is Phase.ERROR


def test_latency_breach_under_an_overloaded_generator_is_not_blamed_on_the_candidate() -> None:
    r = synthetic(latency_ms=Percentiles(p95=1500, count=100), generator_lag_ms=Percentiles(p95=300.0, count=100))
    v = by_check(load_verdicts(r, LoadTest(enabled=True)))
    assert v["load_p95"].phase is Phase.ERROR and "Not attributed to the candidate" in v["load_p95"].reason


def test_missing_lag_measurement_cannot_pass() -> None:
    v = by_check(load_verdicts(synthetic(generator_lag_ms=Percentiles()), LoadTest(enabled=True)))
    assert v["load_generator_lag"].phase is Phase.ERROR


def test_rate_below_target_is_an_error() -> None:
    r = synthetic(sent=80, achieved_rps=8.0)
    v = by_check(load_verdicts(r, LoadTest(enabled=True)))["load_rate"]
    assert v.phase is Phase.ERROR and "80.0% of the 10 req/s target" in v.reason


def test_rate_floor_allows_for_the_window_edge_and_poisson_noise() -> None:
    assert rate_floor(synthetic(), 0.95) == pytest.approx(0.94)  # one request of 100
    assert rate_floor(synthetic(expected_requests=30), 0.95) == pytest.approx(0.95 - 1 / 30)
    assert rate_floor(synthetic(arrival="poisson"), 0.95) == pytest.approx(1 - 3.09 / 10)
    assert rate_floor(synthetic(arrival="poisson", expected_requests=100_000), 0.95) == pytest.approx(0.95 - 1e-5)
    poisson = synthetic(arrival="poisson", sent=80, achieved_rps=8.0)
    assert by_check(load_verdicts(poisson, LoadTest(enabled=True)))["load_rate"].phase is Phase.SUCCESSFUL


def test_too_few_samples_is_inconclusive() -> None:
    r = synthetic(sent=10, ok=10, achieved_rps=10, expected_requests=10, duration_s=1,
                  latency_ms=Percentiles(p95=100, count=10))
    assert by_check(load_verdicts(r, LoadTest(enabled=True)))["load_p95"].phase is Phase.INCONCLUSIVE


def test_ttft_is_not_judged_without_streaming() -> None:
    r = synthetic(streaming=False)
    v = by_check(load_verdicts(r, LoadTest(enabled=True, slo=LoadSLO(ttft_p95_ms=300))))["load_ttft_p95"]
    assert v.phase is Phase.INCONCLUSIVE and "streaming is false" in v.reason


def test_quantile_matches_numpy_linear() -> None:
    assert quantile([1, 2, 3, 4], 50) == 2.5
    assert quantile([10.0], 95) == 10.0
    assert quantile([], 95) is None


# ---------------------------------------------------------------------------- cost


def test_cost_estimate_is_requests_times_tokens_times_pricing() -> None:
    p = plan(10, 10)
    est = estimate_cost(p, "x" * 400, [{"a": "b" * 390}], Pricing(input_per_1k=1.0, output_per_1k=2.0))
    # 100 requests; input (400 + len('{"a": "bbb..."}')=399) / 4 + 8 tokens; 400 output tokens each.
    per_in = (400 + 399) / 4 + 8
    assert est.requests == 100
    assert est.usd == pytest.approx(100 * (per_in / 1000 * 1.0 + 400 / 1000 * 2.0))
    poisson = estimate_cost(plan(10, 10, "poisson"), "", [{}], Pricing(input_per_1k=0, output_per_1k=1))
    assert poisson.requests == 131  # + 3.09 sigma of the Poisson count: an upper bound


def test_cost_over_the_cap_blocks_before_any_load() -> None:
    est = estimate_cost(plan(100, 600), "x" * 1000, [{}], Pricing(input_per_1k=0.01, output_per_1k=0.03))
    v = cost_verdict(est, 2.0, None)
    assert v.phase is Phase.FAILED and "above load_test.cost_cap_usd $2.00" in v.reason
    assert "No load was sent" in v.reason


def test_cost_over_the_remaining_budget_blocks() -> None:
    est = estimate_cost(plan(10, 10), "", [{}], Pricing(input_per_1k=0.0, output_per_1k=1.0))  # 100 x 400 tok: $40
    assert est.usd == pytest.approx(40.0)
    v = cost_verdict(est, 100.0, 3.5)
    assert v.phase is Phase.FAILED and "$3.50 left of today's pipeline budget" in v.reason
    assert cost_verdict(est, 100.0, 50.0).phase is Phase.SUCCESSFUL


def test_run_load_test_stops_at_the_cost_cap_without_starting_the_engine(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE / "release.yaml", {"load_test.enabled": True, "load_test.cost_cap_usd": 0.0001})
    out = run_load_test(cfg, "prompt", [{"subject": "s"}], work_dir=tmp_path / "w",
                        aiperf_bin=str(tmp_path / "never-run"))
    assert [v.check for v in out.verdicts] == ["load_cost"]
    assert out.verdicts[0].phase is Phase.FAILED and not (tmp_path / "w").exists()


# ---------------------------------------------------------------------------- engine plumbing


def test_command_line_targets_the_endpoint_and_redacts_nothing_but_secrets() -> None:
    assert split_endpoint("http://h:8000/v1/") == ("http://h:8000", "/v1/chat/completions")
    assert split_endpoint("https://gw.example/svc/v1") == ("https://gw.example", "/svc/v1/chat/completions")
    cmd = build_command("/x/aiperf", plan(12.5, 10, "poisson"), tokenizer_dir="/t", input_file="/i.jsonl",
                        system_prompt_file="/p.txt", artifact_dir="/a", api_key="sk-secret")
    flat = " ".join(cmd)
    for part in ("--url http://127.0.0.1:8000", "--custom-endpoint /v1/chat/completions", "--request-rate 12.5",
                 "--arrival-pattern poisson", "--benchmark-duration 10", "--streaming", "--use-server-token-count",
                 "--tokenizer /t", "--custom-dataset-type single_turn", "--random-seed 7", "--ui none",
                 "--api-key sk-secret"):
        assert part in flat, part
    assert "--streaming" not in build_command("a", plan(streaming=False), tokenizer_dir="/t", input_file="/i",
                                              system_prompt_file=None, artifact_dir="/a")


def test_inputs_are_rendered_like_the_eval_user_message() -> None:
    row = json.loads(inputs_jsonl([{"b": 1, "a": "é"}]).splitlines()[0])
    assert row == {"text": '{"a": "é", "b": 1}'}


def test_engine_missing_is_a_clear_error(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE / "release.yaml", {"load_test.enabled": True})
    out = run_load_test(cfg, "p", [{}], work_dir=tmp_path, aiperf_bin=str(tmp_path / "no" / "aiperf"))
    v = out.verdicts[-1]
    assert (v.check, v.phase) == ("load_engine", Phase.ERROR)
    assert v.reason.startswith("aiperf not installed") and "make aiperf" in v.reason
    assert find_engine(str(tmp_path / "no" / "aiperf")) is None


def test_unreachable_endpoint_is_a_clear_failure_at_once(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    cfg = load_config(EXAMPLE / "release.yaml", {"load_test.enabled": True,
                                                 "candidate.endpoint": f"http://127.0.0.1:{port}/v1"})
    out = run_load_test(cfg, "p", [{}], work_dir=tmp_path, aiperf_bin=sys.executable)
    v = out.verdicts[-1]
    assert (v.check, v.phase) == ("load_endpoint", Phase.FAILED)
    assert f"127.0.0.1:{port}" in v.reason and "refused" in v.reason.lower()
    assert probe_endpoint("http://no-such-host.invalid:80/v1", timeout_s=2) is not None


def test_runner_stops_a_hung_engine_and_reports_progress() -> None:
    script = ("import time, sys; print('x NOTICE Phase profiling (profiling) started', flush=True); "
              "print('boom', file=sys.stderr, flush=True); time.sleep(60)")
    seen: list[tuple[str, float]] = []
    lines: list[str] = []
    run = run_engine([sys.executable, "-c", script], timeout_s=2.0, duration_s=4.0, on_line=lines.append,
                     on_progress=lambda s, f: seen.append((s, f)), tick_s=0.2)
    assert run.timed_out and run.returncode is not None and run.wall_s < 10
    assert "boom" in run.stderr_tail and any("started" in ln for ln in lines)
    assert any(stage == "running" and 0 < frac < 1 for stage, frac in seen)
    assert seen[-1] == ("done", 1.0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is dead for our purposes
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def _wait_dead(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_runner_reaps_what_the_engine_leaves_behind(tmp_path: Path) -> None:
    # aiperf's main process can exit (or hang in shutdown) with a service still running.
    pidfile = tmp_path / "child.pid"
    script = (f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
              f"time.sleep(60)']); open({str(pidfile)!r}, 'w').write(str(p.pid)); "
              "print('x INFO All results received, initiating shutdown', flush=True); time.sleep(60)")
    run = run_engine([sys.executable, "-c", script], timeout_s=30, duration_s=1, tick_s=0.2, shutdown_grace_s=1.0)
    assert not run.timed_out and run.wall_s < 15  # stopped for hanging in shutdown, not for the timeout
    assert _wait_dead(int(pidfile.read_text()), 5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_engine_dies_with_its_parent(tmp_path: Path) -> None:
    pidfile = tmp_path / "engine.pid"
    engine = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    parent = ("import sys; from launchgate.loadtest.engine import run_engine; "
              f"run_engine([sys.executable, '-c', {engine!r}], timeout_s=60, duration_s=1)")
    proc = subprocess.Popen([sys.executable, "-c", parent], cwd=Path(__file__).resolve().parents[2])
    deadline = time.monotonic() + 20
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    engine_pid = int(pidfile.read_text())
    proc.kill()  # SIGKILL: no finally, no atexit; only the kernel can stop the engine now
    proc.wait()
    assert _wait_dead(engine_pid, 5)


def test_engine_gets_no_credentials_and_no_offline_switches() -> None:
    env = engine_env({"PATH": "/bin", "HOME": "/root", "LAUNCHGATE_SLACK_TOKEN": "x", "SLACK_BOT_TOKEN": "x",
                      "AWS_SECRET_ACCESS_KEY": "x", "OPENAI_API_KEY": "x", "HF_HUB_OFFLINE": "1",
                      "TRANSFORMERS_OFFLINE": "1", "HF_HOME": "/hf"}, TMPDIR="/tmp/x")
    assert env == {"PATH": "/bin", "HOME": "/root", "HF_HOME": "/hf", "TMPDIR": "/tmp/x"}


def test_stage_tracker_fraction() -> None:
    now = [100.0]
    t = StageTracker(10.0, clock=lambda: now[0])
    assert (t.stage, t.fraction()) == ("starting", 0.0)
    t.feed("12:00 NOTICE Phase profiling (profiling) started | target: 10.0s duration")
    now[0] = 104.0
    assert (t.stage, t.fraction()) == ("running", pytest.approx(0.4))
    t.feed("12:00 NOTICE Phase profiling (profiling) sending complete | sent=100")
    assert (t.stage, t.fraction()) == ("draining", 1.0)


# ---------------------------------------------------------------------------- human evidence


def test_markdown_and_chart_from_a_real_export() -> None:
    r = real("flaky", plan(20, 4))
    verdicts = load_verdicts(r, LoadTest(enabled=True, duration_s=4, arrival="constant"))
    md = report_markdown("rel-1", r, verdicts)
    assert "# Load test of rel-1: failed" in md and "http_500 x3" in md and "| load_error_rate |" in md
    png = latency_throughput_png(r)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_variant_timeout_bounds_each_request() -> None:
    cfg = load_config(EXAMPLE / "release.yaml")
    v: Variant = cfg.candidate
    p = LoadPlan.from_config(cfg.load_test, v, cfg.contracts.max_output_tokens)
    assert p.request_timeout_s == v.timeout_s and p.target_rps == cfg.load_test.expected_peak_rps * 2
    cases = load_golden_set(cfg.evaluation.golden_set)
    est = estimate_cost(p, load_prompt(cfg.candidate.prompt.file), [c.input for c in cases], cfg.pricing)
    assert 0 < est.usd < cfg.load_test.cost_cap_usd  # the example's test fits its cap
