"""The composition root: the one place that builds and wires every part of GridWorks.

``build_runtime`` is used by the webhook server, the chat REPL, the simulator and the operator CLI alike,
so every channel runs the very same dispatcher, engine and intent pipeline.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.campaigns.store import CampaignStore
from bot import metrics
from bot.stores.alerts import SqlAlertStore
from bot.stores.crypto import DataCipher
from bot.stores.memory import MemorySessionStore
from bot.stores.sql import SqlAuditLog, SqlUserRepository, create_schema
from config.settings import Settings
from engine.clock import Clock, SimulatedClock, SystemClock
from engine.db import dispose, make_engine
from handlers.context import Services
from handlers.dispatcher import Dispatcher
from handlers.ports import Messenger
from handlers.routes import build_middlewares, build_router, run_tick_hooks
from locales.catalog import load_catalog

log = structlog.get_logger("gridworks.app")


@dataclass
class Runtime:
    """Everything a channel needs, wired. Close it with :meth:`close`."""

    settings: Settings
    db: AsyncEngine
    clock: Clock
    services: Services
    dispatcher: Dispatcher
    audit: SqlAuditLog
    users: SqlUserRepository
    engine: Any
    sessions: Any = None                 # the dialogue state store (memory, or Redis in a cluster)
    receipts: Any | None = None
    redis: Any | None = None
    _closers: list[Callable[[], Any]] = field(default_factory=list)

    async def tick(self, now: datetime | None = None) -> Sequence[Any]:
        """Move the market to ``now`` (fills resting orders, triggers stops, releases AMOs, expires orders),
        then let the tick hooks (order updates, price alerts, trial reminders) push what users must hear."""
        now = now or self.clock.now()
        events = await self.engine.advance(now)
        pushes = await run_tick_hooks(self.services, now, events)
        await self.deliver(pushes, key=f"tick:{now.isoformat()}")
        return events

    async def deliver(self, pushes: Sequence[tuple[Any, Sequence[Any]]], *, key: str) -> None:
        """Hand pushes (from tick hooks) to the channel's messenger; ``key`` makes them idempotent where the
        messenger is the durable outbound queue."""
        messenger = self.services.messenger
        if messenger is None:
            return
        for user, replies in pushes:
            if replies:
                await messenger.push(user, replies, key=f"{key}:{user.key}")

    async def close(self) -> None:
        await close_all(self._closers)


async def close_all(closers: list[Callable[[], Any]]) -> None:
    """Call the closers, last opened first (each may be sync or async), and forget them."""
    for closer in reversed(closers):
        result = closer()
        if asyncio.iscoroutine(result):
            await result
    closers.clear()


def make_clock(settings: Settings, *, simulated: bool) -> Clock:
    if settings.clock_start is not None:
        return SimulatedClock(settings.clock_start)
    if simulated:
        return SimulatedClock(SystemClock().now())
    return SystemClock()


def _sessions(settings: Settings, prefix: str):
    if settings.storage.redis_url:
        from bot.cluster.redis_client import connect
        from bot.stores.redis_stores import RedisSessionStore

        client = connect(settings.storage.redis_url)
        return client, RedisSessionStore(client, prefix=prefix)
    return None, MemorySessionStore()


_OFFLINE_PIPELINE: Any = None


async def _load_intents(settings: Settings):
    """The intent pipeline is immutable once trained: one offline instance per process serves every runtime."""
    global _OFFLINE_PIPELINE
    from intents.pipeline import IntentPipeline

    if settings.llm.api_key:
        from intents.llm import LLMFallback

        loading = asyncio.to_thread(IntentPipeline.load, llm=LLMFallback(settings.llm))
        return await metrics.timed_model_load(loading)
    if _OFFLINE_PIPELINE is None:
        _OFFLINE_PIPELINE = await metrics.timed_model_load(asyncio.to_thread(IntentPipeline.load))
    return _OFFLINE_PIPELINE


async def _engine_lease(db: AsyncEngine):
    """The embedded engine is the database's only writer: take its lease or refuse, clearly."""
    from bot.cluster.lease import EngineBusy, open_lease

    lease = open_lease(db)
    if not await lease.acquire(wait=False):
        raise EngineBusy("another GridWorks process is the order engine for this database (a running server "
                         "or cluster engine). Stop it, or set REDIS_URL so this command goes through the "
                         "cluster's engine.")
    return lease


