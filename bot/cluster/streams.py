"""Redis Streams plumbing every cluster queue shares: consumer groups, append-once, acknowledge-and-delete.

The intake, the send queue, engine commands and engine ticks are each a stream read through a consumer group;
what differs between them lives in their own modules, what is the same lives here.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Sequence

from redis.asyncio import Redis

from bot.batching import Coalescer

# KEYS: mark_1, stream_1, mark_2, stream_2, …  ARGV: ttl, field, value_1, value_2, …
# Each value is appended only if its mark was not set yet -- mark and append in one atomic step, so a
# redelivery (or a retry after a crash) never enters the stream twice. Returns 1 (appended) or 0 (seen
# before) per value, so the callers sharing one call each learn their own count.
APPEND_ONCE = """
local new = {}
for i = 1, #KEYS / 2 do
  if redis.call('SET', KEYS[2 * i - 1], '1', 'NX', 'EX', ARGV[1]) then
    redis.call('XADD', KEYS[2 * i], '*', ARGV[2], ARGV[i + 2])
    new[i] = 1
  else
    new[i] = 0
  end
end
return new
"""


@dataclass(frozen=True, slots=True)
class StreamAck:
    """A stream entry to acknowledge and delete, handed to the write that completes it so that write can
    acknowledge it in the same step (:data:`bot.cluster.outbound_queue.TURN_DONE`)."""

    stream: str
    group: str
    entry_id: str


def text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def entry_order(entry_id: str) -> tuple[int, ...]:
    """Sort key of a stream entry id (``ms-seq``)."""
    return tuple(int(x) for x in entry_id.split("-"))


async def ensure_group(redis: Redis, stream: str, group: str) -> None:
    """Create ``group`` on ``stream`` (and the stream) from its start; an existing group is fine."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except Exception as exc:  # noqa: BLE001 - BUSYGROUP: it exists already
        if "BUSYGROUP" not in str(exc):
            raise


class Groups:
    """Remembers which (stream, group) pairs this process created, so the hot path asks Redis once."""

    def __init__(self, redis: Redis, group: str) -> None:
        self._r = redis
        self._group = group
        self._ready: set[str] = set()

    async def ensure(self, stream: str) -> None:
        if stream not in self._ready:
            await ensure_group(self._r, stream, self._group)
            self._ready.add(stream)

    def forget(self, stream: str) -> None:
        """The stream vanished (NOGROUP): create the group again on next use."""
        self._ready.discard(stream)


class StreamAcks:
    """Acknowledge-and-delete (a queue entry, once done, is of no further use to anyone), coalesced over every
    stream of a process: the acks of all partitions' entries finished while the previous batch was on the
    wire go out as one MULTI/EXEC (one round trip), each caller returning once its own entries are
    acknowledged. Idle, an ack goes at once; busy, many share a trip.

    Two refinements for the send queue, whose every send otherwise cost two trips (its sent mark, then its
    ack): small writes (:meth:`put`, the sent marks) share the same batches, and an ack may *linger* a few
    milliseconds, so that it rides the next batch some other caller starts (the next send's mark, as a rule)
    instead of a trip of its own."""

    def __init__(self, redis: Redis) -> None:
        self._r = redis
        self._batch: Coalescer[tuple[Any, ...]] = Coalescer(self._run)

    async def ack(self, stream: str, group: str, entry_ids: Sequence[str], *, linger_s: float = 0.0) -> None:
        """Returns once ``entry_ids`` are acknowledged and deleted; with ``linger_s``, they wait up to that
        long for a batch to join before starting one."""
        if entry_ids:
            await self._batch.submit(("ack", stream, group, tuple(entry_ids)), linger_s=linger_s)

    async def put(self, key: str, value: str, *, ex: int) -> None:
        """``SET key value EX ex``, in the next batch: stored when this returns."""
        await self._batch.submit(("set", key, value, ex))

    async def _run(self, jobs: Sequence[tuple[Any, ...]]) -> list[None]:
        by_stream: dict[tuple[str, str], list[str]] = {}
        for job in jobs:
            if job[0] == "ack":
                by_stream.setdefault((job[1], job[2]), []).extend(job[3])
        async with self._r.pipeline(transaction=True) as pipe:
            for job in jobs:
                if job[0] == "set":
                    pipe.set(job[1], job[2], ex=job[3])
            for (stream, group), ids in by_stream.items():
                pipe.xack(stream, group, *ids)
                pipe.xdel(stream, *ids)
            await pipe.execute()
        return [None] * len(jobs)


_ACKS: "weakref.WeakKeyDictionary[Redis, StreamAcks]" = weakref.WeakKeyDictionary()


def stream_acks(redis: Redis) -> StreamAcks:
    """The one :class:`StreamAcks` of ``redis``: the intake's and the send queue's acks share its batches."""
    acks = _ACKS.get(redis)
    if acks is None:
        acks = _ACKS[redis] = StreamAcks(redis)
    return acks
