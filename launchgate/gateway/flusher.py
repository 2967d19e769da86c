"""The buffered writers' shared lifecycle: a batch stored every ``FLUSH_S``, and the rest at shutdown.

Feedback (feedback.py), the review queue (review.py) and shadow pairs (shadow.py) buffer JSONL
lines on the event loop. ``take()`` (on the loop) swaps the buffer out as ``(store key, bytes)``
and ``write()`` (in a worker thread, so a slow store never blocks requests) stores it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

FLUSH_S = 2.0


class PeriodicFlush:
    """Mixin: subclasses define ``take``/``write`` and name their flusher task; ``lifecycle`` goes in
    the app's ``cleanup_ctx``."""

    flusher_name = "flusher"
    # False when the writer stores its last batch itself, earlier in shutdown (the shadow mirror does,
    # in on_shutdown, after stopping the mirrors in flight).
    flush_on_close = True

    def take(self) -> tuple[str, bytes] | None:
        raise NotImplementedError

    def write(self, taken: tuple[str, bytes] | None) -> None:
        raise NotImplementedError

    async def flush(self) -> None:
        await asyncio.to_thread(self.write, self.take())

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(self._flusher(), name=self.flusher_name)
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if self.flush_on_close:
                await self.flush()

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            await self.flush()
