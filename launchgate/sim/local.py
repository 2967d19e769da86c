"""Start the example service's simulated variants on free loopback ports (demo, benchmarks).

Each variant is its own process, as a real deployment would be.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"simulated model at {url} did not come up within {timeout_s:.0f}s")
        time.sleep(0.1)


@contextmanager
def sim_processes(variants_file: Path, names: list[str]) -> Iterator[dict[str, str]]:
    procs: list[subprocess.Popen[bytes]] = []
    urls: dict[str, str] = {}
    try:
        for name in names:
            port = free_port()
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "launchgate.sim", "--variants", str(variants_file), "--variant", name,
                 "--host", "127.0.0.1", "--port", str(port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
            urls[name] = f"http://127.0.0.1:{port}/v1"
        for url in urls.values():
            wait_ready(url)
        yield urls
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
