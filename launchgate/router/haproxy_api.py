"""HAProxy's runtime API (the ``stats socket``): one text command per connection, one answer.

Hand-written on purpose: the protocol is a line of text over a unix or TCP socket, answered and
closed by HAProxy. The PyPI clients (haproxy-cli, haprapi) have no timeouts (a hung HAProxy would
hang the rollback) and haprapi speaks TCP only; twenty lines with a deadline are safer than either.

This module is the socket boundary of the HAProxy router: OSError and HAProxy's refusals become
RouterError, with the command in the message and the original on ``__cause__``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from launchgate.errors import RouterError


def parse_address(address: str) -> tuple[int, str | tuple[str, int]]:
    """``/run/haproxy/admin.sock`` or ``unix:///...`` -> AF_UNIX; ``host:port`` or ``tcp://host:port`` -> AF_INET."""
    addr = address.strip()
    if addr.startswith("unix://"):
        return socket.AF_UNIX, addr.removeprefix("unix://")
    addr = addr.removeprefix("tcp://")
    host, sep, port = addr.rpartition(":")
    if sep and port.isdigit() and "/" not in addr:
        host = host.strip("[]") or "127.0.0.1"
        return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, int(port))
    return socket.AF_UNIX, addr


class RuntimeAPI:
    """Commands on one HAProxy's runtime API, with a deadline per command and bounded retries."""

    def __init__(self, address: str, *, timeout_s: float = 2.0, retries: int = 2,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.address = address
        self.family, self.target = parse_address(address)
        self.timeout_s, self.retries, self.sleep = timeout_s, retries, sleep

    def command(self, command: str) -> str:
        """Send ``command``; its answer text. Retries only when the socket could not be reached or
        answered nothing in time; every command launchgate sends is idempotent (absolute weights)."""
        for attempt in range(self.retries + 1):
            try:
                answer = self._once(command)
            except OSError as exc:
                if attempt == self.retries:
                    raise RouterError(f"HAProxy runtime API at {self.address} failed on `{command}` after "
                                      f"{attempt + 1} attempt(s): {type(exc).__name__}: {exc}") from exc
                self.sleep(0.1 * 2**attempt)
                continue
            return answer
        raise AssertionError("unreachable")  # the loop returns or raises

    def set(self, command: str) -> None:
        """A ``set ...`` command: HAProxy answers nothing on success and a sentence when it refuses."""
        answer = self.command(command).strip()
        if answer:
            raise RouterError(f"HAProxy refused `{command}` at {self.address}: {answer.splitlines()[0]}")

    def get_weight(self, backend: str, server: str) -> int:
        """``get weight`` answers ``"10 (initial 100)"``; anything else is a refusal (no such server...)."""
        answer = self.command(f"get weight {backend}/{server}").strip()
        head = answer.split(maxsplit=1)[0] if answer else ""
        if not head.isdigit():
            raise RouterError(f"HAProxy refused `get weight {backend}/{server}` at {self.address}: "
                              f"{answer.splitlines()[0] if answer else 'empty answer'}")
        return int(head)

    def _once(self, command: str) -> str:
        deadline = time.monotonic() + self.timeout_s
        with socket.socket(self.family, socket.SOCK_STREAM) as s:
            s.settimeout(self.timeout_s)
            s.connect(self.target)
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
                s.settimeout(max(0.01, deadline - time.monotonic()))
        return b"".join(chunks).decode(errors="replace")
