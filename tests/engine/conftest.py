"""Helpers for the order-engine tests: a pure core (no database) and the embedded engine on the ``db`` fixture."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import pytest

from engine.api import OrderRequest, OrderType, Product, Side
from engine.calendar import TradingCalendar
from engine.charges import ChargeSchedule
from engine.clock import IST
from engine.core import EngineCore
from config.product import shipped_product_config
from engine.factory import open_engine
from engine.instruments import load_instruments
from engine.market import MarketParams, SimulatedMarket
from engine.params import EngineParams

CONFIG = shipped_product_config()
MON_10 = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


def make_market() -> SimulatedMarket:
    return SimulatedMarket(load_instruments(), TradingCalendar(CONFIG.calendar),
                           MarketParams.from_config(CONFIG.engine.market))


def make_core(now: datetime = MON_10, **param_overrides: Any) -> EngineCore:
    params = dataclasses.replace(EngineParams.from_config(CONFIG.engine), **param_overrides)
    market = make_market()
    return EngineCore(instruments=load_instruments(), market=market, calendar=market.calendar,
                      schedule=ChargeSchedule(CONFIG.charges, CONFIG.tiers), params=params,
                      advanced_to=now)


_counter = [0]


def req(symbol: str = "TCS", side: Side = Side.BUY, quantity: int = 1, *, account: str = "919800000002",
        coid: str | None = None, **kw: Any) -> OrderRequest:
    _counter[0] += 1
    return OrderRequest(account=account, client_order_id=coid or f"c{_counter[0]}", symbol=symbol, side=side,
                        quantity=quantity, **kw)


def limit(symbol: str, side: Side, quantity: int, price: int, **kw: Any) -> OrderRequest:
    return req(symbol, side, quantity, order_type=OrderType.LIMIT, price_paise=price, **kw)


@pytest.fixture
def core() -> EngineCore:
    c = make_core()
    c.open_account("919800000002", None, MON_10)
    c.take_changes()
    return c


@pytest.fixture
async def engine(db, clock):
    e = await open_engine(db=db, clock=clock, config=CONFIG)
    yield e
    await e.close()


__all__ = ["ist", "make_core", "req", "limit", "MON_10", "CONFIG", "Product", "OrderType", "Side"]
