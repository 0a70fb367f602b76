"""Time in the engine: walk the simulated market from the last processed instant to ``now``.

Per session, in order: release MARKET/LIMIT AMOs into pre-open (09:00), run the call auction at the end of
order entry (09:08) at the session's equilibrium (opening) price, release SL/SL-M/IOC AMOs at the open (09:15),
then minute by minute trigger stops and fill resting orders whose price the path crosses, square off MIS at
the cut-off (15:20) and expire unfilled DAY orders at the close (15:30). Pure: it only drives the core, whose
transitions and fills are the events (``EngineCore.take_events``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.api import EngineEvent, OrderRequest, OrderType, Product, Side, Validity
from engine.book import BUY, SELL
from engine.calendar import Session
from engine.clock import IST
from engine.core import EngineCore
from engine.lifecycle import Event
from engine.orders import SQUARE_OFF_TAG, STAGE_AMO, STAGE_BOOK, STAGE_PREOPEN, STAGE_TRIGGER, Order


def catch_up(core: EngineCore, now: datetime) -> list[EngineEvent]:
    """Process everything scheduled in (core.advanced_to, now]; returns the events, in time order."""
    if not core.started:
        core.started = True
        core.advanced_to = now
        core.changes.state["advanced_to"] = now.astimezone(IST).isoformat()
        return []
    start = core.advanced_to
    if now <= start:
        return []
    for session in core.calendar.sessions_between(start, now):
        if session.close <= start:
            continue
        _run_session(core, session, start, now)
    core.advanced_to = now
    core.changes.state["advanced_to"] = now.astimezone(IST).isoformat()
    return core.take_events()


def _due(t: datetime, start: datetime, end: datetime) -> bool:
    return start < t <= end


def _run_session(core: EngineCore, s: Session, start: datetime, end: datetime) -> None:
    if _due(s.pre_open_start, start, end):
        for order in core.working(STAGE_AMO):
            if order.release_at is not None and order.release_at <= s.pre_open_start:
                order.stage = STAGE_PREOPEN
                core._touch(order, Event.RELEASE, s.pre_open_start, {"into": "pre_open"})
    if _due(s.pre_open_end, start, end):
        _auction(core, s)
    if _due(s.open, start, end):
        for order in core.working(STAGE_AMO):
            if order.release_at is not None and order.release_at <= s.open:
                _release_at_open(core, order, s.open)
    cutoff = core.mis_cutoff(s)
    squared = False
    first = 1 if start < s.open else int((start - s.open).total_seconds() // 60) + 1
    minute = s.open + timedelta(minutes=first)     # the first minute boundary not processed yet
    while minute < s.close and minute <= end:
        if not squared and minute >= cutoff and _due(cutoff, start, end):
            _square_off(core, s, cutoff)
            squared = True
        if any(core.triggers.values()) or any(len(b) for b in core.books.values()):
            _minute(core, minute)
        minute += timedelta(minutes=1)
    if not squared and _due(cutoff, start, end):
        _square_off(core, s, cutoff)
    if _due(s.close, start, end):
        for order in core.working(STAGE_BOOK) + core.working(STAGE_TRIGGER) + core.working(STAGE_PREOPEN):
            core.finish(order, Event.EXPIRE, s.close)


def _auction(core: EngineCore, s: Session) -> None:
    """Call auction: every pre-open order that crosses the equilibrium price trades at it; the rest rests."""
    at = s.pre_open_end
    for order in core.working(STAGE_PREOPEN):
        eq = core.market.open_price(order.symbol, s.day)
        if order.order_type is OrderType.MARKET:
            lower, upper = core.market.circuits(order.symbol, s.day)
            order.protection = core._protection(order.side, eq, core.market.tick(order.symbol, s.day), lower,
                                                upper)
        limit = order.limit or eq
        crosses = limit >= eq if order.side is Side.BUY else limit <= eq
        if crosses:
            core.fill(order, order.pending, eq, at)
        else:
            order.stage = STAGE_BOOK
            core.book(order.symbol).add(order.order_id, BUY if order.side is Side.BUY else SELL, limit,
                                        order.pending)


def _release_at_open(core: EngineCore, order: Order, at: datetime) -> None:
    core._touch(order, Event.RELEASE, at, {"into": "open"})
    if order.order_type in (OrderType.SL, OrderType.SL_M):
        order.stage = STAGE_TRIGGER
        core.triggers.setdefault(order.symbol, set()).add(order.order_id)
        return
    if order.order_type is OrderType.MARKET:
        day = at.astimezone(IST).date()
        lower, upper = core.market.circuits(order.symbol, day)
        order.protection = core._protection(order.side, core.market.ltp(order.symbol, at),
                                            core.market.tick(order.symbol, day), lower, upper)
    core.execute(order, at)


def _minute(core: EngineCore, t: datetime) -> None:
    for symbol in sorted(core.triggers):
        ids = core.triggers[symbol]
        if not ids:
            continue
        price = core.market.ltp(symbol, t)
        for order in sorted((core.orders[i] for i in list(ids)), key=lambda o: o.seq):
            hit = price >= (order.trigger or 0) if order.side is Side.BUY else price <= (order.trigger or 0)
            if not hit:
                continue
            ids.discard(order.order_id)
            if order.order_type is OrderType.SL_M:
                day = t.astimezone(IST).date()
                lower, upper = core.market.circuits(symbol, day)
                order.protection = core._protection(order.side, price, core.market.tick(symbol, day), lower, upper)
            core._touch(order, Event.TRIGGER, t, {"ltp": price})
            core.execute(order, t)
    for symbol, book in sorted(core.books.items()):
        if not len(book):
            continue
        depth = core.market.depth(symbol, t)
        _cross(core, book, SELL, depth.asks, t)     # resting buys vs the maker's offers
        _cross(core, book, BUY, depth.bids, t)      # resting sells vs the maker's bids


def _cross(core: EngineCore, book, maker_side: int, levels, t: datetime) -> None:
    """Resting orders the market moved through fill at their own (limit) price, up to the maker's depth."""
    resting_side = BUY if maker_side == SELL else SELL
    available = sum(q for _, q in levels)
    if not levels or not available:
        return
    best_maker = levels[0][0]
    while available > 0:
        best = book.best_bid() if resting_side == BUY else book.best_ask()
        if best is None or (best < best_maker if resting_side == BUY else best > best_maker):
            break
        for order_id, price, qty in book.take(resting_side, best, available):
            core.fill(core.orders[order_id], qty, price, t)
            available -= qty


