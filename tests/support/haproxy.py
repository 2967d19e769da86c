"""Run a real ``haproxy`` (Debian's 2.6, ``make sysdeps``) on loopback in front of N backend servers.

    with running_haproxy({"stable": "127.0.0.1:9001", "candidate": "127.0.0.1:9002"}, tmp_path,
                         weights={"stable": 100, "candidate": 0}) as hap:
        httpx.get(f"{hap.url}/v1/models")          # the frontend: weighted round robin over the servers
        hap.set_weight("candidate", 10)             # the runtime API, no reload
        hap.weights()                               # {"stable": 100, "candidate": 10}
        hap.served()                                # {"stable": 9, "candidate": 1}: HTTP responses per server
        hap.metrics_target                          # "127.0.0.1:PORT": Prometheus scrapes /metrics there

``servers`` is ``{name: "host:port"}`` or a plain ``["host:port", ...]`` list (named ``s1``, ``s2``,
...); all go in ONE backend (``backend``, default ``models``) behind one frontend (``hap.url``).
The gateway replica tests put three replicas there; the router tests a stable and a candidate.

* Runtime API: ``stats socket <workdir>/admin.sock mode 600 level admin`` (``hap.socket_path``);
  ``hap.command("show stat")`` sends any command and returns the answer text.
* Prometheus: the built-in exporter on a second frontend, ``hap.metrics_url`` (``/metrics``);
  ``/stats`` there is the HTML stats page.
* ``health_check="/health"`` adds ``option httpchk GET /health`` and ``check inter 500ms`` per
  server (off by default: a test that kills a server wants to see what happens without them).
* ``haproxy -db`` runs in the foreground as a child; start-up waits for the admin socket and the
  frontend; leaving the block stops it with SIGUSR1 (soft stop), then SIGKILL after 5 s.
  ``hap.log_tail()`` shows its stderr (config errors, alerts).
* Weights are 0..256 (HAProxy's range). Balancing is ``roundrobin``, which honours weight
  changes at once; ``hash_header="X-Session"`` switches to a consistent hash of that header.
"""

from __future__ import annotations

import csv
import io
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.support.process import LoggedProcess


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def runtime_command(socket_path: Path | str, command: str, timeout_s: float = 5.0) -> str:
    """One command on HAProxy's runtime API (non-interactive: HAProxy closes after answering)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        s.connect(str(socket_path))
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


class HAProxy(LoggedProcess):
    def __init__(self, proc: subprocess.Popen[bytes], workdir: Path, port: int, metrics_port: int,
                 backend: str, servers: dict[str, str]) -> None:
        self.proc, self.workdir, self.backend, self.servers = proc, workdir, backend, servers
        self.url = f"http://127.0.0.1:{port}"
        self.metrics_target = f"127.0.0.1:{metrics_port}"
        self.metrics_url = f"http://{self.metrics_target}/metrics"
        self.socket_path = workdir / "admin.sock"
        self.log = workdir / "haproxy.log"

    def command(self, command: str) -> str:
        return runtime_command(self.socket_path, command)

    def set_weight(self, server: str, weight: int) -> None:
        answer = self.command(f"set weight {self.backend}/{server} {weight}").strip()
        if answer:  # HAProxy answers nothing on success
            raise RuntimeError(f"set weight {self.backend}/{server} {weight}: {answer}")

    def weights(self) -> dict[str, int]:
        """Current weight of every server, from ``get weight`` (``"10 (initial 100)"``)."""
        return {name: int(self.command(f"get weight {self.backend}/{name}").split()[0]) for name in self.servers}

    def stats(self) -> dict[str, dict[str, str]]:
        """``show stat`` rows of this backend's servers, by server name (CSV columns as keys)."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {r["svname"]: r for r in rows if r["pxname"] == self.backend and r["svname"] in self.servers}

    def served(self) -> dict[str, int]:
        """HTTP responses each server has sent since start (all status classes)."""
        cols = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")
        return {name: sum(int(row[c] or 0) for c in cols) for name, row in self.stats().items()}



def haproxy_config(servers: Mapping[str, str], *, port: int, metrics_port: int, socket_path: Path,
                   backend: str = "models", weights: Mapping[str, int] | None = None,
                   health_check: str | None = None, hash_header: str | None = None) -> str:
    weights = weights or {}
    check = " check inter 500ms fall 2 rise 1" if health_check else ""
    lines = [
        "global",
        f"    stats socket {socket_path} mode 600 level admin",
        "    stats timeout 30s",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 30s",
        "frontend fe",
        f"    bind 127.0.0.1:{port}",
        f"    default_backend {backend}",
        "frontend metrics",
        f"    bind 127.0.0.1:{metrics_port}",
        "    http-request use-service prometheus-exporter if { path /metrics }",
        "    stats enable",
        "    stats uri /stats",
        f"backend {backend}",
        f"    balance hdr({hash_header})" if hash_header else "    balance roundrobin",
        *(["    hash-type consistent"] if hash_header else []),
        *([f"    option httpchk GET {health_check}"] if health_check else []),
    ]
    for name, addr in servers.items():
        lines.append(f"    server {name} {addr} weight {int(weights.get(name, 100))}{check}")
    return "\n".join(lines) + "\n"


@contextmanager
def running_haproxy(servers: Mapping[str, str] | Sequence[str], workdir: Path, *, backend: str = "models",
                    weights: Mapping[str, int] | None = None, health_check: str | None = None,
                    hash_header: str | None = None) -> Iterator[HAProxy]:
    """Start haproxy in front of ``servers``; yields an ``HAProxy`` (see the module docstring)."""
    binary = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if binary is None:
        raise RuntimeError("haproxy not installed: run `make sysdeps` (apt-get install haproxy)")
    named = dict(servers) if isinstance(servers, Mapping) else {f"s{i + 1}": a for i, a in enumerate(servers)}
    workdir.mkdir(parents=True, exist_ok=True)
    port, metrics_port = free_port(), free_port()
    sock = workdir / "admin.sock"
    cfg = workdir / "haproxy.cfg"
    cfg.write_text(haproxy_config(named, port=port, metrics_port=metrics_port, socket_path=sock, backend=backend,
                                  weights=weights, health_check=health_check, hash_header=hash_header))
    log = workdir / "haproxy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "-db", "-f", str(cfg)], stdout=out, stderr=subprocess.STDOUT)
    hap = HAProxy(proc, workdir, port, metrics_port, backend, named)
    try:
        _wait_ready(hap, port)
        yield hap
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGUSR1)  # soft stop: finish open requests, then exit
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(hap: HAProxy, port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if hap.proc.poll() is not None:
            raise RuntimeError(f"haproxy exited with {hap.proc.returncode}:\n{hap.log_tail()}")
        try:
            hap.command("show info")
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"haproxy not ready after {timeout_s:.0f} s:\n{hap.log_tail()}")
        time.sleep(0.05)
