"""The worker role: runs the turns of the partitions it owns, one partition's entries strictly in order.

For each intake entry: the dispatcher runs the turn (its state and journal commit together), the replies are
handed to the durable outbound queue under keys derived from the message id, and the entry is acknowledged.
On Redis the three are one atomic script (the turn's commit is staged, :data:`TURN_SCOPE`, and written
with its replies and the acknowledgement); in process, one after another. A crash anywhere before the
acknowledgement leaves the entry pending; the partition's next owner takes it over as a *retry*, which either
finds the turn in the journal (the recorded replies are queued again, and the outbound queue drops the keys it
already has) or runs it from the state it started from (engine commands are idempotent on ids derived from
the message).

Different partitions run concurrently; a partition is one asyncio task, so ``partitions`` bounds the turns in
flight in a worker.

Read receipts: a reply tells the user their message was read, so a turn that answers promptly sends no
separate receipt (it was a second Graph call per message, an eighth of a turn's CPU). A turn still running
after :data:`TYPING_AFTER_S` shows the typing indicator (which marks the message read), and a turn that ends
with nothing to say marks the message read, so no message is left looking unseen.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Sequence

import structlog

from bot import metrics
from bot.cluster.intake import Entry, Intake
from bot.cluster.ownership import Ownership
from bot.cluster.push import OutboundMessenger
from bot.loop_gate import LagGate
from bot.stores.redis_stores import TURN_SCOPE, TurnScope
from bot.tasks import TaskTracker
from handlers.ports import Superseded
from handlers.replies import Reply
from handlers.turn import TurnResult, TurnStatus

log = structlog.get_logger("gridworks.worker")

#: Entries read ahead per worker and not yet run; past this the reader waits (they stay pending in Redis).
READ_AHEAD = 512
#: How often leases are renewed, relative to the lease.
RENEW_FRACTION = 3
#: A turn that failed on infrastructure is tried again after this, doubling up to the maximum.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0
#: A turn still running after this shows the user the typing indicator.
TYPING_AFTER_S = 1.0


class TurnWorker:
    def __init__(self, *, dispatcher: Any, intake: Intake, ownership: Ownership, messenger: OutboundMessenger,
                 consumer: str, lease_s: float = 5.0,
                 on_read: Callable[[str, bool], Awaitable[None]] | None = None,
                 on_partition: Callable[[int, bool], Awaitable[None]] | None = None,
                 gate: LagGate | None = None) -> None:
        """``messenger`` pushes replies (to the outbound queue); ``on_read(message_id, typing)`` marks a
        message read, with the typing indicator when ``typing``; ``on_partition(p, owned)`` tells the outbound
        sender which partitions this worker now sends; ``gate`` bounds the turns running at once by the
        loop's lag (where the same loop acknowledges webhooks)."""
        self._dispatcher = dispatcher
        self._intake = intake
        self._own = ownership
        self._messenger = messenger
        self._consumer = consumer
        self._lease_s = lease_s
        self._on_read = on_read
        self._on_partition = on_partition
        self._gate = gate
        self._queues: dict[int, asyncio.Queue[tuple[Entry, bool] | None]] = {}
        self._runners: dict[int, asyncio.Task] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._draining: set[int] = set()
        self._tasks = TaskTracker()
        self._buffered = 0
        self.turns = 0
        self.active = 0                  # turns running now
        self._stopping = False

    # -- ownership ------------------------------------------------------------------------------------
    # Renewing leases never waits for a partition to start or stop: a partition is taken over or given
    # back in a task of its own (one at a time per partition), so a slow drain cannot let other leases lapse.
    def _partition_lock(self, p: int) -> asyncio.Lock:
        return self._locks.setdefault(p, asyncio.Lock())

    async def _take(self, p: int) -> None:
        async with self._partition_lock(p):
            if p in self._queues or p not in self._own.owned():
                return
            tenure = self._own.fence(p)
            q: asyncio.Queue = asyncio.Queue()
            for entry in await self._intake.claim(p, self._consumer):
                q.put_nowait((entry, True))
                self._buffered += 1
            self._queues[p] = q          # only now may the reader add new entries: after the older ones
            self._runners[p] = asyncio.create_task(self._run_partition(p, q, tenure), name=f"partition-{p}")
            if self._on_partition is not None:
                await self._on_partition(p, True)

    async def _drop(self, p: int, *, release: bool) -> None:
        async with self._partition_lock(p):
            q = self._queues.pop(p, None)
            runner = self._runners.pop(p, None)
            if q is not None:
                q.put_nowait(None)           # the runner finishes the turn in hand, then stops
            if runner is not None:
                await asyncio.gather(runner, return_exceptions=True)
            if self._on_partition is not None and q is not None:
                await self._on_partition(p, False)
            if release:
                await self._own.release(p)
            self._draining.discard(p)

    async def _keep_leases(self, stop: asyncio.Event) -> None:
        every = self._lease_s / RENEW_FRACTION
        while not stop.is_set():
            try:
                gained, lost = await self._own.refresh()
                for p in lost:
                    log.warning("partition_lost", partition=p)
                    self._tasks.spawn(self._drop(p, release=False), name=f"drop-{p}")
                for p in sorted(gained):
                    self._tasks.spawn(self._take(p), name=f"take-{p}")
                for p in await self._own.over_share():
                    if p not in self._draining:          # still renewed until the drain has finished
                        self._draining.add(p)
                        self._tasks.spawn(self._drop(p, release=True), name=f"give-back-{p}")
            except Exception:  # noqa: BLE001 - Redis hiccup: the next round tries again
                log.exception("lease_refresh_failed")
            try:
                await asyncio.wait_for(stop.wait(), every)
            except asyncio.TimeoutError:
                pass

    # -- intake -----------------------------------------------------------------------------------------
    async def _read(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            owned = [p for p in self._own.owned() if p in self._queues]
            if self._buffered >= READ_AHEAD or not owned:
                await asyncio.sleep(0.01)
                continue
            try:
                batch = await self._intake.read(owned, self._consumer, count=min(128, READ_AHEAD - self._buffered),
                                                block_ms=250)
            except Exception:  # noqa: BLE001 - Redis hiccup: retry shortly
                log.exception("intake_read_failed")
                await asyncio.sleep(0.5)
                continue
            for p, entry in batch:
                q = self._queues.get(p)
                if q is None:            # given up meanwhile: it stays pending for the next owner
                    continue
                q.put_nowait((entry, False))
                self._buffered += 1

    async def _run_partition(self, p: int, q: asyncio.Queue, tenure: tuple[str, str] | None) -> None:
        """Runs the entries queued under one tenure of the partition's lease, in order. Once the tenure has
        ended (even if this worker holds the partition again, under a new one), the rest are left pending:
        the next tenure's run claims them with any entry a turn could not commit, oldest first -- running
        them here would answer a user's later messages before an earlier one."""
        while True:
            item = await q.get()
            if item is None:
                return
            self._buffered -= 1
            entry, retry = item
            if self._own.fence(p) != tenure:
                continue                 # the tenure ended: the next one takes it over
            if self._gate is not None:
                async with self._gate:
                    await self._run_counted(p, entry, retry, tenure)
            else:
                await self._run_counted(p, entry, retry, tenure)

    async def _run_counted(self, p: int, entry: Entry, retry: bool, tenure: tuple[str, str] | None) -> None:
        self.active += 1
        try:
            await self._run_until_done(p, entry, retry, tenure)
        finally:
            self.active -= 1

    async def _run_until_done(self, p: int, entry: Entry, retry: bool, tenure: tuple[str, str] | None) -> None:
        """Run one entry until it is acknowledged, or the tenure it was queued under has ended. A failure here
        is the infrastructure's (the dispatcher answers a handler's own errors with an apology): the database
        or Redis is down. The entry is tried again, as a retry, before anything behind it (arrival order)."""
        delay = RETRY_FIRST_S
        # (run_entry fences its commit with the tenure read before its first await: this one)
        while self._own.fence(p) == tenure and not self._stopping:
            try:
                await self.run_entry(p, entry, retry=retry)
                return
            except Superseded:
                log.warning("turn_superseded", partition=p, entry_id=entry.entry_id)
                return
            except Exception:  # noqa: BLE001 - not acknowledged: tried again here (or by a later owner)
                log.exception("entry_failed", partition=p, entry_id=entry.entry_id)
            retry = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    async def run_entry(self, p: int, entry: Entry, *, retry: bool) -> TurnResult:
        """One message: the turn, then its commit, its replies to the outbound queue (idempotent keys) and
        the entry acknowledged -- in one atomic step where the intake is a stream. Raises when they could not
        be written (the entry stays pending), :class:`Superseded` when the partition's lease was lost."""
        message = entry.message
        typing: list[bool] = []
        timer = None
        if self._on_read is not None:
            timer = asyncio.get_running_loop().call_later(TYPING_AFTER_S, self._typing, message.id, typing)
        done = self._intake.ack_of(p, entry.entry_id)
        fence = self._own.fence(p)
        # a stream intake: the commit goes with the replies and the ack; the session may come from this tenure
        scope = TurnScope(fence=fence, fresh=not retry) if done is not None else None
        token = TURN_SCOPE.set(scope)
        try:
            result = await metrics.timed_turn(self._dispatcher.handle(message, retry=retry, fence=fence))
        finally:
            TURN_SCOPE.reset(token)
            if timer is not None:
                timer.cancel()
        self.turns += 1
        commit = scope.staged[0] if scope is not None and scope.staged else None
        if result.status is TurnStatus.DUPLICATE and not result.replies:
            await self._intake.ack(p, [entry.entry_id])
            return result
        if (result.status is not TurnStatus.DUPLICATE and not result.replies and not typing
                and self._on_read is not None):
            self._tasks.spawn(self._on_read(message.id, False), name="read-receipt")
        target = result.user if result.user is not None else message.sender
        if result.replies or commit is not None:
            await self._messenger.push(target, result.replies, key=message.id,
                                       correlation_id=result.correlation_id, partition=p, ack=done,
                                       commit=commit)
        else:
            await self._intake.ack(p, [entry.entry_id])
        for j, job in enumerate(result.deferred):
            self._tasks.spawn(self._deferred(target, job, f"{message.id}:d{j}", result.correlation_id, p),
                              name="deferred")
        return result

    def _typing(self, message_id: str, shown: list[bool]) -> None:
        shown.append(True)
        assert self._on_read is not None
        self._tasks.spawn(self._on_read(message_id, True), name="typing")

    async def _deferred(self, target: Any, job: Callable[[], Awaitable[Sequence[Reply]]], key: str,
                        correlation_id: str, p: int) -> None:
        replies = await job()
        if replies:
            await self._messenger.push(target, replies, key=key, correlation_id=correlation_id, partition=p)

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then finish the turns in hand and give the partitions back."""
        leases = asyncio.create_task(self._keep_leases(stop), name="leases")
        reader = asyncio.create_task(self._read(stop), name="intake-reader")
        watch = [asyncio.create_task(self._gate.watch(stop), name="loop-lag")] if self._gate else []
        try:
            await stop.wait()
        finally:
            self._stopping = True
            await asyncio.gather(leases, reader, *watch, return_exceptions=True)
            await self._tasks.drain()
            await asyncio.gather(*(self._drop(p, release=True) for p in list(self._queues)))
            await self._own.close()

    @property
    def backlog(self) -> int:
        return self._buffered