def _square_off(core: EngineCore, s: Session, at: datetime) -> None:
    """MIS cut-off: cancel working MIS orders, then close every open MIS position at the maker's prices."""
    for order in sorted(core.orders.values(), key=lambda o: o.seq):
        if order.product is Product.MIS and order.stage in (STAGE_BOOK, STAGE_TRIGGER, STAGE_PREOPEN):
            core.finish(order, Event.SQUARE_OFF_CANCEL, at)
    for (account, day, symbol), pos in sorted(core.positions.items(), key=lambda kv: (kv[0][0], kv[0][2])):
        if day != s.day or pos.net == 0:
            continue
        side = Side.SELL if pos.net > 0 else Side.BUY
        req = OrderRequest(account=account, client_order_id=f"squareoff:{account}:{day.isoformat()}:{symbol}",
                           symbol=symbol, side=side, quantity=abs(pos.net), order_type=OrderType.MARKET,
                           product=Product.MIS, validity=Validity.DAY, tag=SQUARE_OFF_TAG)
        order = core.new_order(req, at)
        core.coids[req.client_order_id] = order.order_id
        lower, upper = core.market.circuits(symbol, day)
        order.protection = upper if side is Side.BUY else lower    # forced: take whatever the market offers
        order.stage = STAGE_BOOK
        core.orders[order.order_id] = order
        core._touch(order, Event.ACCEPT, at, {"square_off": True})
        trades = core.take(order, at)
        while order.pending:   # thin depth: the remainder trades at the protection edge's nearest level
            last = trades[-1].price_paise if trades else core.market.ltp(symbol, at)
            trades.append(core.fill(order, order.pending, last, at))
