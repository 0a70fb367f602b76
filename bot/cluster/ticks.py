"""Turning the engine's ticks into messages, in a cluster.

The engine alone runs the market clock and publishes every tick (with the events it produced) on a stream;
the workers read it through one consumer group, so each tick is handled by exactly one of them: the tick
hooks (order updates, price alerts, trial reminders) run once and their pushes are keyed by the tick, so a
tick retried after a crash pushes nothing twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from bot.cluster.engine_rpc import EVENTS_GROUP, decode_events, events_stream
from bot.cluster.streams import ensure_group, text
from handlers.routes import run_tick_hooks

log = structlog.get_logger("gridworks.ticks")

#: A tick a crashed worker had read is taken over after this long.
RECLAIM_MS = 30_000


class TickConsumer:
    def __init__(self, *, runtime: Any, prefix: str, consumer: str, batch: int = 8) -> None:
        self._runtime = runtime
        self._redis = runtime.redis
        self._stream = events_stream(prefix)
        self._me = consumer
        self._batch = batch

    async def run(self, stop: asyncio.Event) -> None:
        await ensure_group(self._redis, self._stream, EVENTS_GROUP)
        while not stop.is_set():
            try:
                for entry_id, fields in await self._next():
                    await self.handle(text(entry_id), fields)
                    await self._redis.xack(self._stream, EVENTS_GROUP, entry_id)
            except Exception:  # noqa: BLE001 - unacknowledged ticks are taken over and run again
                log.exception("tick_failed")
                await asyncio.sleep(0.5)

    async def _next(self) -> list:
        r = self._redis
        claimed = await r.xautoclaim(self._stream, EVENTS_GROUP, self._me, min_idle_time=RECLAIM_MS,
                                     start_id="0-0", count=self._batch)
        entries = [e for e in claimed[1] if e[1]]
        if entries:
            return entries
        reply = await r.xreadgroup(EVENTS_GROUP, self._me, {self._stream: ">"}, count=self._batch, block=500)
        return reply[0][1] if reply else []

    async def handle(self, entry_id: str, fields: Any) -> None:
        at, events = decode_events(fields)
        pushes = await run_tick_hooks(self._runtime.services, at, events)
        await self._runtime.deliver(pushes, key=f"tick:{entry_id}")
