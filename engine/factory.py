"""Build the embedded engine from the typed product configuration (``settings.product``; tools and tests that
are handed none use the shipped ``config/*.toml``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from config.product import ProductConfig, shipped_product_config
from engine.calendar import TradingCalendar
from engine.charges import ChargeSchedule
from engine.clock import Clock
from engine.embedded import EmbeddedEngine
from engine.instruments import load_instruments
from engine.market import MarketParams, SimulatedMarket
from engine.params import EngineParams
from engine.sealed import Keyring
from engine.store import EngineStore


def build_market(config: ProductConfig | None = None) -> SimulatedMarket:
    """The simulated market alone (a cluster worker quotes from it without opening the engine)."""
    config = config or shipped_product_config()
    return SimulatedMarket(load_instruments(), TradingCalendar(config.calendar),
                           MarketParams.from_config(config.engine.market))


async def open_engine(*, db: AsyncEngine, clock: Clock, config: ProductConfig | None = None,
                      params: EngineParams | None = None, keyring: Keyring | None = None) -> EmbeddedEngine:
    """Create the engine's tables if needed, rebuild working orders from the database, and return the engine.
    It reads ``config``'s engine, calendar, charges and tiers sections; ``params`` replaces the engine section
    (a caller's override such as group commit). ``keyring`` (the data keys) seals PRO accounts' rows at rest
    (:mod:`engine.sealed`)."""
    config = config or shipped_product_config()
    calendar = TradingCalendar(config.calendar)
    instruments = load_instruments()
    market = SimulatedMarket(instruments, calendar, MarketParams.from_config(config.engine.market))
    params = params or EngineParams.from_config(config.engine)
    store = EngineStore(db, writer_process=params.writer_process, keyring=keyring)
    await store.create()
    engine = EmbeddedEngine(store=store, clock=clock, market=market, calendar=calendar, instruments=instruments,
                            schedule=ChargeSchedule(config.charges, config.tiers), params=params)
    await engine.rebuild()
    return engine
