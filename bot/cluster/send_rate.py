"""The business number's send rate (Meta's throughput tier: 80 messages/s by default, up to 1,000/s).

Why a reservation scheme (GCRA): every sender, in any process, asks "when may my next message go?" and
sleeps until then. Slots are spaced ``1/rate`` apart (plus an optional small burst), so the senders together
never exceed the rate in any window, not only on average; a fixed one-second window would let twice the
rate through across a window boundary. The server's clock (``TIME``) is the only clock, so processes on
different machines agree. A sender's concurrent lanes reserve their slots together: one Redis round trip per
batch of sends, not per send.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable, Protocol, Sequence

from redis.asyncio import Redis

from bot.batching import Coalescer

__all__ = ["LocalRateLimiter", "RedisRateLimiter", "SendLimiter"]


class SendLimiter(Protocol):
    async def acquire(self) -> None:
        """Wait until one more message may be sent."""


def _interval_us(rate: float) -> int:
    if not rate > 0:
        raise ValueError("the send rate must be positive")
    return max(1, round(1_000_000 / rate))


class LocalRateLimiter:
    """In-process GCRA for the embedded default (one process sends everything)."""

    def __init__(self, rate: float, *, burst: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = _interval_us(rate) / 1_000_000
        self._allowance = max(0, burst - 1) * self._interval
        self._clock = clock
        self._tat = 0.0

    def reserve(self) -> float:
        """Take the next slot; returns how many seconds to wait for it."""
        now = self._clock()
        tat = max(self._tat, now)
        self._tat = tat + self._interval
        return max(0.0, tat - self._allowance - now)

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)


# KEYS: the number's key.  ARGV: interval (µs), burst allowance (µs), slots.  Returns the first slot's wait
# in µs (the others follow one interval apart).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local slots = tonumber(ARGV[3] or '1')
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next_tat = tat + interval * slots
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.floor((next_tat - now) / 1000) + 1000)
local wait = tat - tonumber(ARGV[2]) - now
if wait < 0 then wait = 0 end
return math.floor(wait)
"""


class RedisRateLimiter:
    """GCRA shared by every sender of one business number (key ``{prefix}out:rate:{number}``)."""

    def __init__(self, redis: Redis, *, rate: float, number: str = "default", prefix: str = "gw:",
                 burst: int = 1) -> None:
        self._interval = _interval_us(rate)
        self._allowance = max(0, burst - 1) * self._interval
        self.key = f"{prefix}out:rate:{number}"
        self._reserve = redis.register_script(_RESERVE)
        self._slots: Coalescer = Coalescer(self._reserve_many)

    async def _reserve_many(self, jobs: Sequence[None]) -> list[float]:
        first_us = int(await self._reserve(keys=[self.key], args=[self._interval, self._allowance, len(jobs)]))
        return [(first_us + i * self._interval) / 1_000_000 for i in range(len(jobs))]

    async def reserve(self) -> float:
        """Take the next slot; returns how many seconds to wait for it."""
        return await self._slots.submit(None)

    async def acquire(self) -> None:
        wait = await self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
