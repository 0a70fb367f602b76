"""The durable send queue: a reply is enqueued with the turn's commit and sent later by its partition's owner.

Why: a reply must survive a crash between the commit and the Graph call, reach the user once, wait out
Meta's transient errors without holding up other users, and stay under the number's rate.

* Each reply is an :class:`OutboundItem` with an idempotency key (``{inbound_message_id}:{i}``,
  ``tick:{tick_id}:{user}:{i}``); enqueueing a known key is a no-op, atomically.
* Items are partitioned like the intake (:func:`partition_of` the user key). The owner of partition ``p``
  sends ``p``; inside it each user has a lane sending that user's items one by one, in enqueue order, while
  other users' lanes go on -- a backoff (or Meta's pair rate limit, 131056) delays one user only.
* Once Meta accepts an item its key is marked sent (``{prefix}out:sent:{key}`` = wamid), then the audit row
  is written (batched) and the entry acknowledged. A new owner re-reads what the old one never acknowledged
  and skips marked items: only a crash in the instant between Meta's answer and the mark can repeat a send
  (the Graph API takes no idempotency key).
* Final failures (131047 outside the 24-hour window, 131026, retries exhausted) are logged with the code as
  ``failed`` rows and acknowledged.

``MemoryOutbound`` is the embedded default (a crash loses what the process held, as before);
``RedisOutbound`` keeps one stream per partition (``{prefix}out:{p}``, consumer group ``senders``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Protocol, Sequence

import structlog
from pywa_async.errors import WhatsAppError
from redis.asyncio import Redis

from bot.cluster.outbound_log import OutboundLog, OutboundRecord
from bot.cluster.reply_codec import reply_from_wire, reply_to_wire
from bot.cluster.send_rate import SendLimiter
from bot.whatsapp.sender import PAIR, backoff_delay, reply_body, reply_type, retry_class
from handlers.replies import Reply

log = structlog.get_logger("gridworks.cluster.outbound")

__all__ = ["Delivery", "MemoryOutbound", "OutboundItem", "OutboundQueue", "OutboundSender", "OutboundSource",
           "RedisOutbound", "RetryPolicy"]

KEY_TTL_S = 7 * 24 * 3600           # idempotency keys and sent marks are kept for a week
GROUP = "senders"
FAILED = "!failed"                  # sent-mark value of an item given up for good (never a wamid)

SendFn = Callable[[str, Reply], Awaitable[str]]
_DUMP = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class OutboundItem:
    key: str                        # idempotency key
    user_key: str
    to: str                         # phone number or BSUID (:func:`bot.whatsapp.sender.address`)
    reply: Reply
    correlation_id: str | None
    partition: int

    def to_json(self) -> str:
        return _DUMP({"k": self.key, "u": self.user_key, "to": self.to, "r": reply_to_wire(self.reply),
                      "c": self.correlation_id, "p": self.partition})

    @classmethod
    def from_json(cls, raw: str | bytes) -> "OutboundItem":
        obj = json.loads(raw)
        return cls(key=obj["k"], user_key=obj["u"], to=obj["to"], reply=reply_from_wire(obj["r"]),
                   correlation_id=obj.get("c"), partition=int(obj["p"]))


@dataclass(frozen=True, slots=True)
class Delivery:
    """One queue entry handed to a sender; ``item`` is None when the entry is gone or undecodable."""

    entry_id: str
    item: OutboundItem | None


class OutboundQueue(Protocol):
    partitions: int

    async def enqueue(self, items: Sequence[OutboundItem]) -> int:
        """Durably add the items whose key is new; returns how many were new."""


class OutboundSource(OutboundQueue, Protocol):
    """The sender's side of a queue."""

    async def claim(self, partition: int, consumer: str) -> list[Delivery]:
        """Take over every entry of ``partition`` read but not acknowledged (by anyone), in queue order."""

    async def read(self, partition: int, consumer: str, *, count: int, block_ms: int) -> list[Delivery]: ...

    async def ack(self, partition: int, entry_ids: Sequence[str]) -> None: ...

    async def marks(self, keys: Sequence[str]) -> dict[str, str]:
        """The sent marks (wamid, or ``!failed:<code>``) of those ``keys`` that have one."""

    async def mark(self, key: str, value: str) -> None: ...


def _check_partition(item: OutboundItem, partitions: int) -> None:
    if not 0 <= item.partition < partitions:
        raise ValueError(f"partition {item.partition} outside 0..{partitions - 1}")


