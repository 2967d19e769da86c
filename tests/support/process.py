"""A child process a test started (prometheus, haproxy) and the log file it writes."""

from __future__ import annotations

import subprocess
from pathlib import Path


class LoggedProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""
