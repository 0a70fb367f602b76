"""Build the embedded engine from ``settings.product`` (falling back to the shipped ``config/*.toml``)."""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy.ext.asyncio import AsyncEngine

from engine.calendar import TradingCalendar
from engine.charges import ChargeSchedule
from engine.clock import Clock
from engine.embedded import EmbeddedEngine
from engine.instruments import load_instruments
from engine.market import MarketParams, SimulatedMarket
from engine.params import EngineParams
from engine.sealed import Keyring
from engine.store import EngineStore

SECTIONS = ("engine", "charges", "calendar", "tiers")


def resolve_config(config: Mapping[str, object] | None) -> dict[str, Any]:
    """The engine's config sections, each taken from ``config`` when present, else from the shipped files."""
    config = config or {}
    out: dict[str, Any] = {}
    shipped: dict[str, Any] | None = None
    for name in SECTIONS:
        section = config.get(name)
        if not section:
            if shipped is None:
                from config.settings import load_product_config

                shipped = load_product_config()
            section = shipped.get(name) or {}
        out[name] = section
    return out


def build_market(config: Mapping[str, object] | None = None) -> SimulatedMarket:
    cfg = resolve_config(config)
    return SimulatedMarket(load_instruments(), TradingCalendar(cfg["calendar"]),
                           MarketParams.from_config(cfg["engine"].get("market") or {}))


async def open_engine(*, db: AsyncEngine, clock: Clock, config: Mapping[str, object],
                      params: EngineParams | None = None, keyring: Keyring | None = None) -> EmbeddedEngine:
    """Create the engine's tables if needed, rebuild working orders from the database, and return the engine.
    ``keyring`` (the data keys) seals PRO accounts' rows at rest (:mod:`engine.sealed`)."""
    cfg = resolve_config(config)
    calendar = TradingCalendar(cfg["calendar"])
    instruments = load_instruments()
    market = SimulatedMarket(instruments, calendar, MarketParams.from_config(cfg["engine"].get("market") or {}))
    params = params or EngineParams.from_config(cfg["engine"])
    store = EngineStore(db, writer_process=params.writer_process, keyring=keyring)
    await store.create()
    engine = EmbeddedEngine(store=store, clock=clock, market=market, calendar=calendar, instruments=instruments,
                            schedule=ChargeSchedule(cfg["charges"], cfg["tiers"]), params=params)
    await engine.rebuild()
    return engine
