"""Which worker owns which partition: exactly one at a time, taken over within a lease when a worker dies.

Each worker heartbeats into a registry (a sorted set scored by the last beat); the live count gives every
worker its fair share, ``ceil(P / live)``. A partition is owned through a lease key (``SET NX PX``), renewed
only by its holder (compare-and-extend in Lua). A worker that finds it holds more than its share gives the
surplus back once the turn in hand is done, so a newcomer gets work within a few lease periods; a dead
worker's leases simply expire. A lease's value names the holder and its tenure (``{worker}#{n}``). The owner
of a partition first takes over the entries its predecessor had read and never acknowledged
(``XAUTOCLAIM``), then reads new ones: per-user order survives any failover.
"""

from __future__ import annotations

import math
import time
from typing import Protocol

from redis.asyncio import Redis

# KEYS: lease keys; ARGV: lease ms, then each key's value. Returns 1/0 per key: still ours (and extended)?
_RENEW = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1]); out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end
"""


class Ownership(Protocol):
    partitions: int

    def owned(self) -> frozenset[int]: ...

    async def refresh(self) -> tuple[set[int], set[int]]:
        """Renew, take and give back leases; returns (gained, lost) partitions."""

    def fence(self, partition: int) -> tuple[str, str] | None:
        """(key, value) that must still hold when a turn of ``partition`` commits: the lease. A worker that
        lost the partition (paused past its lease) then cannot commit on top of the new owner's turns. The
        value is new on every acquisition, so it also names one tenure: what a worker learned under one
        value (its cached sessions) is not trusted under the next."""

    async def over_share(self) -> list[int]:
        """Partitions beyond this worker's fair share (given back once idle)."""

    async def release(self, partition: int) -> None: ...

    async def close(self) -> None: ...


class SoleOwnership:
    """The embedded default: the only worker owns every partition."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._all = frozenset(range(partitions))
        self._first = True

    def owned(self) -> frozenset[int]:
        return self._all

    async def refresh(self) -> tuple[set[int], set[int]]:
        gained, self._first = (set(self._all) if self._first else set()), False
        return gained, set()

    def fence(self, partition: int) -> tuple[str, str] | None:
        return None

    async def over_share(self) -> list[int]:
        return []

    async def release(self, partition: int) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisOwnership:
    def __init__(self, redis: Redis, *, worker_id: str, partitions: int, lease_s: float = 5.0,
                 prefix: str = "gw:") -> None:
        self.partitions = partitions
        self._r = redis
        self._id = worker_id
        self._lease_ms = int(lease_s * 1000)
        self._p = prefix
        self._held: dict[int, str] = {}         # partition → this tenure's lease value
        self._tenures = 0
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._offset = hash(worker_id) % partitions     # spread first picks; only a starting point

    def _key(self, p: int) -> str:
        return f"{self._p}own:{p}"

    def owned(self) -> frozenset[int]:
        return frozenset(self._held)

    def fence(self, partition: int) -> tuple[str, str] | None:
        return self._key(partition), self._held.get(partition, f"{self._id}#lost")

    async def _live_workers(self) -> int:
        now = int(time.time() * 1000)
        registry = f"{self._p}workers"
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zadd(registry, {self._id: now})
            pipe.zremrangebyscore(registry, 0, now - self._lease_ms)
            pipe.zcard(registry)
            *_, live = await pipe.execute()
        return max(1, int(live))

    async def refresh(self) -> tuple[set[int], set[int]]:
        lost: set[int] = set()
        if self._held:
            mine = sorted(self._held)
            kept = await self._renew(keys=[self._key(p) for p in mine],
                                     args=[self._lease_ms, *(self._held[p] for p in mine)])
            lost = {p for p, ok in zip(mine, kept) if not int(ok)}
            for p in lost:
                del self._held[p]
        share = math.ceil(self.partitions / await self._live_workers())
        gained: set[int] = set()
        for i in range(self.partitions):
            if len(self._held) >= share:
                break
            p = (self._offset + i) % self.partitions
            if p in self._held:
                continue
            self._tenures += 1
            value = f"{self._id}#{self._tenures}"
            if await self._r.set(self._key(p), value, nx=True, px=self._lease_ms):
                self._held[p] = value
                gained.add(p)
        return gained, lost

    async def over_share(self) -> list[int]:
        """Partitions beyond this worker's fair share (give them back when idle)."""
        share = math.ceil(self.partitions / await self._live_workers())
        extra = len(self._held) - share
        return sorted(self._held)[-extra:] if extra > 0 else []

    async def release(self, partition: int) -> None:
        value = self._held.pop(partition, None)
        if value is not None:
            await self._release(keys=[self._key(partition)], args=[value])

    async def close(self) -> None:
        for p in list(self._held):
            await self.release(p)
        await self._r.zrem(f"{self._p}workers", self._id)