class OpenedEngine:
    """An order engine for a command, and how to let it go: the cluster's engine through Redis when
    ``REDIS_URL`` is set (operator writes then never happen behind the running engine's back), else the
    embedded engine under the database's lease (refused while a server holds it)."""

    def __init__(self, engine: Any, closers: list[Callable[[], Any]]) -> None:
        self.engine = engine
        self._closers = closers

    async def close(self) -> None:
        await close_all(self._closers)


async def open_order_engine(settings: Settings, db: AsyncEngine, clock: Clock) -> OpenedEngine:
    if settings.storage.redis_url:
        from bot.cluster.engine_rpc import RemoteEngine
        from bot.cluster.redis_client import connect

        client = connect(settings.storage.redis_url)
        remote = RemoteEngine(client, prefix=settings.cluster.prefix, timeout_s=settings.cluster.engine_timeout_s)
        return OpenedEngine(remote, [client.aclose, remote.close])
    from engine.factory import open_engine

    lease = await _engine_lease(db)
    try:
        engine = await open_engine(db=db, clock=clock, config=settings.product,
                                   keyring=DataCipher.from_secrets(settings.secrets))
    except BaseException:
        await lease.release()
        raise
    engine.store.fence = lease.fence
    return OpenedEngine(engine, [lease.release, engine.close])


async def build_runtime(settings: Settings, *, clock: Clock | None = None,
                        messenger: Callable[[SqlAuditLog], Messenger] | None = None,
                        simulated_clock: bool = False, with_receipts: bool = True,
                        engine: Callable[[Any], Any] | None = None) -> Runtime:
    """Build the runtime from ``settings``. The caller owns it and must ``await runtime.close()``.

    ``messenger`` builds the channel's push messenger from the audit log (replies sent outside a turn).
    ``engine`` builds the order engine from the Redis client (a cluster's :class:`RemoteEngine`); without it
    the embedded engine is opened on the database, which refuses a SQLite file another process serves.
    """
    from engine.factory import open_engine

    clock = clock or make_clock(settings, simulated=simulated_clock)
    db = make_engine(settings.storage.database_url)
    cipher = DataCipher.from_secrets(settings.secrets)      # the data keys: users, messages, engine, receipts
    closers: list[Callable[[], Any]] = [lambda: dispose(db)]
    try:
        await create_schema(db)
        redis_client, sessions = _sessions(settings, settings.cluster.prefix)
        if redis_client is not None:
            closers.append(redis_client.aclose)
        if engine is not None:
            intents = await _load_intents(settings)
            order_engine = engine(redis_client)
        else:
            lease = await _engine_lease(db)
            closers.append(lease.release)
            intents, order_engine = await asyncio.gather(_load_intents(settings), open_engine(
                db=db, clock=clock, config=settings.product, keyring=cipher))
            order_engine.store.fence = lease.fence    # PostgreSQL: every write re-checks the lease
        closers.append(order_engine.close)
        receipts = None
        if with_receipts:
            from engine.zk import open_receipts

            receipts = await open_receipts(db=db, secrets=settings.secrets, clock=clock, keyring=cipher)
            closers.append(receipts.close)
        users = SqlUserRepository(db, cipher=cipher)
        audit = SqlAuditLog(db, cipher=cipher)
        alerts = SqlAlertStore(db)
        await alerts.create_schema()
        campaigns = CampaignStore(db, privacy_words=settings.product.campaigns.facts.privacy_words)
        await campaigns.create_schema()
        services = Services(catalog=load_catalog(), clock=clock, users=users, intents=intents, engine=order_engine,
                            receipts=receipts, alerts=alerts, messenger=messenger(audit) if messenger else None,
                            product=settings.product, extras={"campaigns": campaigns})
        dispatcher = Dispatcher(router=build_router(), services=services, sessions=sessions, audit=audit,
                                extra_middlewares=build_middlewares())
    except BaseException:
        await close_all(closers)
        raise
    return Runtime(settings=settings, db=db, clock=clock, services=services, dispatcher=dispatcher,
                   audit=audit, users=users, engine=order_engine, sessions=sessions, receipts=receipts,
                   redis=redis_client,
                   _closers=closers)


