"""A console channel on the real dispatcher, intent pipeline, order engine and SQL stores (users, audit,
alerts), with the session store kept at hand: for tests that tap buttons and then look at every kind of state
a tap could change. Nothing of ours is mocked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.app import Runtime
from bot.console import ConsoleChannel, ConsoleMessenger
from bot.stores.alerts import SqlAlertStore
from bot.stores.memory import MemorySessionStore
from bot.stores.sql import SqlAuditLog, SqlUserRepository, create_schema
from config.settings import load_settings
from engine.clock import FixedClock
from handlers.context import Services
from handlers.dispatcher import Dispatcher
from handlers.routes import build_middlewares, build_router
from handlers.upgrade import PLAN, TRIAL_USED
from locales.catalog import load_catalog

_PIPELINE: list[Any] = []
PIN = "975310"


def intents():
    """One intent pipeline per test process (it holds no per-test state)."""
    if not _PIPELINE:
        from intents.pipeline import IntentPipeline

        _PIPELINE.append(IntentPipeline.load())
    return _PIPELINE[0]


@dataclass
class World:
    runtime: Runtime
    channel: ConsoleChannel
    sessions: MemorySessionStore
    clock: FixedClock

    @property
    def services(self) -> Services:
        return self.runtime.services

    async def turn(self, user: str, **kw: Any) -> dict[str, Any]:
        trace = await self.channel.turn(user, **kw)
        assert trace["status"] != "error", trace
        return trace

    async def onboard(self, user: str, pin: str = PIN) -> None:
        await self.turn(user, text="hello")
        await self.turn(user, button="onb_lang:en")
        await self.turn(user, button="onb_consent:yes")
        trace = await self.turn(user, text=pin)
        assert trace["awaiting"] is None and "PIN set" in trace["replies"][0]["text"], trace

    async def tap(self, user: str, trace: dict[str, Any], title: str, **kw: Any) -> dict[str, Any]:
        """Tap the option of ``trace`` whose title starts with ``title`` (as a person would)."""
        return await self.turn(user, button=option(trace, title), **kw)

    async def state(self, user: str) -> dict[str, Any]:
        """Everything a button could change for ``user``: orders, alerts, tier and plan, cash."""
        engine, users = self.services.engine, self.services.users
        record = await users.get(user)
        assert record is not None
        funds = await engine.funds(record.account)
        return {
            "orders": sorted((o.order_id, o.status.value, o.quantity, o.price_paise, o.trigger_paise,
                              o.filled_quantity) for o in await engine.orders(record.account)),
            "trades": len(await engine.trades(record.account)),
            "alerts": sorted((a.id, a.symbol, a.direction, a.target_paise, a.triggered_at is not None)
                             for a in await self.services.alerts.for_user(user)),
            "tier": record.tier.value, "plan": record.profile.get(PLAN),
            "trial_used": record.profile.get(TRIAL_USED),
            "cash": (funds.cash_paise, funds.blocked_paise, funds.available_paise),
        }

    async def close(self) -> None:
        await self.runtime.close()


def options(trace: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for r in trace["replies"] for o in (r.get("buttons") or []) + (r.get("rows") or [])]


def option(trace: dict[str, Any], title: str) -> str:
    found = [o["id"] for o in options(trace) if o["title"].startswith(title)]
    assert found, f"no option {title!r} in {[o['title'] for o in options(trace)]}"
    return found[0]


def text(trace: dict[str, Any]) -> str:
    return "\n".join(r.get("text") or "" for r in trace["replies"])


async def open_world(db, tmp_path: Path, *, at: datetime) -> World:
    from engine.factory import open_engine

    settings = load_settings({"GRIDWORKS_STATE_DIR": str(tmp_path / "state")})
    clock = FixedClock(at)
    await create_schema(db)
    engine = await open_engine(db=db, clock=clock, config=settings.product)
    alerts = SqlAlertStore(db)
    await alerts.create_schema()
    users, audit, sessions = SqlUserRepository(db), SqlAuditLog(db), MemorySessionStore()
    services = Services(catalog=load_catalog(), clock=clock, users=users, intents=intents(), engine=engine,
                        alerts=alerts, messenger=ConsoleMessenger(), product=settings.product)
    dispatcher = Dispatcher(router=build_router(), services=services, sessions=sessions, audit=audit,
                            extra_middlewares=build_middlewares())
    runtime = Runtime(settings=settings, db=db, clock=clock, services=services, dispatcher=dispatcher,
                      audit=audit, users=users, engine=engine, _closers=[engine.close])
    return World(runtime=runtime, channel=ConsoleChannel(runtime, documents_dir=tmp_path / "docs"),
                 sessions=sessions, clock=clock)
