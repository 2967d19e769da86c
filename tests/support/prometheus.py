"""Run the real ``prometheus`` binary for a test: its own config and data dir, a free loopback port.

    with running_prometheus(scrape_config("support-bot", "127.0.0.1:PORT", 1.0), tmp_path) as prom:
        prom.query('up{job="support-bot"}')
        prom.kill()  # a Prometheus that dies mid-canary

Debian's package (2.42; ``make sysdeps`` installs it) is used directly, never its system service.
Start-up is waited for with ``/-/ready``; ``wait_scraped`` waits until the target was scraped.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.process import LoggedProcess


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus(LoggedProcess):
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": promql, **({"time": f"{at:.3f}"} if at is not None else {})}
        body = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=5).json()
        assert body["status"] == "success", body
        result = body["data"]["result"]
        return result if isinstance(result, list) else [{"value": result}]

    def wait_scraped(self, job: str, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(r["value"][1] == "1" for r in self.query(f'up{{job="{job}"}}')):
                return
            time.sleep(0.2)
        raise AssertionError(f"prometheus never scraped job {job!r}; log tail:\n{self.log_tail()}")

    def wait_two_scrapes_after(self, t: float, instances: set[str], timeout_s: float = 20.0) -> None:
        """Until Prometheus holds, for each of ``instances`` (host:port), two scrapes since unix time ``t``.

        A series that appeared with traffic at ``t`` needs two samples before rate() has a value;
        a fixed sleep assumes Prometheus keeps its schedule, which it does not on a loaded machine.
        The instances are named because a reload adds a target only at the discovery manager's next
        update (throttled to every 5 s): until then the old targets alone look "all scraped". And the
        samples are asked of the TSDB (``timestamp(up)``, written in the same commit as the scrape's
        series), not the targets API, whose lastScrape can be reported before the scrape is queryable.
        """
        deadline = time.monotonic() + timeout_s
        latest: dict[str, float] = {}
        interval = 0.0
        while time.monotonic() < deadline:
            targets = httpx.get(f"{self.url}/api/v1/targets", params={"state": "active"},
                                timeout=5).json()["data"]["activeTargets"]
            interval = max((_seconds(tg["scrapeInterval"]) for tg in targets), default=0.0)
            latest = {r["metric"]["instance"]: float(r["value"][1]) for r in self.query("timestamp(up == 1)")}
            if interval and all(latest.get(i, 0.0) >= t + interval for i in instances):
                return
            time.sleep(0.2)
        raise AssertionError(f"{sorted(instances)} not all scraped twice since {t} (every {interval}s): "
                             f"latest samples {latest}\n{self.log_tail()}")

    def rules(self) -> list[dict[str, Any]]:
        body = httpx.get(f"{self.url}/api/v1/rules", timeout=5).json()
        return [r for g in body["data"]["groups"] for r in g["rules"]]

    def reload(self, config: dict[str, Any]) -> None:
        """Replace the config (e.g. another scrape target) and have Prometheus re-read it."""
        (self.log.parent / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        resp = httpx.post(f"{self.url}/-/reload", timeout=10)
        assert resp.status_code == 200, f"reload refused: {resp.text}\n{self.log_tail()}"



def _seconds(duration: str) -> float:
    """A Prometheus duration as the targets API prints it ("1s", "500ms", "1m")."""
    for unit, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if duration.endswith(unit) and duration[: -len(unit)].isdigit():
            return int(duration[: -len(unit)]) * factor
    raise AssertionError(f"unexpected scrape interval {duration!r}")


@contextmanager
def running_prometheus(config: dict[str, Any], workdir: Path, *, files: dict[str, str] | None = None
                       ) -> Iterator[Prometheus]:
    """Start prometheus with ``config`` (plus ``files`` written beside it, e.g. rules.yml)."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus not installed: run `make sysdeps` (apt-get install prometheus)")
    workdir.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        (workdir / name).write_text(text)
    cfg = workdir / "prometheus.yml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={cfg}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h",
             "--web.enable-lifecycle", "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT)
    prom = Prometheus(proc, url, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {proc.returncode}:\n{prom.log_tail()}")
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus not ready after 30 s:\n{prom.log_tail()}")
            time.sleep(0.1)
        yield prom
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
