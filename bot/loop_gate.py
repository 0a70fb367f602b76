"""How many turns may run at once in a process whose one event loop also acknowledges Meta's webhooks.

Why: asyncio has no priorities. Saturated, every loop iteration runs a step of every turn in flight before
it gets back to a webhook's next step, so with 64 turns running the acknowledgement waited 55–70 ms at the
top of the embedded server's range (the issue asks for 50 at most). The gate measures how late the loop
wakes a short sleep (its lag) and narrows the turns allowed in (multiplicatively) while the lag is over
target, widening again one at a time once it is under (AIMD, as TCP does). Turns that wait keep their place
in arrival order; the messages wait in the intake, as they would behind a busy partition.
"""

from __future__ import annotations

import asyncio
from collections import deque

from bot import metrics

__all__ = ["LagGate"]


class LagGate:
    """``async with gate:`` around a turn. ``most``: the widest (the partitions' count); ``least``: never
    narrower (or ``most``, if smaller), so I/O waits still overlap; ``target_s``: the loop lag above which it narrows."""

    def __init__(self, *, most: int, least: int = 24, target_s: float = 0.015, every_s: float = 0.02) -> None:
        if most < 1 or least < 1:
            raise ValueError("the gate must let at least one turn in")
        least = min(least, most)                # a process with few partitions: never narrower than them
        self.most, self.least, self.target_s, self.every_s = most, least, target_s, every_s
        self.limit = most
        metrics.TURN_LIMIT.set(most)
        self.active = 0
        self.narrowed = 0                       # times the lag made it narrow (for tests and metrics)
        self._waiters: deque[asyncio.Future] = deque()

    async def __aenter__(self) -> "LagGate":
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return self
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():     # let in just as it was cancelled
                self._leave()
            raise
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._leave()

    def _leave(self) -> None:
        self.active -= 1
        self._admit()

    def _admit(self) -> None:
        while self._waiters and self.active < self.limit:
            future = self._waiters.popleft()
            if not future.done():
                self.active += 1
                future.set_result(None)

    def observe(self, lag_s: float) -> None:
        """One lag measurement: narrow by a quarter over target, else widen by one."""
        if lag_s > self.target_s:
            if self.limit > self.least:
                self.narrowed += 1
                metrics.TURN_LIMIT_NARROWED.inc()
            self.limit = max(self.least, int(self.limit * 0.75))
        else:
            self.limit = min(self.most, self.limit + 1)
            self._admit()
        metrics.TURN_LIMIT.set(self.limit)

    async def watch(self, stop: asyncio.Event) -> None:
        """Measure the loop's lag every ``every_s`` until ``stop``."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            start = loop.time()
            await asyncio.sleep(self.every_s)
            self.observe(loop.time() - start - self.every_s)
