"""Bounded concurrency with priority lanes, so PRO replies are never queued behind LITE or bulk work.

The webhook hands every turn to :meth:`LaneScheduler.run` with a lane. At most ``limit`` turns run at once;
when slots are scarce the waiting PRO turns start first, then LITE, then bulk (campaign sends). Per-user
order is kept upstream by the per-user serializer, so lanes never reorder one user's messages.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from enum import IntEnum
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")


class Lane(IntEnum):
    PRO = 0
    LITE = 1
    BULK = 2


class LaneScheduler:
    def __init__(self, *, limit: int = 64) -> None:
        if limit < 1:
            raise ValueError("limit must be ≥ 1")
        self._limit = limit
        self._running = 0
        self._waiting: list[tuple[int, int, asyncio.Future]] = []
        self._seq = itertools.count()

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def run(self, lane: Lane, job: Callable[[], Awaitable[T]]) -> T:
        await self._acquire(lane)
        try:
            return await job()
        finally:
            self._release()

    async def _acquire(self, lane: Lane) -> None:
        if self._running < self._limit and not self._waiting:
            self._running += 1
            return
        ticket = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (int(lane), next(self._seq), ticket))
        try:
            await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self._release()  # we were granted a slot but are leaving: hand it on
            else:
                self._waiting = [w for w in self._waiting if w[2] is not ticket]
                heapq.heapify(self._waiting)
            raise

    def _release(self) -> None:
        while self._waiting:
            _, _, ticket = heapq.heappop(self._waiting)
            if not ticket.done():
                ticket.set_result(None)   # the slot passes straight to the best waiting turn
                return
        self._running -= 1
