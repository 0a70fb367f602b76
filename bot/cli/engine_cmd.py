"""Operator commands for the order engine: ``gridworks orders list``, ``gridworks portfolio``, ``gridworks market
quote``. They open the same database the bot uses (``DATABASE_URL``) and only read; heavy imports happen inside
the command so ``gridworks --help`` stays fast. Output is for operators (English, plain), not for chat users.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, Awaitable, Callable


def register(sub) -> None:
    orders = sub.add_parser("orders", help="inspect a user's orders in the order engine")
    ocmds = orders.add_subparsers(dest="orders_command", metavar="COMMAND")
    ocmds.required = True
    p = ocmds.add_parser("list", help="list a user's orders (newest first)",
                         epilog="example:\n  gridworks orders list --user 919800000002 --open")
    p.add_argument("--user", required=True, help="the WhatsApp id / account id, e.g. 919800000002")
    p.add_argument("--open", action="store_true", help="only working orders")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=lambda a: _run(_orders_list, a))

    p = sub.add_parser("portfolio", help="a user's holdings, positions, cash and charges",
                       epilog="example:\n  gridworks portfolio --user 919800000002 --json")
    p.add_argument("--user", required=True, help="the WhatsApp id / account id")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=lambda a: _run(_portfolio, a))

    market = sub.add_parser("market", help="the (simulated) market",
                            epilog="example:\n  gridworks market quote NIFTY 50 --json")
    mcmds = market.add_subparsers(dest="market_command", metavar="COMMAND")
    mcmds.required = True
    p = mcmds.add_parser("quote", help="quote a symbol or index (e.g. TCS, 'NIFTY 50')")
    p.add_argument("symbol", nargs="+", help="the symbol or index name (words are joined)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=lambda a: _run(_quote, a))


def _run(fn: Callable[[Any, argparse.Namespace], Awaitable[int]], args: argparse.Namespace) -> int:
    return asyncio.run(_with_engine(fn, args))


async def _with_engine(fn, args: argparse.Namespace) -> int:
    from bot.app import open_order_engine
    from bot.cli.common import find_account, open_database, settings as load
    from bot.cluster.lease import EngineBusy
    from engine.api import EngineUnavailable
    from engine.clock import SimulatedClock, SystemClock

    settings = load()
    clock = SimulatedClock(settings.clock_start) if settings.clock_start else SystemClock()
    db = await open_database(settings)
    try:
        if getattr(args, "user", None) is not None:
            args.user = await find_account(db, args.user)     # "no such user", not an empty account
        opened = await open_order_engine(settings, db, clock)
        try:
            return await fn(opened.engine, args)
        finally:
            await opened.close()
    except EngineBusy as exc:
        print(f"gridworks: {exc}", file=sys.stderr)
        return 1
    except EngineUnavailable:
        print("gridworks: the cluster's engine did not answer (is `gridworks engine` running?)", file=sys.stderr)
        return 1
    finally:
        await db.dispose()


def _rs(paise: int | None) -> str:
    from locales.format import rupees

    return "-" if paise is None else rupees(paise)


async def _orders_list(engine, args: argparse.Namespace) -> int:
    orders = await engine.orders(args.user, open_only=args.open)
    if args.json:
        print(json.dumps([{**o.to_trace(), "placed_at": o.placed_at.isoformat(),
                           "client_order_id": o.client_order_id,
                           "rejection": o.rejection.code if o.rejection else None,
                           "charges_paise": o.charges.total} for o in orders], ensure_ascii=False))
        return 0
    if not orders:
        print("no orders")
        return 0
    print(f"{'order id':16} {'placed (IST)':17} {'side':4} {'qty':>6} {'symbol':11} {'type':6} {'prod':4} "
          f"{'price':>12} {'filled':>6} {'avg':>12} {'status':16} note")
    for o in orders:
        note = o.rejection.code if o.rejection else ("AMO " + o.release_at.strftime("%d %b %H:%M")
                                                      if o.is_amo and o.release_at else "")
        print(f"{o.order_id:16} {o.placed_at.strftime('%d %b %H:%M:%S'):17} {o.side.value:4} {o.quantity:>6} "
              f"{o.symbol:11} {o.order_type.value:6} {o.product.value:4} {_rs(o.price_paise):>12} "
              f"{o.filled_quantity:>6} {_rs(o.average_price_paise):>12} {o.status.value:16} {note}")
    return 0


async def _portfolio(engine, args: argparse.Namespace) -> int:
    holdings = await engine.holdings(args.user)
    positions = await engine.positions(args.user)
    funds = await engine.funds(args.user)
    if args.json:
        print(json.dumps({
            "holdings": [{"symbol": h.symbol, "quantity": h.quantity, "t1_quantity": h.t1_quantity,
                          "average_price_paise": h.average_price_paise, "ltp_paise": h.ltp_paise,
                          "value_paise": h.value_paise, "pnl_paise": h.pnl_paise} for h in holdings],
            "positions": [{"symbol": p.symbol, "net_quantity": p.net_quantity,
                           "realized_pnl_paise": p.realized_pnl_paise,
                           "unrealized_pnl_paise": p.unrealized_pnl_paise} for p in positions],
            "funds": {"cash_paise": funds.cash_paise, "blocked_paise": funds.blocked_paise,
                      "available_paise": funds.available_paise, "realized_pnl_paise": funds.realized_pnl_paise,
                      "charges_paid_paise": funds.charges_paid_paise}}, ensure_ascii=False))
        return 0
    print(f"account {args.user} (simulated)")
    print("holdings:" if holdings else "holdings: none")
    for h in holdings:
        print(f"  {h.symbol:11} qty {h.quantity:>6} (T1 {h.t1_quantity}) avg {_rs(h.average_price_paise):>12} "
              f"ltp {_rs(h.ltp_paise):>12} value {_rs(h.value_paise):>14} P&L {_rs(h.pnl_paise):>12}")
    if positions:
        print("intraday positions:")
    for p in positions:
        print(f"  {p.symbol:11} net {p.net_quantity:>6} realized {_rs(p.realized_pnl_paise):>12} "
              f"unrealized {_rs(p.unrealized_pnl_paise):>12}")
    print(f"cash {_rs(funds.cash_paise)} · blocked {_rs(funds.blocked_paise)} · available {_rs(funds.available_paise)}")
    print(f"realized P&L {_rs(funds.realized_pnl_paise)} · charges paid {_rs(funds.charges_paid_paise)}")
    return 0


async def _quote(engine, args: argparse.Namespace) -> int:
    symbol = " ".join(args.symbol).upper()
    q = await engine.quote(symbol)
    if q is None:
        print(f"unknown symbol {symbol}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"symbol": q.symbol, "name": q.name, "ltp_paise": q.ltp_paise,
                          "prev_close_paise": q.prev_close_paise, "change_pct": round(q.change_pct, 2),
                          "open_paise": q.open_paise, "high_paise": q.high_paise, "low_paise": q.low_paise,
                          "bid_paise": q.bid_paise, "ask_paise": q.ask_paise,
                          "upper_circuit_paise": q.upper_circuit_paise, "lower_circuit_paise": q.lower_circuit_paise,
                          "at": q.at.isoformat(), "market_open": q.market_open, "is_index": q.is_index}))
        return 0
    print(f"{q.symbol} · {q.name} · {q.at.strftime('%d %b %Y %H:%M IST')} · "
          f"{'market open' if q.market_open else 'market closed'} (simulated)")
    print(f"  LTP {_rs(q.ltp_paise)}  {q.change_pct:+.2f}% (prev close {_rs(q.prev_close_paise)})")
    print(f"  open {_rs(q.open_paise)}  high {_rs(q.high_paise)}  low {_rs(q.low_paise)}")
    if not q.is_index:
        print(f"  bid {_rs(q.bid_paise)}  ask {_rs(q.ask_paise)}  circuits {_rs(q.lower_circuit_paise)} – "
              f"{_rs(q.upper_circuit_paise)}")
    return 0