class _Expiring:
    """A bounded map whose entries expire: idempotency keys and sent marks of the in-process queue."""

    def __init__(self, *, ttl_s: float, max_size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._ttl, self._max, self._clock = ttl_s, max_size, clock

    def _prune(self, now: float) -> None:
        while self._items and (len(self._items) > self._max or next(iter(self._items.values()))[0] <= now):
            self._items.popitem(last=False)

    def get(self, key: str) -> str | None:
        hit = self._items.get(key)
        return hit[1] if hit is not None and hit[0] > self._clock() else None

    def set(self, key: str, value: str, *, only_new: bool = False) -> bool:
        now = self._clock()
        self._prune(now)
        if only_new and self.get(key) is not None:
            return False
        self._items.pop(key, None)
        self._items[key] = (now + self._ttl, value)
        self._prune(now)
        return True


class MemoryOutbound:
    """In-process queue per partition with the same take-over semantics as the Redis one."""

    def __init__(self, *, partitions: int = 16, max_keys: int = 200_000, ttl_s: float = KEY_TTL_S) -> None:
        self.partitions = partitions
        self._keys = _Expiring(ttl_s=ttl_s, max_size=max_keys)
        self._marks = _Expiring(ttl_s=ttl_s, max_size=max_keys)
        self._ready: list[deque[Delivery]] = [deque() for _ in range(partitions)]
        self._pending: list[dict[str, Delivery]] = [{} for _ in range(partitions)]
        self._wake = [asyncio.Event() for _ in range(partitions)]
        self._seq = 0

    async def enqueue(self, items: Sequence[OutboundItem]) -> int:
        for item in items:
            _check_partition(item, self.partitions)
        new = 0
        for item in items:
            if self._keys.set(item.key, "1", only_new=True):
                self._seq += 1
                self._ready[item.partition].append(Delivery(f"{self._seq}-0", item))
                self._wake[item.partition].set()
                new += 1
        return new

    async def claim(self, partition: int, consumer: str) -> list[Delivery]:
        return sorted(self._pending[partition].values(), key=lambda d: _entry_order(d.entry_id))

    async def read(self, partition: int, consumer: str, *, count: int, block_ms: int) -> list[Delivery]:
        ready, wake = self._ready[partition], self._wake[partition]
        if not ready:
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), block_ms / 1000)
            except asyncio.TimeoutError:
                return []
        out = [ready.popleft() for _ in range(min(count, len(ready)))]
        self._pending[partition].update((d.entry_id, d) for d in out)
        return out

    async def ack(self, partition: int, entry_ids: Sequence[str]) -> None:
        for entry_id in entry_ids:
            self._pending[partition].pop(entry_id, None)

    async def marks(self, keys: Sequence[str]) -> dict[str, str]:
        return {k: v for k in keys if (v := self._marks.get(k)) is not None}

    async def mark(self, key: str, value: str) -> None:
        self._marks.set(key, value)

    def depth(self) -> int:
        """Items enqueued and not yet acknowledged."""
        return sum(len(r) for r in self._ready) + sum(len(p) for p in self._pending)


# KEYS: key_1, stream_1, key_2, stream_2, …  ARGV: ttl, item_1, item_2, …
_ENQUEUE = """
local new = 0
for i = 1, #KEYS / 2 do
  if redis.call('SET', KEYS[2 * i - 1], '1', 'NX', 'EX', ARGV[1]) then
    redis.call('XADD', KEYS[2 * i], '*', 'item', ARGV[i + 1])
    new = new + 1
  end
end
return new
"""
_ENQUEUE_CHUNK = 200


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _entry_order(entry_id: str) -> tuple[int, ...]:
    return tuple(int(x) for x in entry_id.split("-"))


