"""Coalescing: calls from many concurrent callers run as one batch, each caller awaiting its own result.

Why: at hundreds of messages a second, per-call round trips dominate — one database transaction per audit
row (one fsync on SQLite), one Redis round trip per engine command or reply. Here the first caller's job runs
at once; whoever arrives while that batch runs joins the next one. An idle system adds no delay, a busy one
pays one round trip per batch, and the guarantee is the call's own: ``submit`` returns only after the batch
holding its job has completed (or raises what made that batch fail).

Users: :func:`bot.stores.sql.message_writer` (group commit of ``messages`` rows), the engine RPC
(:mod:`bot.cluster.engine_rpc`: commands pipelined by the workers, replies pipelined by the engine) and the
stream acks (:class:`bot.cluster.streams.StreamAcks`, whose send-queue acks *linger* to ride the next
batch of sent marks).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Generic, Sequence, TypeVar

Job = TypeVar("Job")

#: Jobs per batch at most (a bound on one statement's or pipeline's size and on one batch's latency).
MAX_BATCH = 256


class Coalescer(Generic[Job]):
    """``await submit(job)`` → ``run(jobs)``'s result for ``job``; ``run`` returns one result per job, in
    order, for a batch of jobs submitted while the previous batch ran."""

    def __init__(self, run: Callable[[Sequence[Job]], Awaitable[Sequence[Any]]], *,
                 max_batch: int = MAX_BATCH) -> None:
        self._run = run
        self._max = max_batch
        self._pending: list[tuple[Job, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None
        self._timer: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None
        self.batches = 0

    async def submit(self, job: Job, *, linger_s: float = 0.0) -> Any:
        """``linger_s``: when no batch is running, wait up to that long for another caller to start one
        (a job that need not go at once rides someone else's round trip instead of paying its own)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((job, future))
        if self._idle(loop):
            if linger_s > 0:
                if self._timer is None or self._timer[0] is not loop:   # (a closed loop's timer never fires)
                    self._timer = (loop, loop.call_later(linger_s, self._start, loop))
            else:
                self._start(loop)
        # A caller cancelled meanwhile cancels only its own future: its job stays in the batch (the others'
        # results do not depend on it) and its result is dropped.
        return await future

    def _idle(self, loop: asyncio.AbstractEventLoop) -> bool:
        return self._flusher is None or self._flusher.done() or self._flusher.get_loop() is not loop

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer[1].cancel()
            self._timer = None
        if self._pending and self._idle(loop):
            self._flusher = loop.create_task(self._flush(), name="coalescer")

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:self._max], self._pending[self._max:]
            try:
                results = await self._run([job for job, _ in batch])
                self.batches += 1
            except BaseException as exc:  # noqa: BLE001 - every caller of the batch learns of it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
                        future.exception()          # retrieved: a caller that gave up leaves no warning
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)
