"""The roles a process runs, wired from settings: part of the composition root (with :mod:`bot.app`).

* **web** — the webhook (:mod:`bot.webhook`): verify, parse, append to the intake, acknowledge.
* **worker** — owns intake partitions and runs their turns in order (:mod:`bot.cluster.worker`), sends the
  outbound partitions it owns (:mod:`bot.cluster.outbound`), stores statuses in batches
  (:mod:`bot.cluster.side`) and turns the engine's events into messages.
* **engine** — the single writer of orders, trades, ledgers and accounts (``gridworks engine``).

Embedded (no ``REDIS_URL``): one process runs all three with in-process queues and the embedded engine, as
``gridworks serve`` always did. Cluster (``REDIS_URL`` set, PostgreSQL): the queues are Redis streams with
consumer groups; workers reach the engine through :class:`~bot.cluster.engine_rpc.RemoteEngine`; leases and
consumer groups decide who does what, so any number of ``serve``/``worker``/``engine`` processes can be
started against one PostgreSQL + Redis without corrupting anything.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog

from bot.app import Runtime, build_runtime, close_all
from bot.cluster.intake import MemoryIntake, RedisIntake
from bot.cluster.outbound import MemoryOutbound, OutboundSender, RedisOutbound
from bot.cluster.outbound_log import SqlOutboundLog
from bot.cluster.ownership import RedisOwnership, SoleOwnership
from bot import metrics
from bot.cluster.push import OutboundMessenger
from bot.cluster.send_rate import LocalRateLimiter, RedisRateLimiter
from bot.cluster.side import SideWriter
from bot.cluster.ticks import TickConsumer
from bot.cluster.worker import TurnWorker
from bot.loop_gate import LagGate
from bot.whatsapp.client import close_client
from bot.whatsapp.sender import reply_sender
from config.settings import Settings

log = structlog.get_logger("gridworks.roles")


def consumer_name() -> str:
    """A consumer name unique to this process (host, pid, random): consumer groups track who read what."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Roles:
    """What runs behind (or without) the web server in this process; ``start`` and ``stop`` them together."""

    runtime: Runtime | None              # None in a web-only process: it runs no turns
    db: Any
    intake: Any
    outbound: Any = None
    worker: TurnWorker | None = None
    sender: OutboundSender | None = None
    side: SideWriter | None = None
    cluster: bool = False
    prefix: str = "gw:"
    tick_seconds: float | None = None
    engine_role: Any = None
    closers: list[Any] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    async def start(self) -> None:
        self._stop.clear()
        if self.worker is not None:
            self._tasks.append(asyncio.create_task(self.worker.run(self._stop), name="worker"))
        if self.side is not None:
            self._tasks.append(asyncio.create_task(self.side.run(self._stop), name="side-writer"))
        if self.tick_seconds:
            if self.cluster:
                ticks = TickConsumer(runtime=self.runtime, prefix=self.prefix, consumer=consumer_name())
                self._tasks.append(asyncio.create_task(ticks.run(self._stop), name="ticks"))
            else:
                self._tasks.append(asyncio.create_task(self._tick_forever(), name="ticks"))
        if self.engine_role is not None:
            self._tasks.append(asyncio.create_task(self.engine_role(self._stop), name="engine-role"))

    async def stop(self) -> None:
        """Finish the turns in hand, give partitions back, stop sending; then close the runtime."""
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.sender is not None:
            await self.sender.close()
        if self.runtime is not None:
            await self.runtime.close()
        await close_all(self.closers)

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every message taken in has been run and every reply sent (tests, benchmarks)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while quiet < 3:
            if loop.time() > deadline:
                raise TimeoutError("the roles did not settle")
            await asyncio.sleep(0.02)
            busy = await _depth(self.intake) + (await _depth(self.outbound) if self.outbound is not None else 0)
            if self.worker is not None:
                busy += self.worker.backlog + self.worker.active
            quiet = quiet + 1 if busy == 0 else 0

    # -- the market clock ---------------------------------------------------------------------------------
    async def _tick_forever(self) -> None:
        """Embedded: move the market on its own, so fills, alerts and trial reminders reach users even when
        nobody writes. A failed tick is logged and the next one runs."""
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self.tick_seconds)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await metrics.timed_tick(self.runtime.tick())
            except Exception:  # noqa: BLE001 - the ticker must outlive any one failure
                log.exception("tick_failed")


async def _depth(queue: Any) -> int:
    depth = queue.depth
    value = depth() if callable(depth) else depth
    return await value if asyncio.iscoroutine(value) else int(value)


