"""The durable intake: the webhook appends every message here *before* it answers Meta's 200.

Messages are partitioned by a stable hash of the sender's key (:func:`bot.cluster.partitions.partition_of`),
so one user's messages keep their arrival order whichever web process received them; the partition's owner
(one worker at a time) consumes them in order. Appending deduplicates by WhatsApp message id in the same
atomic step, so a redelivery of an acknowledged message never enters twice.

``MemoryIntake`` is the embedded default (one process; a crash loses what the process held, as before).
``RedisIntake`` keeps one Redis stream per partition (consumer group ``workers``); with AOF and
``appendfsync always`` an acknowledged message survives any crash, Redis's own included (see README).
Statuses, preference changes and rejected items go to a separate ``side`` stream, written in batches.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from redis.asyncio import Redis

from bot.batching import Coalescer
from bot.cluster.partitions import partition_of
from bot.cluster.streams import APPEND_ONCE, Groups, StreamAck, entry_order, stream_acks, text
from bot.cluster.wire import message_from_json, message_to_json
from bot.stores.memory import MemoryDedupeStore
from handlers.messages import InboundMessage

#: How long the intake remembers a message id. Meta redelivers for up to 7 days, but only deliveries it got
#: no 200 for, so a redelivery of one we acknowledged comes soon; a later one is still stopped by the inbound
#: audit row's unique id (a fresh entry whose row exists is a duplicate). A day of ids at Meta's 1,000/s
#: ceiling is ~86 M keys; a week would be 600 M.
SEEN_TTL_S = 24 * 3600
GROUP = "workers"
SIDE_RECLAIM_MS = 30_000


@dataclass(frozen=True, slots=True)
class Entry:
    """One intake entry: its stream id (for the acknowledgement) and the message."""

    entry_id: str
    message: InboundMessage


@dataclass(frozen=True, slots=True)
class SideItem:
    """A status, preference change or rejected item, as a flat string mapping (stream fields)."""

    kind: str                      # "status" | "preference" | "rejected"
    fields: dict[str, str]


class Intake(Protocol):
    partitions: int

    async def append(self, messages: Sequence[InboundMessage]) -> int:
        """Durably append the messages not seen before; returns how many were new."""

    async def append_side(self, items: Sequence[SideItem]) -> None: ...

    async def claim(self, partition: int, consumer: str) -> list[Entry]:
        """Take over the entries a previous owner of ``partition`` read but never acknowledged."""

    async def read(self, partitions: Sequence[int], consumer: str, *, count: int,
                   block_ms: int) -> list[tuple[int, Entry]]: ...

    async def ack(self, partition: int, entry_ids: Sequence[str]) -> None: ...

    def ack_of(self, partition: int, entry_id: str) -> StreamAck | None:
        """The entry as a :class:`StreamAck` the send queue can acknowledge with a turn's replies (None: an
        in-process intake, whose acknowledgement is nothing to write)."""

    async def read_side(self, consumer: str, *, count: int, block_ms: int) -> list[tuple[str, SideItem]]: ...

    async def ack_side(self, entry_ids: Sequence[str]) -> None: ...


class IntakeFull(Exception):
    """The in-process intake holds as much as it may: the delivery is refused (503) and Meta retries it."""


class MemoryIntake:
    """In-process intake: one queue in arrival order; the single in-process worker owns every partition.

    ``max_backlog`` bounds the messages waiting: past it a delivery is refused whole (nothing of it kept, its
    ids not marked seen), so under overload work waits at Meta, which retries, and not in this process."""

    def __init__(self, *, partitions: int = 16, max_backlog: int | None = None) -> None:
        self.partitions = partitions
        self.max_backlog = max_backlog
        self._seen = MemoryDedupeStore()
        self._queue: asyncio.Queue[tuple[int, Entry]] = asyncio.Queue()
        self._side: asyncio.Queue[tuple[str, SideItem]] = asyncio.Queue()
        self._seq = 0

    def _next_id(self) -> str:
        self._seq += 1
        return f"{self._seq}-0"

    async def append(self, messages: Sequence[InboundMessage]) -> int:
        if messages and self.max_backlog is not None and self._queue.qsize() + len(messages) > self.max_backlog:
            raise IntakeFull(f"{self._queue.qsize()} messages are waiting")
        new = 0
        for m in messages:
            if await self._seen.first_seen(m.id, ttl_s=SEEN_TTL_S):
                self._queue.put_nowait((partition_of(m.sender.key, self.partitions), Entry(self._next_id(), m)))
                new += 1
        return new

    async def append_side(self, items: Sequence[SideItem]) -> None:
        for item in items:
            self._side.put_nowait((self._next_id(), item))

    async def claim(self, partition: int, consumer: str) -> list[Entry]:
        return []

    @staticmethod
    async def _take(queue: asyncio.Queue, count: int, block_ms: int) -> list:
        out = []
        if queue.empty():
            try:
                out.append(await asyncio.wait_for(queue.get(), block_ms / 1000))
            except asyncio.TimeoutError:
                return out
        while len(out) < count and not queue.empty():
            out.append(queue.get_nowait())
        return out

    async def read(self, partitions: Sequence[int], consumer: str, *, count: int,
                   block_ms: int) -> list[tuple[int, Entry]]:
        return await self._take(self._queue, count, block_ms)

    async def ack(self, partition: int, entry_ids: Sequence[str]) -> None:
        return None

    def ack_of(self, partition: int, entry_id: str) -> StreamAck | None:
        return None

    async def read_side(self, consumer: str, *, count: int, block_ms: int) -> list[tuple[str, SideItem]]:
        return await self._take(self._side, count, block_ms)

    async def ack_side(self, entry_ids: Sequence[str]) -> None:
        return None

    @property
    def depth(self) -> int:
        return self._queue.qsize()


class RedisIntake:
    """One stream per partition (``{prefix}in:{p}``), group ``workers``; acknowledged entries are deleted."""

    def __init__(self, redis: Redis, *, partitions: int = 16, prefix: str = "gw:") -> None:
        self.partitions = partitions
        self._r = redis
        self._p = prefix
        self._append = redis.register_script(APPEND_ONCE)
        self._appends: Coalescer[Sequence[InboundMessage]] = Coalescer(self._append_many)
        self._groups = Groups(redis, GROUP)
        self._acks = stream_acks(redis)

    def stream(self, partition: int) -> str:
        return f"{self._p}in:{partition}"

    @property
    def side_stream(self) -> str:
        return f"{self._p}side"

    async def append(self, messages: Sequence[InboundMessage]) -> int:
        """The deliveries arriving while one append is on the wire share the next (one script call, each
        delivery still answered only once its own messages are stored), so under load the web role pays a
        fraction of a round trip per webhook; alone, an append goes at once."""
        if not messages:
            return 0
        return await self._appends.submit(messages)

    async def _append_many(self, deliveries: Sequence[Sequence[InboundMessage]]) -> list[int]:
        keys: list[str] = []
        args: list[str] = [str(SEEN_TTL_S), "m"]
        for messages in deliveries:
            for m in messages:
                keys += [f"{self._p}in:seen:{m.id}", self.stream(partition_of(m.sender.key, self.partitions))]
                args.append(message_to_json(m))
        flags = iter(await self._append(keys=keys, args=args))
        return [sum(next(flags) for _ in messages) for messages in deliveries]

    async def append_side(self, items: Sequence[SideItem]) -> None:
        if not items:
            return
        async with self._r.pipeline(transaction=True) as pipe:
            for item in items:
                pipe.xadd(self.side_stream, {"kind": item.kind, **item.fields})
            await pipe.execute()

    @staticmethod
    def _entries(raw: Sequence[Any]) -> list[Entry]:
        out = []
        for entry_id, fields in raw:
            if not fields:          # deleted meanwhile (XAUTOCLAIM reports them as nil)
                continue
            out.append(Entry(text(entry_id), message_from_json(fields[b"m"])))
        return out

    async def claim(self, partition: int, consumer: str) -> list[Entry]:
        stream = self.stream(partition)
        await self._groups.ensure(stream)
        out: list[Entry] = []
        start = "0-0"
        while True:
            reply = await self._r.xautoclaim(stream, GROUP, consumer, min_idle_time=0, start_id=start, count=500)
            start, claimed = text(reply[0]), reply[1]
            out += self._entries(claimed)
            if start == "0-0":
                break
        return sorted(out, key=lambda e: entry_order(e.entry_id))

    async def read(self, partitions: Sequence[int], consumer: str, *, count: int,
                   block_ms: int) -> list[tuple[int, Entry]]:
        if not partitions:
            await asyncio.sleep(block_ms / 1000)
            return []
        streams = {}
        for p in partitions:
            stream = self.stream(p)
            await self._groups.ensure(stream)
            streams[stream] = ">"
        reply = await self._r.xreadgroup(GROUP, consumer, streams, count=count, block=block_ms)
        out: list[tuple[int, Entry]] = []
        for stream, raw in reply or ():
            p = int(text(stream).rsplit(":", 1)[1])
            out += [(p, e) for e in self._entries(raw)]
        return out

    async def ack(self, partition: int, entry_ids: Sequence[str]) -> None:
        await self._acks.ack(self.stream(partition), GROUP, entry_ids)

    def ack_of(self, partition: int, entry_id: str) -> StreamAck:
        return StreamAck(self.stream(partition), GROUP, entry_id)

    async def read_side(self, consumer: str, *, count: int, block_ms: int) -> list[tuple[str, SideItem]]:
        await self._groups.ensure(self.side_stream)
        # Entries a crashed worker read but never wrote are taken over after a while; then new ones.
        claimed = await self._r.xautoclaim(self.side_stream, GROUP, consumer, min_idle_time=SIDE_RECLAIM_MS,
                                           start_id="0-0", count=count)
        raw = [e for e in claimed[1] if e[1]]
        if not raw:
            reply = await self._r.xreadgroup(GROUP, consumer, {self.side_stream: ">"}, count=count,
                                             block=block_ms)
            raw = reply[0][1] if reply else []
        out = []
        for entry_id, fields in raw:
            f = {text(k): text(v) for k, v in fields.items()}
            out.append((text(entry_id), SideItem(f.pop("kind", "?"), f)))
        return out

    async def ack_side(self, entry_ids: Sequence[str]) -> None:
        await self._acks.ack(self.side_stream, GROUP, entry_ids)

    async def depth(self) -> int:
        """Entries appended and not yet acknowledged, over all partitions (the backlog)."""
        async with self._r.pipeline(transaction=False) as pipe:
            for p in range(self.partitions):
                pipe.xlen(self.stream(p))
            return sum(await pipe.execute())
