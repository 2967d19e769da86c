"""A real moto_server subprocess on loopback, so boto3 is exercised over HTTP end to end."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=0.5):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


# moto's own server (moto/server.py) without its thread per request: moto checks an If-Match and
# stores the object in separate steps, so two threaded PUTs on one ETag can both succeed. Served one
# request at a time, a conditional write is atomic, as S3 documents it.
_SERIAL_MOTO = """
import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False,
           request_handler=MotoRequestHandler)
"""


@contextlib.contextmanager
def moto_s3_server(*, serial: bool = False) -> Iterator[str]:
    """Start ``moto_server`` from this venv on a free loopback port; yield its endpoint URL.

    ``serial``: one request at a time (tests of conditional writes between concurrent writers).
    """
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    cmd = ([sys.executable, "-c", _SERIAL_MOTO, str(port)] if serial
           else [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(endpoint):
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {proc.returncode} before answering")
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not answer on {endpoint} within {START_TIMEOUT_S}s")
            time.sleep(0.05)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def reset(endpoint: str) -> None:
    """Drop every bucket/object (and other moto state) on the server."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=5):
        pass


# One moto_server mocks every service (S3, SageMaker, CloudWatch); the old name says S3 only.
moto_server = moto_s3_server