async def build_roles(settings: Settings, *, client: Any, clock: Any = None, worker: bool = True,
                      engine: bool = True, tick_seconds: float | None = None) -> Roles:
    """Wire the roles for ``settings``. ``client`` is the pywa client sends and read receipts go through.
    ``worker``/``engine``: whether this process takes those roles in a cluster (a web-only process loads no
    intent model and runs no turns); the embedded default always runs everything."""
    partitions = settings.cluster.partitions
    prefix = settings.cluster.prefix
    cluster = bool(settings.storage.redis_url)
    me = consumer_name()
    if cluster:
        from bot.cluster.engine_rpc import LocalEngine, RemoteEngine
        from bot.cluster.redis_client import connect
        from engine.factory import build_market

        redis = connect(settings.storage.redis_url)
        intake: Any = RedisIntake(redis, partitions=partitions, prefix=prefix)
        if not worker:               # web (perhaps standing for the engine): no model, no turns, no sends
            from engine.db import make_engine

            db = make_engine(settings.storage.database_url)
            roles = Roles(runtime=None, db=db, intake=intake, cluster=True, prefix=prefix,
                          closers=[redis.aclose, db.dispose])
            if engine:
                roles.engine_role = _engine_candidacy(settings)
            return roles
        outbound: Any = RedisOutbound(redis, partitions=partitions, prefix=prefix)
        limiter: Any = RedisRateLimiter(redis, rate=settings.cluster.send_rate,
                                        number=settings.whatsapp.phone_number_id or "default", prefix=prefix)
        from bot.app import make_clock

        market = build_market(settings.product)
        clock = clock or make_clock(settings, simulated=False)
        local = LocalEngine() if engine else None    # while this process is the engine, its turns call it

        def remote(r: Any) -> Any:
            return RemoteEngine(r, prefix=prefix, timeout_s=settings.cluster.engine_timeout_s, market=market,
                                clock=clock, local=local)

        messenger = OutboundMessenger(outbound, partitions=partitions)
        runtime = await build_runtime(settings, clock=clock, messenger=lambda _audit: messenger,
                                      engine=remote)
        runtime._closers.append(redis.aclose)
        ownership: Any = RedisOwnership(redis, worker_id=me, partitions=partitions,
                                        lease_s=settings.cluster.lease_s, prefix=prefix)
    else:
        intake = MemoryIntake(partitions=partitions, max_backlog=settings.cluster.intake_max)
        outbound = MemoryOutbound(partitions=partitions)
        limiter = LocalRateLimiter(settings.cluster.send_rate)
        messenger = OutboundMessenger(outbound, partitions=partitions)
        runtime = await build_runtime(settings, clock=clock, messenger=lambda _audit: messenger)
        ownership = SoleOwnership(partitions)
    roles = Roles(runtime=runtime, db=runtime.db, intake=intake, outbound=outbound, cluster=cluster,
                  prefix=prefix, tick_seconds=tick_seconds or settings.tick_seconds,
                  closers=[lambda: close_client(client)])
    sender = OutboundSender(outbound, send=reply_sender(client), audit=SqlOutboundLog(runtime.db, cipher=runtime.users.cipher),
                            consumer=me, limiter=limiter)
    if cluster:                      # a turn's replies go to this sender in memory, not read back
        outbound.deliver_locally(me, sender.take)

    async def read_receipt(message_id: str, typing: bool) -> None:
        try:
            if typing:
                await client.indicate_typing(message_id)
            else:
                await client.mark_message_as_read(message_id)
        except Exception as exc:  # noqa: BLE001 - a read receipt is a courtesy, never a failure
            log.info("mark_read_failed", error=type(exc).__name__)

    roles.sender = sender
    roles.worker = TurnWorker(dispatcher=runtime.dispatcher, intake=intake, ownership=ownership,
                              messenger=messenger, consumer=me, lease_s=settings.cluster.lease_s,
                              on_read=read_receipt, on_partition=sender.set_partition,
                              gate=None if cluster else LagGate(most=partitions))
    roles.side = SideWriter(intake=intake, db=runtime.db, users=runtime.users, consumer=me)
    if cluster and engine:
        roles.engine_role = _engine_candidacy(settings, local)
    return roles


def _engine_candidacy(settings: Settings, local: Any = None):
    from bot.cli.engine_role_cmd import engine_candidate

    return lambda stop: engine_candidate(settings, stop=stop, local=local)
