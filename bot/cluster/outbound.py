"""The durable send queue: a reply is enqueued with the turn's commit and sent later by its partition's owner.

Why: a reply must survive a crash between the commit and the Graph call, reach the user once, wait out
Meta's transient errors without holding up other users, and stay under the number's rate.

* Each reply is an :class:`OutboundItem` with an idempotency key (``{inbound_message_id}:{i}``,
  ``tick:{tick_id}:{user}:{i}``); enqueueing a known key is a no-op, atomically (:mod:`.outbound_queue`).
* Items are partitioned like the intake (``partition_of`` the user key). The owner of partition ``p`` sends
  ``p``; inside it each user has a lane sending that user's items one by one, in enqueue order, while other
  users' lanes go on -- a backoff (or Meta's pair rate limit, 131056) delays one user only.
* Once Meta accepts an item its key is marked sent (``{prefix}out:sent:{key}`` = wamid), then the audit row
  is written (batched, :mod:`.outbound_log`) and the entry acknowledged. A new owner re-reads what the old
  one never acknowledged and skips marked items: only a crash in the instant between Meta's answer and the
  mark can repeat a send (the Graph API takes no idempotency key).
* Final failures (131047 outside the 24-hour window, 131026, retries exhausted) are logged with the code as
  ``failed`` rows and acknowledged.
* Every send first takes a slot from the number's rate limiter (:mod:`.send_rate`), shared by all senders.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable, Sequence

import structlog
from pywa_async.errors import WhatsAppError

from bot.cluster.outbound_log import OutboundLog, OutboundRecord
from bot.cluster.outbound_queue import (FAILED, Delivery, MemoryOutbound, OutboundItem, OutboundQueue,
                                        OutboundSource, RedisOutbound)
from bot.cluster.send_rate import SendLimiter
from bot.cluster.streams import entry_order
from bot.whatsapp.sender import PAIR, backoff_delay, reply_body, reply_type, retry_class
from handlers.replies import Reply

log = structlog.get_logger("gridworks.cluster.outbound")

__all__ = ["FAILED", "Delivery", "MemoryOutbound", "OutboundItem", "OutboundQueue", "OutboundSender",
           "OutboundSource", "RedisOutbound", "RetryPolicy", "SendFn"]

SendFn = Callable[[str, Reply], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds for one item: Meta's transient errors pass within seconds; past the bound the item is failed."""

    attempts: int = 6                # Graph calls per item before it is recorded as failed
    backoff_s: float = 0.5           # first wait after a transient error, doubled each time (with jitter)
    max_backoff_s: float = 30.0
    pair_backoff_s: float = 6.0      # 131056: Meta allows about one message per 6 s to one user, sustained
    pair_max_backoff_s: float = 60.0


