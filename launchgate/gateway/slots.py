"""Backpressure: a bound on requests in flight to one upstream, with a short queue in front of it.

A request takes a slot before it calls the upstream and gives it back when its answer is done
(a stream: at its last byte). When every slot is taken it may wait in the queue for at most
``timeout_s``; when the queue is full too, or the wait runs out, the caller answers
``503 overloaded`` with ``Retry-After`` at once instead of piling latency onto everyone.
A freed slot passes straight to the oldest waiter (first come, first served).
"""

from __future__ import annotations

import asyncio
from collections import deque


class Slots:
    def __init__(self, limit: int, queue: int, timeout_s: float) -> None:
        self.limit = limit
        self.queue = queue
        self.timeout_s = timeout_s
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> bool:
        """True with a slot held (call ``release`` once done); False: answer 503 overloaded."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return True
        if len(self._waiters) >= self.queue:
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), self.timeout_s)
            return True
        except TimeoutError:
            if fut.done():  # the slot arrived as the wait ran out: hand it on
                self.release()
            else:
                fut.cancel()
            return False
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)

    def release(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot moves to this waiter; in_flight stays
                return
        self.in_flight -= 1
