"""A child process for the CPU-heavy half of the contracts and eval steps.

Great Expectations takes ~3.5 s of CPU to import (it pulls in pandas, scipy.stats, altair and
sqlalchemy). In a child process that import, the GX suite and the paired statistics run on
another core while the parent starts up and waits on the models; threads would not help, the
work holds the GIL. ``launchgate check`` uses it; the calls are module-level functions with
picklable arguments and results, one call at a time.

The child is started with ``spawn`` (a fresh interpreter: no locks or threads inherited from
the parent) as a daemon, so it never outlives the parent.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from launchgate.errors import InputError, LaunchgateError

POLL_S = 0.5  # how often a waiting parent checks that the child is still alive


def _resolve(ref: str) -> Callable[[], Any]:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def _serve(conn: Connection, warm: str | None) -> None:
    # The parent's stdout carries its one result line: anything printed here goes to stderr.
    sys.stdout = sys.stderr
    if warm:
        # A warm-up that fails costs nothing: the first call that needs it raises, with its context.
        with contextlib.suppress(Exception):
            _resolve(warm)()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            message = None
        if message is None:
            # Every call's work is written and answered: skip the interpreter's teardown, which takes
            # 1.5-2.5 s with GX loaded while the parent waits for this process to end.
            sys.stderr.flush()
            os._exit(0)
        fn, args = message
        try:
            reply: tuple[Any, ...] = ("ok", fn(*args))
        except InputError as exc:  # custom __init__s do not unpickle: the message travels, the class is restored
            reply = ("input", str(exc))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
            reply = ("error", f"{type(exc).__name__}: {exc}", traceback.format_exc())
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable result
            conn.send(("error", f"result could not be sent back ({type(exc).__name__}: {exc})",
                       traceback.format_exc()))


class Worker:
    def __init__(self, process: multiprocessing.process.BaseProcess, conn: Connection) -> None:
        self._process = process
        self._conn = conn
        self._pending = False
        self._used = False
        self.traceback: str | None = None  # of the last call that failed in the child

    @classmethod
    def start(cls, warm: str | None = None) -> Worker | None:
        """Start the child; ``warm`` ("module:function") runs first, e.g. to import GX before any call.

        None when no process can be started here (the caller then does the work itself).
        """
        try:
            ctx = multiprocessing.get_context("spawn")
            parent, child = ctx.Pipe()
            process = ctx.Process(target=_serve, args=(child, warm), name="launchgate-worker", daemon=True)
            process.start()
        except (OSError, ValueError, RuntimeError):
            return None
        child.close()
        return cls(process, parent)

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Send one call; ``result()`` collects it. One call at a time."""
        if self._pending:
            raise RuntimeError("the worker runs one call at a time: collect the last result first")
        try:
            self._conn.send((fn, args))
        except (OSError, ValueError) as exc:
            raise LaunchgateError(f"the worker process cannot take work ({exc})") from exc
        self._pending = self._used = True

    def result(self) -> Any:
        """The submitted call's return value; its InputError as an InputError, anything else as LaunchgateError."""
        try:
            while not self._conn.poll(POLL_S):
                if not self._process.is_alive():
                    raise LaunchgateError(f"the worker process exited (code {self._process.exitcode}) "
                                          f"before answering")
            reply = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise LaunchgateError(f"the worker process went away ({type(exc).__name__})") from exc
        finally:
            self._pending = False
        if reply[0] == "ok":
            return reply[1]
        if reply[0] == "input":
            raise InputError(reply[1])
        self.traceback = reply[2]
        raise LaunchgateError(f"in the worker process: {reply[1]}")

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        self.submit(fn, *args)
        return self.result()

    def close(self) -> None:
        """Stop the child. One that is idle is asked; one still busy (a call, or its warm-up when it was
        never used, e.g. after invalid input) is terminated rather than awaited."""
        if self._used and not self._pending:
            try:
                self._conn.send(None)
                self._process.join(timeout=2)
            except (OSError, ValueError):
                pass
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=2)
        self._conn.close()
