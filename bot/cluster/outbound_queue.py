"""The send queue's storage: items under idempotency keys, one FIFO per partition, take-over on a crash.

Why two flavours with one shape: the sender (:mod:`bot.cluster.outbound`) must behave the same embedded and
clustered. ``MemoryOutbound`` is the embedded default (a crash loses what the process held, as before);
``RedisOutbound`` keeps one stream per partition (``{prefix}out:{p}``, consumer group ``senders``), enqueues
with an atomic SET NX + XADD per item, and deletes entries once acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import structlog
from redis.asyncio import Redis

from bot.batching import Coalescer
from bot.cluster.reply_codec import reply_from_wire, reply_to_wire
from bot.cluster.streams import APPEND_ONCE, Groups, StreamAck, entry_order, stream_acks, text
from bot.stores.redis_stores import COMMIT_LUA, TurnCommit, commit_args, commit_keys
from handlers.ports import Superseded
from handlers.replies import Reply

log = structlog.get_logger("gridworks.cluster.outbound")

__all__ = ["FAILED", "GROUP", "KEY_TTL_S", "Delivery", "MemoryOutbound", "OutboundItem", "OutboundQueue",
           "OutboundSource", "RedisOutbound"]

KEY_TTL_S = 7 * 24 * 3600           # idempotency keys and sent marks are kept for a week
GROUP = "senders"
FAILED = "!failed"                  # sent-mark value of an item given up for good (never a wamid)
_DUMP = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class OutboundItem:
    key: str                        # idempotency key
    user_key: str
    to: str                         # phone number or BSUID (:func:`bot.whatsapp.sender.address`)
    reply: Reply
    correlation_id: str | None
    partition: int
    private: bool = False           # a PRO user's: its audit row is stored sealed

    def to_json(self) -> str:
        wire = {"k": self.key, "u": self.user_key, "to": self.to, "r": reply_to_wire(self.reply),
                "c": self.correlation_id, "p": self.partition}
        if self.private:
            wire["s"] = 1
        return _DUMP(wire)

    @classmethod
    def from_json(cls, raw: str | bytes) -> "OutboundItem":
        obj = json.loads(raw)
        return cls(key=obj["k"], user_key=obj["u"], to=obj["to"], reply=reply_from_wire(obj["r"]),
                   correlation_id=obj.get("c"), partition=int(obj["p"]), private=bool(obj.get("s")))


@dataclass(frozen=True, slots=True)
class Delivery:
    """One queue entry handed to a sender; ``item`` is None when the entry is gone or undecodable."""

    entry_id: str
    item: OutboundItem | None


class OutboundQueue(Protocol):
    partitions: int

    async def enqueue(self, items: Sequence[OutboundItem], *, ack: StreamAck | None = None,
                      commit: TurnCommit | None = None) -> int:
        """Durably add the items whose key is new; returns how many were new. ``ack``: the intake entry these
        items answer, and ``commit``: the turn's staged commit, both written in the same atomic step (a queue
        that cannot do that refuses them)."""


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

    async def enqueue(self, items: Sequence[OutboundItem], *, ack: StreamAck | None = None,
                      commit: TurnCommit | None = None) -> int:
        if ack is not None or commit is not None:
            raise TypeError("an in-process send queue cannot acknowledge a stream entry or commit a turn")
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
        return sorted(self._pending[partition].values(), key=lambda d: entry_order(d.entry_id))

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


_ENQUEUE_CHUNK = 200
#: Turns ended by one TURN_DONE call at most
_TURNS_PER_CALL = 64
#: How long a sent entry's ack waits to ride the next batch of sent marks (it is sent, audited and marked
#: already: the wait only delays deleting it from the queue).
ACK_LINGER_S = 0.01

# One call ends one or more turns (of different partitions), each in the same atomic step of the script.
# ARGV[1]: the number of turns; then, per turn, its keys and arguments, one after the other --
# keys: COMMIT_LUA's three, mark_1, stream_1, …, mark_n, stream_n, done stream (any key when none);
# args: COMMIT_LUA's seven, item ttl, field, intake group, done id ('' when none), local consumer ('' when
#       none), send group, n, value_1, …, value_n.
# A turn: its commit (only while its fence holds, else -1 and nothing of it written), its replies appended
# once each (as APPEND_ONCE), its intake entry acknowledged. With a local consumer, the new entries of
# stream_1 are also read into that consumer's pending list and returned, so the worker that owns the
# partition hands them to its sender in memory instead of reading back what it has just written (a missing
# group is no error: the entries then wait for the sender's own read).
# Returns, per turn, -1 or {new, entries read}.
TURN_DONE = COMMIT_LUA + """
local function turn_done(K, A, n)
  if not commit(K, A) then return -1 end
  local new = 0
  for i = 1, n do
    if redis.call('SET', K[2 * i + 2], '1', 'NX', 'EX', A[8]) then
      redis.call('XADD', K[2 * i + 3], '*', A[9], A[i + 14])
      new = new + 1
    end
  end
  if A[11] ~= '' then
    redis.call('XACK', K[#K], A[10], A[11])
    redis.call('XDEL', K[#K], A[11])
  end
  local read = {}
  if new > 0 and A[12] ~= '' then
    local r = redis.pcall('XREADGROUP', 'GROUP', A[13], A[12], 'COUNT', new + 64, 'STREAMS', K[5], '>')
    if type(r) == 'table' and r[1] then read = r[1][2] end
  end
  return {new, read}
end
local out, k, a = {}, 0, 1
for t = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a + 14])
  local K, A = {}, {}
  for i = 1, 2 * n + 4 do K[i] = KEYS[k + i] end
  for i = 1, n + 14 do A[i] = ARGV[a + i] end
  out[t] = turn_done(K, A, n)
  k, a = k + 2 * n + 4, a + n + 14
end
return out
"""

#: ``take(partition, deliveries)``: entries a turn's script read into the local consumer's pending list.
LocalTake = Callable[[int, list[Delivery]], None]


@dataclass(frozen=True, slots=True)
class _TurnJob:
    """One turn's end, for :data:`TURN_DONE`: its first replies, its commit, its intake entry, and the local
    consumer to read its new entries into ('' for none)."""

    items: Sequence[OutboundItem]
    commit: TurnCommit
    ack: StreamAck | None
    consumer: str


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
        self._enqueue = redis.register_script(APPEND_ONCE)
        self._done = redis.register_script(TURN_DONE)
        # (a bound on one script's run: Redis serves nobody else while it runs)
        self._turns: Coalescer[_TurnJob] = Coalescer(self._turns_done, max_batch=_TURNS_PER_CALL)
        self._groups = Groups(redis, GROUP)
        self._acks = stream_acks(redis)
        self._local: tuple[str, LocalTake] | None = None

    def deliver_locally(self, consumer: str, take: LocalTake) -> None:
        """Hand a turn's newly queued replies straight to this process's sender (``take``), read into
        ``consumer``'s pending list by the turn's own script. Only turns whose commit holds the partition's
        lease do this, so the sender taking them is the partition's sender; entries ``take`` cannot use (its
        run is stopping or not started yet) stay pending, and that run's successor claims them."""
        self._local = (consumer, take)

    def stream(self, partition: int) -> str:
        return f"{self._p}out:{partition}"

    def _key(self, key: str) -> str:
        return f"{self._p}out:key:{key}"

    def _mark(self, key: str) -> str:
        return f"{self._p}out:sent:{key}"

    async def enqueue(self, items: Sequence[OutboundItem], *, ack: StreamAck | None = None,
                      commit: TurnCommit | None = None) -> int:
        """``commit``: a turn's staged commit (:data:`bot.stores.redis_stores.TURN_SCOPE`), written with
        the items and ``ack`` in one atomic step; raises :class:`~handlers.ports.Superseded` (nothing written)
        when its fence no longer holds."""
        for item in items:
            _check_partition(item, self.partitions)
        chunks = [items[i:i + _ENQUEUE_CHUNK] for i in range(0, len(items), _ENQUEUE_CHUNK)] or [[]]
        new = 0
        if commit is not None:                  # the commit goes with the first chunk, the ack with the last
            new += await self._turn_done(chunks[0], commit, ack if len(chunks) == 1 else None)
            chunks, ack = chunks[1:], ack if len(chunks) > 1 else None
        for chunk in chunks:
            if chunk:
                new += await self._append(chunk)
        if ack is not None:                     # replies re-queued from the journal: queued, then acked
            await self._acks.ack(ack.stream, ack.group, [ack.entry_id])
        return new

    def _keys_values(self, items: Sequence[OutboundItem]) -> tuple[list[str], list[str]]:
        keys: list[str] = []
        for item in items:
            keys += [self._key(item.key), self.stream(item.partition)]
        return keys, [item.to_json() for item in items]

    async def _append(self, items: Sequence[OutboundItem]) -> int:
        keys, values = self._keys_values(items)
        return sum(await self._enqueue(keys=keys, args=[str(KEY_TTL_S), "item", *values]))

    async def _turn_done(self, items: Sequence[OutboundItem], commit: TurnCommit,
                         ack: StreamAck | None) -> int:
        """Turns ending while another's script call is on the wire share the next call (each in its own
        atomic step), so under load a turn pays a fraction of a round trip."""
        local = self._local if commit.fence is not None and len({i.partition for i in items}) == 1 else None
        done = await self._turns.submit(_TurnJob(items, commit, ack, local[0] if local else ""))
        if not isinstance(done, list):          # -1: the fence no longer holds, nothing of it was written
            raise Superseded(commit.message_id)
        new, read = done
        if local is not None and read:
            local[1](items[0].partition, self._deliveries(
                [(entry_id, dict(zip(fields[::2], fields[1::2]))) for entry_id, fields in read]))
        return int(new)

    async def _turns_done(self, jobs: Sequence[_TurnJob]) -> list[Any]:
        keys: list[str] = []
        args: list[Any] = [len(jobs)]
        for job in jobs:
            item_keys, values = self._keys_values(job.items)
            head, ack = commit_keys(job.commit), job.ack
            keys += [*head, *item_keys, ack.stream if ack else head[0]]
            args += [*commit_args(job.commit), str(KEY_TTL_S), "item", ack.group if ack else "",
                     ack.entry_id if ack else "", job.consumer, GROUP, len(job.items), *values]
        return list(await self._done(keys=keys, args=args))

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
                    log.error("outbound_undecodable", entry=text(entry_id))
            out.append(Delivery(text(entry_id), item))
        return out

    async def claim(self, partition: int, consumer: str) -> list[Delivery]:
        stream = self.stream(partition)
        await self._groups.ensure(stream)
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
            start = text(reply[0])
            for d in self._deliveries(reply[1]):
                if d.item is not None or d.entry_id not in found:
                    found[d.entry_id] = d
            if start == "0-0":
                break
        return sorted(found.values(), key=lambda d: entry_order(d.entry_id))

    async def read(self, partition: int, consumer: str, *, count: int, block_ms: int) -> list[Delivery]:
        stream = self.stream(partition)
        await self._groups.ensure(stream)
        try:
            reply = await self._r.xreadgroup(GROUP, consumer, {stream: ">"}, count=count, block=block_ms)
        except Exception as exc:  # noqa: BLE001 - NOGROUP: the stream was removed; make it again
            if "NOGROUP" not in str(exc):
                raise
            self._groups.forget(stream)
            return []
        return self._deliveries(reply[0][1]) if reply else []

    async def ack(self, partition: int, entry_ids: Sequence[str]) -> None:
        """Lingers (:data:`ACK_LINGER_S`) to ride the next sent marks' round trip instead of one of its own."""
        await self._acks.ack(self.stream(partition), GROUP, entry_ids, linger_s=ACK_LINGER_S)

    async def marks(self, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        values = await self._r.mget([self._mark(k) for k in keys])
        return {k: text(v) for k, v in zip(keys, values) if v is not None}

    async def mark(self, key: str, value: str) -> None:
        """Stored when this returns; marks and acks of every lane that finished meanwhile share one batch."""
        await self._acks.put(self._mark(key), value, ex=KEY_TTL_S)

    async def depth(self) -> int:
        """Entries enqueued and not yet acknowledged, over all partitions."""
        async with self._r.pipeline(transaction=False) as pipe:
            for p in range(self.partitions):
                pipe.xlen(self.stream(p))
            return sum(await pipe.execute())
