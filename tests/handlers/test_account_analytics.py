"""PRO analytics arithmetic and the coaching nudges, on plain engine values."""

from __future__ import annotations

from datetime import datetime, timedelta

from config.product import shipped_product_config
from engine.api import Holding, Side, Trade
from engine.clock import IST
from handlers.analytics import (CoachingRules, concentration, nudges, realized_by_symbol, sector_allocation)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


def trade(n: int, symbol: str, side: Side, qty: int, price_rupees: float, minutes: int) -> Trade:
    return Trade(trade_id=f"T{n}", order_id=f"O{n}", account="u", symbol=symbol, side=side, quantity=qty,
                 price_paise=int(price_rupees * 100), at=T0 + timedelta(minutes=minutes))


def holding(symbol: str, qty: int, avg: float, ltp: float) -> Holding:
    return Holding(symbol=symbol, quantity=qty, t1_quantity=0, average_price_paise=int(avg * 100),
                   ltp_paise=int(ltp * 100), prev_close_paise=int(ltp * 100))


def test_sector_allocation_and_concentration() -> None:
    hs = [holding("TCS", 10, 3000, 3100), holding("INFY", 10, 1500, 1500), holding("HDFCBANK", 10, 1000, 1000)]
    sectors = {"TCS": "IT", "INFY": "IT", "HDFCBANK": "Financials"}
    alloc = sector_allocation(hs, sectors)
    assert [s for s, _, _ in alloc] == ["IT", "Financials"]
    assert alloc[0][1] == 10 * 310000 + 10 * 150000
    assert abs(sum(p for _, _, p in alloc) - 100.0) < 1e-9
    top = concentration(hs)
    assert top is not None and top[0] == "TCS" and round(top[1], 1) == 55.4 and round(top[2], 1) == 100.0
    assert concentration([]) is None


def test_realized_pnl_by_average_cost() -> None:
    trades = [trade(1, "TCS", Side.BUY, 10, 3000, 0), trade(2, "TCS", Side.BUY, 10, 3200, 5),
              trade(3, "TCS", Side.SELL, 5, 3300, 10), trade(4, "ITC", Side.SELL, 5, 400, 11)]
    realized = realized_by_symbol(trades)
    assert realized["TCS"] == 5 * (330000 - 310000)
    assert "ITC" not in realized          # nothing held: no P&L invented for a sell without a buy


def test_no_nudges_for_calm_trading() -> None:
    trades = [trade(1, "TCS", Side.BUY, 5, 3000, 0), trade(2, "INFY", Side.BUY, 5, 1500, 60 * 24)]
    assert nudges(trades, T0 + timedelta(days=2)) == []


def test_overtrading() -> None:
    trades = [trade(i, "ITC", Side.BUY if i % 2 else Side.SELL, 1, 400, i) for i in range(1, 10)]
    found = dict(nudges(trades, T0 + timedelta(hours=2)))
    assert found["overtrading"]["busiest"] == 9
    assert "overtrading" not in dict(nudges(trades, T0 + timedelta(days=10)))   # outside the window


def test_loss_chasing() -> None:
    trades = [
        trade(1, "TCS", Side.BUY, 10, 3000, 0), trade(2, "TCS", Side.SELL, 10, 2900, 30),   # loss
        trade(3, "INFY", Side.BUY, 10, 1500, 40),                                          # 10 min later
        trade(4, "INFY", Side.SELL, 10, 1450, 100),                                        # loss
        trade(5, "ITC", Side.BUY, 10, 400, 110),                                           # again
    ]
    found = dict(nudges(trades, T0 + timedelta(hours=3)))
    assert found["loss_chasing"]["count"] == 2
    slow = [trades[0], trades[1], trade(3, "INFY", Side.BUY, 10, 1500, 30 + 24 * 60)]
    assert "loss_chasing" not in dict(nudges(slow, T0 + timedelta(days=2)))


def test_averaging_down_repeatedly() -> None:
    falling = [trade(i, "ADANIENT", Side.BUY, 5, 2500 - 100 * i, 60 * i) for i in range(1, 5)]
    found = dict(nudges(falling, T0 + timedelta(days=1)))
    assert found["averaging_down"] == {"symbol": "ADANIENT", "count": 4}
    mixed = [trade(1, "TCS", Side.BUY, 5, 3000, 0), trade(2, "TCS", Side.BUY, 5, 2900, 60),
             trade(3, "TCS", Side.BUY, 5, 3050, 120)]
    assert "averaging_down" not in dict(nudges(mixed, T0 + timedelta(days=1)))
    strict = CoachingRules(averaging_down_streak=2)
    assert dict(nudges(mixed, T0 + timedelta(days=1), strict))["averaging_down"]["count"] == 2


def test_rules_from_config() -> None:
    coaching = shipped_product_config().analytics.coaching.model_copy(update={"overtrading_orders_per_day": 3})
    rules = CoachingRules.from_config(coaching)
    assert rules.overtrading_orders_per_day == 3 and rules.window_days == 7