class RedisOutbound:
    """One stream per partition (``{prefix}out:{p}``, group ``senders``); acknowledged entries are deleted.

    ``reclaim_idle_ms``: how long another consumer's unacknowledged entry must have been idle before
    :meth:`claim` takes it (0: partition ownership, decided elsewhere, already says its owner is gone)."""

    def __init__(self, redis: Redis, *, prefix: str = "gw:", partitions: int = 16,
                 reclaim_idle_ms: int = 0) -> None:
        self.partitions = partitions
        self._r = redis
        self._p = prefix
        self._reclaim_idle_ms = reclaim_idle_ms
        self._enqueue = redis.register_script(_ENQUEUE)
        self._groups: set[str] = set()

    def stream(self, partition: int) -> str:
        return f"{self._p}out:{partition}"

    def _key(self, key: str) -> str:
        return f"{self._p}out:key:{key}"

    def _mark(self, key: str) -> str:
        return f"{self._p}out:sent:{key}"

    async def _group(self, stream: str) -> None:
        if stream in self._groups:
            return
        try:
            await self._r.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except Exception as exc:  # noqa: BLE001 - BUSYGROUP: it exists already
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(stream)

    async def enqueue(self, items: Sequence[OutboundItem]) -> int:
        for item in items:
            _check_partition(item, self.partitions)
        new = 0
        for start in range(0, len(items), _ENQUEUE_CHUNK):
            keys: list[str] = []
            args: list[str] = [str(KEY_TTL_S)]
            for item in items[start:start + _ENQUEUE_CHUNK]:
                keys += [self._key(item.key), self.stream(item.partition)]
                args.append(item.to_json())
            new += int(await self._enqueue(keys=keys, args=args))
        return new

    @staticmethod
    def _deliveries(raw: Sequence[Any]) -> list[Delivery]:
        out = []
        for entry_id, fields in raw:
            item = None
            body = (fields or {}).get(b"item") or (fields or {}).get("item")
            if body is not None:
                try:
                    item = OutboundItem.from_json(body)
                except (ValueError, KeyError, TypeError):
                    log.error("outbound_undecodable", entry=_s(entry_id))
            out.append(Delivery(_s(entry_id), item))
        return out

    async def claim(self, partition: int, consumer: str) -> list[Delivery]:
        stream = self.stream(partition)
        await self._group(stream)
        found: dict[str, Delivery] = {}
        last = "0-0"
        while True:                                   # our own pending entries (a restart under one name)
            reply = await self._r.xreadgroup(GROUP, consumer, {stream: last}, count=500)
            raw = reply[0][1] if reply else []
            if not raw:
                break
            for d in self._deliveries(raw):
                found[d.entry_id] = d
                last = d.entry_id
        start = "0-0"
        while True:                                   # then those a crashed consumer held
            reply = await self._r.xautoclaim(stream, GROUP, consumer, min_idle_time=self._reclaim_idle_ms,
                                             start_id=start, count=500)
            start = _s(reply[0])
            for d in self._deliveries(reply[1]):
                if d.item is not None or d.entry_id not in found:
                    found[d.entry_id] = d
            if start == "0-0":
                break
        return sorted(found.values(), key=lambda d: _entry_order(d.entry_id))

    async def read(self, partition: int, consumer: str, *, count: int, block_ms: int) -> list[Delivery]:
        stream = self.stream(partition)
        await self._group(stream)
        try:
            reply = await self._r.xreadgroup(GROUP, consumer, {stream: ">"}, count=count, block=block_ms)
        except Exception as exc:  # noqa: BLE001 - NOGROUP: the stream was removed; make it again
            if "NOGROUP" not in str(exc):
                raise
            self._groups.discard(stream)
            return []
        return self._deliveries(reply[0][1]) if reply else []

    async def ack(self, partition: int, entry_ids: Sequence[str]) -> None:
        if not entry_ids:
            return
        stream = self.stream(partition)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.xack(stream, GROUP, *entry_ids)
            pipe.xdel(stream, *entry_ids)
            await pipe.execute()

    async def marks(self, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        values = await self._r.mget([self._mark(k) for k in keys])
        return {k: _s(v) for k, v in zip(keys, values) if v is not None}

    async def mark(self, key: str, value: str) -> None:
        await self._r.set(self._mark(key), value, ex=KEY_TTL_S)

    async def depth(self) -> int:
        """Entries enqueued and not yet acknowledged, over all partitions."""
        async with self._r.pipeline(transaction=False) as pipe:
            for p in range(self.partitions):
                pipe.xlen(self.stream(p))
            return sum(await pipe.execute())


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
                          status="accepted" if wamid else "failed", error_code=code, error_title=title)


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

    async def run(self, partitions: Iterable[int], stop: asyncio.Event) -> None:
        """Send ``partitions`` until ``stop`` is set (see :meth:`run_partition`)."""
        await asyncio.gather(*(self.run_partition(p, stop) for p in partitions))

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
                log.error("outbound_partition_restart", partition=partition, error=type(exc).__name__)
                await _halted(stop, 1.0)

    async def run_partition(self, partition: int, stop: asyncio.Event) -> None:
        """Take ``partition`` over (its unacknowledged entries first), then send new items until ``stop``.

        On ``stop`` the lanes finish the Graph call in hand and leave the rest pending for the next owner;
        acknowledgements of finished items are written before returning. Cancellation is a crash: nothing
        more is written, and the next owner recovers from the marks."""
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
        self.closing = False
        self.error: BaseException | None = None

    async def run(self) -> None:
        stopper = asyncio.create_task(self._watch_stop())
        flusher = asyncio.create_task(self._flush_loop())
        try:
            await self._dispatch(await self.s.queue.claim(self.p, self.s.consumer))
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
        if self.error is not None:
            raise self.error

    async def _watch_stop(self) -> None:
        await self.stop.wait()
        self.halt.set()
        self.room.set()

    def _fail(self, exc: BaseException) -> None:
        log.error("outbound_partition_failed", partition=self.p, error=type(exc).__name__)
        self.error = self.error or exc
        self.halt.set()
        self.room.set()

    async def _dispatch(self, deliveries: Sequence[Delivery]) -> None:
        self.in_flight += len(deliveries)
        live = [d for d in deliveries if d.item is not None]
        marks = await self.s.queue.marks([d.item.key for d in live if d.item]) if live else {}
        for d in deliveries:
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
                lane.append(d)
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
        self.in_flight -= len(batch)
        self.room.set()
