"""A tiny progress bus: long steps report (step, done, total); the CLI draws a bar from it.

Tasks report here and to Prefect's progress artifact; the core stays free of both.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

Listener = Callable[[str, int, int], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def subscribe(listener: Listener) -> Callable[[], None]:
    with _lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe


def emit(step: str, done: int, total: int) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        # A broken progress display must never break a release.
        with contextlib.suppress(Exception):
            listener(step, done, total)