def _hash(key: str) -> str:
    """Keys may hold a phone number (tick pushes): logs carry a short hash instead."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _error(exc: BaseException) -> tuple[int | None, str]:
    if isinstance(exc, WhatsAppError):
        return exc.code, (exc.message or type(exc).__name__)[:200]
    return None, type(exc).__name__


def _record(item: OutboundItem, wamid: str | None, *, code: int | None = None,
            title: str | None = None) -> OutboundRecord:
    return OutboundRecord(user_key=item.user_key, reply_type=reply_type(item.reply),
                          body=reply_body(item.reply), wamid=wamid, correlation_id=item.correlation_id,
                          status="accepted" if wamid else "failed", error_code=code, error_title=title,
                          private=item.private)


class OutboundSender:
    """Sends the partitions this process owns. ``send`` is one Graph call
    (:func:`bot.whatsapp.sender.reply_sender`); retries, marks, audit and acks are done here."""

    def __init__(self, queue: OutboundSource, *, send: SendFn, audit: OutboundLog, consumer: str,
                 limiter: SendLimiter | None = None, policy: RetryPolicy = RetryPolicy(), batch: int = 64,
                 max_in_flight: int = 256, block_ms: int = 1000) -> None:
        self.queue, self.consumer, self.policy = queue, consumer, policy
        self._send, self._audit, self._limiter = send, audit, limiter
        self.batch, self.max_in_flight, self.block_ms = batch, max_in_flight, block_ms
        self._owned: dict[int, tuple[asyncio.Task, asyncio.Event]] = {}
        self._runs: dict[int, _PartitionRun] = {}

    def take(self, partition: int, deliveries: list[Delivery]) -> None:
        """Entries a turn in this process has just queued and read into this consumer's pending list
        (:meth:`RedisOutbound.deliver_locally`): routed to the partition's running lanes. Without a running
        run they stay pending, and the next run claims them."""
        run = self._runs.get(partition)
        if run is not None and not run.halt.is_set():
            run.route(deliveries, {})

    async def run(self, partitions: Iterable[int], stop: asyncio.Event) -> None:
        """Send ``partitions`` until ``stop`` is set (see :meth:`run_partition`; a failed run starts over)."""
        await asyncio.gather(*(self._supervise(p, stop) for p in partitions))

    async def set_partition(self, partition: int, owned: bool) -> None:
        """Start or stop sending ``partition`` in the background (a worker's ``on_partition`` hook)."""
        if owned:
            if partition not in self._owned:
                stop = asyncio.Event()
                task = asyncio.create_task(self._supervise(partition, stop), name=f"outbound-{partition}")
                self._owned[partition] = (task, stop)
            return
        running = self._owned.pop(partition, None)
        if running is not None:
            running[1].set()
            await asyncio.gather(running[0], return_exceptions=True)

    @property
    def partitions(self) -> list[int]:
        return sorted(self._owned)

    async def close(self) -> None:
        """Stop every partition started by :meth:`set_partition` (gracefully, see :meth:`run_partition`)."""
        for p in list(self._owned):
            await self.set_partition(p, False)

    async def _supervise(self, partition: int, stop: asyncio.Event) -> None:
        """A failed run (Redis or the database gone) starts over from the queue: nothing is lost."""
        while not stop.is_set():
            try:
                await self.run_partition(partition, stop)
            except Exception as exc:  # noqa: BLE001 - logged; the retry re-claims what is unacknowledged
                log.error("outbound_partition_restart", partition=partition, error=type(exc).__name__,
                          rate_limit=f"p{partition}")     # every second while the database is down
                await _halted(stop, 1.0)

    async def run_partition(self, partition: int, stop: asyncio.Event) -> None:
        """Take ``partition`` over (its unacknowledged entries first), then send new items until ``stop``.

        On ``stop`` the lanes finish the Graph call in hand and leave the rest pending for the next owner;
        acknowledgements of finished items are written before returning. Cancellation is a crash: no more
        acknowledgements (a mark or audit write already started still completes); the next owner recovers."""
        await _PartitionRun(self, partition, stop).run()

    async def deliver(self, item: OutboundItem, halt: asyncio.Event) -> OutboundRecord | None:
        """Send one item with retries; its audit record, or None when ``halt`` interrupted a wait."""
        attempt = 0
        while True:
            if self._limiter is not None:
                await self._limiter.acquire()
            try:
                wamid = await self._send(item.to, item.reply)
            except Exception as exc:  # noqa: BLE001 - every failure is classified: retried or recorded
                kind = retry_class(exc)
                code, title = _error(exc)
                attempt += 1
                if kind is None or attempt >= self.policy.attempts:
                    log.warning("outbound_failed", key=_hash(item.key), code=code, error=type(exc).__name__,
                                attempts=attempt, retryable=kind is not None)
                    await asyncio.shield(self._mark(item.key, f"{FAILED}:{code}"))
                    return _record(item, None, code=code, title=title)
                pol = self.policy
                base, cap = ((pol.pair_backoff_s, pol.pair_max_backoff_s) if kind == PAIR
                             else (pol.backoff_s, pol.max_backoff_s))
                delay = backoff_delay(base, attempt - 1, cap_s=cap)
                log.info("outbound_retry", key=_hash(item.key), code=code, error=type(exc).__name__,
                         attempt=attempt, delay_s=round(delay, 3))
                if await _halted(halt, delay):
                    return None
                continue
            # Shielded: a cancellation now must not lose the fact that Meta has it.
            await asyncio.shield(self._mark(item.key, wamid))
            return _record(item, wamid)

    async def _mark(self, key: str, value: str, *, attempts: int = 5) -> None:
        """Retried: without the mark, the next owner would send the item again."""
        for attempt in range(attempts):
            try:
                return await self.queue.mark(key, value)
            except Exception as exc:  # noqa: BLE001 - a Redis hiccup; the last failure propagates
                if attempt == attempts - 1:
                    raise
                log.warning("outbound_mark_failed", key=_hash(key), error=type(exc).__name__,
                            attempt=attempt + 1)
                await asyncio.sleep(0.05 * 2 ** attempt)


def _insert_in_order(lane: deque[Delivery], d: Delivery) -> None:
    """Behind every queued item older than ``d``, never ahead of the head (it may be on its way to Meta)."""
    order = entry_order(d.entry_id)
    i = len(lane)
    while i > 1 and entry_order(lane[i - 1].entry_id) > order:
        i -= 1
    lane.insert(i, d)


async def _halted(halt: asyncio.Event, delay: float) -> bool:
    try:
        await asyncio.wait_for(halt.wait(), delay)
        return True
    except asyncio.TimeoutError:
        return False


class _PartitionRun:
    """One partition's loop: read, route each item to its user's lane, batch audit rows and acks."""

    def __init__(self, sender: OutboundSender, partition: int, stop: asyncio.Event) -> None:
        self.s, self.p, self.stop = sender, partition, stop
        self.halt = asyncio.Event()                      # stop, or a failure of this run
        self.lanes: dict[str, deque[Delivery]] = {}
        self.tasks: set[asyncio.Task] = set()
        self.done: list[tuple[str, OutboundRecord | None]] = []
        self.wake = asyncio.Event()
        self.room = asyncio.Event()
        self.in_flight = 0
        self.seen: set[str] = set()                      # entry ids routed and not yet acknowledged
        self.closing = False
        self.error: BaseException | None = None

    async def run(self) -> None:
        stopper = asyncio.create_task(self._watch_stop())
        flusher = asyncio.create_task(self._flush_loop())
        self.s._runs[self.p] = self                      # from now on, local hand-overs come here
        try:
            await self._dispatch(await self.s.queue.claim(self.p, self.s.consumer), taken_over=True)
            while not self.halt.is_set():
                if self.in_flight >= self.s.max_in_flight:     # back-pressure: wait for acks (or a halt)
                    self.room.clear()
                    await _halted(self.room, self.s.block_ms / 1000)
                    continue
                count = min(self.s.batch, self.s.max_in_flight - self.in_flight)
                await self._dispatch(await self.s.queue.read(self.p, self.s.consumer, count=count,
                                                            block_ms=self.s.block_ms))
            if self.tasks:
                await asyncio.wait(set(self.tasks))
            self.closing = True
            self.wake.set()
            await flusher
        except BaseException:
            for task in (*self.tasks, flusher):
                task.cancel()
            raise
        finally:
            stopper.cancel()
            if self.s._runs.get(self.p) is self:
                del self.s._runs[self.p]
        if self.error is not None:
            raise self.error

    async def _watch_stop(self) -> None:
        await self.stop.wait()
        self.halt.set()
        self.room.set()

    def _fail(self, exc: BaseException) -> None:
        log.error("outbound_partition_failed", partition=self.p, error=type(exc).__name__,
                  rate_limit=f"p{self.p}")
        self.error = self.error or exc
        self.halt.set()
        self.room.set()

    async def _dispatch(self, deliveries: Sequence[Delivery], *, taken_over: bool = False) -> None:
        """Route items to their users' lanes. Only entries ``taken_over`` from a previous run may have been
        sent already (their marks are checked); a newly read entry was never handed to anyone."""
        live = [d.item.key for d in deliveries if d.item is not None and d.entry_id not in self.seen]
        self.route(deliveries, await self.s.queue.marks(live) if live and taken_over else {})

    def route(self, deliveries: Sequence[Delivery], marks: dict[str, str]) -> None:
        """Entries reach a run from its claim, its reads and local hand-overs (:meth:`OutboundSender.take`);
        one racing the claim can arrive twice, so an entry already routed is skipped. A user's lane keeps its
        unsent items in queue order whichever way they came."""
        for d in deliveries:
            if d.entry_id in self.seen:
                continue
            self.seen.add(d.entry_id)
            self.in_flight += 1
            if d.item is None:
                self._complete(d.entry_id, None)
                continue
            mark = marks.get(d.item.key)
            if mark is not None:                     # sent (or given up) before a crash: never again
                log.info("outbound_recovered", key=_hash(d.item.key), failed=mark.startswith(FAILED))
                self._complete(d.entry_id, None if mark.startswith(FAILED) else _record(d.item, mark))
                continue
            lane = self.lanes.get(d.item.user_key)
            if lane is not None:
                _insert_in_order(lane, d)
                continue
            self.lanes[d.item.user_key] = deque([d])
            task = asyncio.create_task(self._lane(d.item.user_key))
            self.tasks.add(task)
            task.add_done_callback(self._lane_done)

    def _lane_done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._fail(task.exception())  # type: ignore[arg-type]

    async def _lane(self, user_key: str) -> None:
        """One user's items, strictly one after another (the order they were enqueued in)."""
        lane = self.lanes[user_key]
        try:
            while lane and not self.halt.is_set():
                d = lane[0]
                assert d.item is not None
                record = await self.s.deliver(d.item, self.halt)
                if record is None:
                    break
                lane.popleft()
                self._complete(d.entry_id, record)
        finally:
            if self.lanes.get(user_key) is lane:
                del self.lanes[user_key]

    def _complete(self, entry_id: str, record: OutboundRecord | None) -> None:
        self.done.append((entry_id, record))
        self.wake.set()

    async def _flush_loop(self) -> None:
        """Group commit: while one batch is written, the next accumulates."""
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                while self.done:
                    await self._flush()
                if self.closing:
                    return
        except Exception as exc:  # noqa: BLE001 - Redis or the database is gone: this run ends
            self._fail(exc)

    async def _flush(self) -> None:
        batch, self.done = self.done, []
        rows = [r for _, r in batch if r is not None]
        attempt = 0
        while rows:
            try:
                # Shielded: a cancelled run must not leave a transaction (a SQLite write lock) half done.
                await asyncio.shield(self.s._audit.record_outbound_many(rows))
                break
            except Exception as exc:  # noqa: BLE001 - the database may come back; unacked items wait
                attempt += 1
                log.warning("outbound_audit_failed", rows=len(rows), error=type(exc).__name__,
                            attempt=attempt)
                if attempt >= 5:
                    raise
                await asyncio.sleep(min(5.0, 0.1 * 2 ** attempt))
        await self.s.queue.ack(self.p, [entry_id for entry_id, _ in batch])
        self.seen.difference_update(entry_id for entry_id, _ in batch)
        self.in_flight -= len(batch)
        self.room.set()
