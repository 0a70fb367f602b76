"""The pure engine core: validation, order state, matching against the book and the market maker, fills and
their ledger effects. No I/O and no awaits: every command mutates memory and records a :class:`Changes` set
that the persistence layer commits in one transaction before the caller hears the result.

Every lifecycle transition and every fill is also told as a typed :class:`engine.api.EngineEvent` (the table
``engine.lifecycle.TOLD``; consecutive fills of an order are one event): a command returns its own order's,
the clock (:func:`engine.session.catch_up`) returns its step's, and what a command did to other users' orders
waits in ``pending_events`` for the next ``advance()``.

Time-driven behaviour (AMO release, auction, triggers, resting fills, MIS square-off, DAY expiry) lives in
:mod:`engine.session`, which drives this core.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from engine.api import (EngineEvent, EventKind, Funds, OrderRequest, OrderResult, OrderStatus, OrderType, Product,
                        Rejection, Side, Trade, Validity)
from engine.book import BUY, SELL, Book
from engine.calendar import Session, TradingCalendar
from engine.charges import ChargeSchedule, sub
from engine.clock import IST
from engine.instruments import InstrumentMaster
from engine.ledger import (CAPITAL, CLEARING, AccountState, HoldingState, Ledger, PositionState, cash_key)
from engine.lifecycle import TOLD, Event, next_status
from engine.market import MarketData
from engine.orders import (SQUARE_OFF_TAG, STAGE_AMO, STAGE_BOOK, STAGE_DONE, STAGE_PREOPEN, STAGE_TRIGGER, Order,
                           trade_row)
from engine.params import EngineParams
from engine.rejections import reject
from engine.validation import ValidationMixin


@dataclass(slots=True)
class Changes:
    """What one command changed, for one database transaction."""

    orders: dict[str, Order] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)
    postings: list[dict[str, Any]] = field(default_factory=list)
    holdings: dict[tuple[str, str], HoldingState] = field(default_factory=dict)
    positions: dict[tuple[str, date, str], PositionState] = field(default_factory=dict)
    accounts: dict[str, AccountState] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.orders or self.events or self.trades or self.postings or self.holdings
                    or self.positions or self.accounts or self.state)


RECENT_ORDERS = 4096


@dataclass(slots=True)
class _Fills:
    """Fills of one order not told yet: one event once something else happens to the order (or at the end)."""

    order: Order
    trades: list[Trade]
    at: int                      # its place in the events told so far


class EngineCore(ValidationMixin):
    def __init__(self, *, instruments: InstrumentMaster, market: MarketData, calendar: TradingCalendar,
                 schedule: ChargeSchedule, params: EngineParams, advanced_to: datetime,
                 started: bool = True) -> None:
        self.instruments = instruments
        self.market = market
        self.calendar = calendar
        self.schedule = schedule
        self.params = params
        self.orders: dict[str, Order] = {}          # working orders (plus those touched by this command)
        self.recent: OrderedDict[str, Order] = OrderedDict()   # orders done lately (answers re-submissions)
        self.coids: dict[str, str] = {}             # client order id -> order id (all time)
        self.books: dict[str, Book] = {}
        self.triggers: dict[str, set[str]] = {}     # symbol -> SL / SL-M order ids waiting for the trigger
        self.accounts: dict[str, AccountState] = {}
        self.holdings: dict[tuple[str, str], HoldingState] = {}
        self.positions: dict[tuple[str, date, str], PositionState] = {}
        self.holdings_of: dict[str, dict[str, HoldingState]] = {}      # account -> symbol -> holding
        self.positions_of: dict[str, list[PositionState]] = {}         # account -> its MIS positions
        self.ledger = Ledger()
        self.order_seq = 0
        self.trade_seq = 0
        self.advanced_to = advanced_to
        # A core with no history yet (``started=False``) takes its first use as its start, not ``advanced_to``:
        # a simulated clock set after construction (even backwards) then loses nothing.
        self.started = started
        self.changes = Changes()
        self.pending_events: list[EngineEvent] = []   # told on the next advance()
        self._told: list[EngineEvent | None] = []      # since the last take_events() (None: fills still open)
        self._fills: dict[str, _Fills] = {}
        self._local_for: datetime | None = None
        self._cutoffs: dict[date, datetime] = {}     # MIS cut-off per session day (memo)
        self._local: datetime = advanced_to

    # -- bookkeeping --------------------------------------------------------------------------------
    def take_changes(self) -> Changes:
        changes, self.changes = self.changes, Changes()
        for oid, order in changes.orders.items():
            if order.stage == STAGE_DONE:
                self.orders.pop(oid, None)
                self.recent[oid] = order
                if len(self.recent) > RECENT_ORDERS:
                    self.recent.popitem(last=False)
        return changes

    def _touch(self, order: Order, event: Event, at: datetime, detail: dict[str, Any] | None = None) -> None:
        kind = TOLD.get(event)
        if kind is not None and self._fills:
            self._close_fills(order.order_id)      # its fills so far are told as they stood, before this
        order.status = next_status(None if event in (Event.ACCEPT, Event.ACCEPT_TRIGGER, Event.REJECT)
                                   else order.status, event)
        order.updated_at = at
        self.changes.orders[order.order_id] = order
        self.changes.events.append({"order_id": order.order_id, "event": event._value_,
                                    "status": order.status._value_,
                                    "filled": order.filled, "at": at, "detail": detail or {}})
        if kind is not None and not (kind is EventKind.ACCEPTED and order.tag == SQUARE_OFF_TAG):
            self._told.append(EngineEvent(kind, order.view()))

    # -- the event stream ---------------------------------------------------------------------------
    def _tell_fill(self, order: Order, trade: Trade) -> None:
        fills = self._fills.get(order.order_id)
        if fills is None:
            self._fills[order.order_id] = _Fills(order, [trade], len(self._told))
            self._told.append(None)
        else:
            fills.trades.append(trade)

    def _close_fills(self, order_id: str) -> None:
        fills = self._fills.pop(order_id, None)
        if fills is None:
            return
        order = fills.order
        kind = (EventKind.SQUARED_OFF if order.tag == SQUARE_OFF_TAG else
                EventKind.FILLED if order.pending == 0 else EventKind.PARTIALLY_FILLED)
        self._told[fills.at] = EngineEvent(kind, order.view(), tuple(fills.trades))

    def take_events(self) -> list[EngineEvent]:
        """Everything told since the last call, in order (the clock's step, or one command)."""
        for order_id in list(self._fills):
            self._close_fills(order_id)
        told, self._told = self._told, []
        return told  # type: ignore[return-value]   # no None left: every open fill was closed above

    def _result(self, order: Order, *, accepted: bool, rejection: Rejection | None = None,
                trades: list[Trade] | tuple[Trade, ...] = ()) -> OrderResult:
        """A command's result with its own order's events; what it did to other orders waits for advance()."""
        own: list[EngineEvent] = []
        for e in self.take_events():
            (own if e.order.order_id == order.order_id else self.pending_events).append(e)
        return OrderResult(accepted=accepted, order=own[-1].order if own else order.view(), rejection=rejection,
                           trades=tuple(trades), events=tuple(own))

    def _account_changed(self, acct: AccountState) -> None:
        self.changes.accounts[acct.account] = acct

    def book(self, symbol: str) -> Book:
        b = self.books.get(symbol)
        if b is None:
            b = self.books[symbol] = Book(symbol)
        return b

    def holding(self, account: str, symbol: str) -> HoldingState:
        h = self.holdings.get((account, symbol))
        if h is None:
            h = self.add_holding(HoldingState(account, symbol))
        return h

    def position(self, account: str, day: date, symbol: str) -> PositionState:
        p = self.positions.get((account, day, symbol))
        if p is None:
            p = self.add_position(PositionState(account, day, symbol))
        return p

    def add_holding(self, h: HoldingState) -> HoldingState:
        self.holdings[(h.account, h.symbol)] = h
        self.holdings_of.setdefault(h.account, {})[h.symbol] = h
        return h

    def add_position(self, p: PositionState) -> PositionState:
        self.positions[(p.account, p.day, p.symbol)] = p
        self.positions_of.setdefault(p.account, []).append(p)
        return p

    def mis_cutoff(self, session: Session) -> datetime:
        """The MIS square-off time of a session: the configured cut-off, or 10 minutes before the close of a
        session that does not contain it (e.g. the evening Muhurat hour)."""
        memo = self._cutoffs.get(session.day)
        if memo is not None:
            return memo
        cutoff = datetime.combine(session.day, self.params.mis_cutoff, IST)
        if not session.open < cutoff < session.close:
            cutoff = session.close - timedelta(minutes=10)
        if len(self._cutoffs) > 1024:
            self._cutoffs.clear()
        self._cutoffs[session.day] = cutoff
        return cutoff

    def cash(self, account: str) -> int:
        return self.ledger.balance(cash_key(account))

    def mis_exposure(self, account: str) -> int:
        return sum(p.short_exposure() for p in self.positions_of.get(account, ()))

    def funds(self, account: str) -> Funds:
        acct = self.accounts.get(account)
        if acct is None:
            return Funds(cash_paise=0, blocked_paise=0)
        return Funds(cash_paise=self.cash(account), blocked_paise=acct.blocked + self.mis_exposure(account),
                     realized_pnl_paise=acct.realized, charges_paid_paise=acct.charges_paid)

    # -- accounts -----------------------------------------------------------------------------------
    def open_account(self, account: str, starting_cash: int | None, now: datetime) -> tuple[Funds, bool]:
        if account in self.accounts:
            return self.funds(account), False
        amount = self.params.starting_cash if starting_cash is None else starting_cash
        acct = AccountState(account, created_at=now)
        self.accounts[account] = acct
        self._account_changed(acct)
        self.changes.postings += self.ledger.post("opening", account, now,
                                                  [(cash_key(account), amount), (CAPITAL, -amount)])
        return self.funds(account), True

    # -- commands -----------------------------------------------------------------------------------
    def local(self, now: datetime) -> datetime:
        """``now`` in IST, memoised for the instant last asked (a batch of commands shares one ``now``)."""
        if now is not self._local_for:
            self._local_for, self._local = now, now.astimezone(IST)
        return self._local

    def new_order(self, req: OrderRequest, now: datetime, *, symbol: str | None = None) -> Order:
        self.order_seq += 1
        local = self.local(now)
        quantity = req.quantity if isinstance(req.quantity, int) and not isinstance(req.quantity, bool) else 0
        return Order(order_id=f"{local.year % 100:02d}{local.month:02d}{local.day:02d}{self.order_seq:09d}",
                     seq=self.order_seq,
                     client_order_id=req.client_order_id, account=req.account,
                     symbol=symbol or str(req.symbol).strip().upper()[:32], side=req.side, quantity=quantity,
                     order_type=req.order_type, product=req.product, validity=req.validity, tier=req.tier,
                     price=req.price_paise if req.order_type in (OrderType.LIMIT, OrderType.SL) else None,
                     trigger=req.trigger_paise if req.order_type in (OrderType.SL, OrderType.SL_M) else None,
                     placed_at=local, updated_at=local, source_message_id=req.source_message_id, tag=req.tag)

    def place(self, req: OrderRequest, now: datetime) -> OrderResult:
        """Validate and accept (or reject) a new order. Duplicates are handled by the caller first."""
        if req.account not in self.accounts:
            self.open_account(req.account, None, now)
        rejection, plan = self.validate(req, now)
        inst = self.instruments.get(req.symbol)
        order = self.new_order(req, now, symbol=inst.symbol if inst else None)
        self.coids[req.client_order_id] = order.order_id
        if rejection is not None or plan is None:
            order.rejection = rejection
            order.stage = STAGE_DONE
            self._touch(order, Event.REJECT, now, {"code": rejection.code if rejection else "unknown"})
            return self._result(order, accepted=False, rejection=rejection)
        order.protection = plan.protection
        order.is_amo, order.release_at, order.stage = plan.is_amo, plan.release_at, plan.stage
        acct = self.accounts[req.account]
        order.blocked = plan.block
        acct.blocked += plan.block
        self._account_changed(acct)
        if req.side is Side.SELL and req.product is Product.CNC:
            h = self.holding(req.account, order.symbol)
            h.reserved += req.quantity
            order.reserved = req.quantity
            self.changes.holdings[(h.account, h.symbol)] = h
        self.orders[order.order_id] = order
        stop = order.order_type in (OrderType.SL, OrderType.SL_M)
        self._touch(order, Event.ACCEPT_TRIGGER if stop else Event.ACCEPT, now,
                    {"amo": order.is_amo, "source_message_id": req.source_message_id})
        trades: list[Trade] = []
        if order.stage == STAGE_TRIGGER:
            self.triggers.setdefault(order.symbol, set()).add(order.order_id)
        elif order.stage == STAGE_BOOK:
            trades = self.execute(order, now)
        return self._result(order, accepted=True, trades=trades)

    def execute(self, order: Order, now: datetime) -> list[Trade]:
        """Run a working LIMIT/MARKET order as a taker now; rest or cancel (IOC) what is left."""
        trades = self.take(order, now)
        if order.pending and order.status is OrderStatus.OPEN:
            if order.validity is Validity.IOC:
                self.finish(order, Event.IOC_CANCEL, now)
            else:
                order.stage = STAGE_BOOK
                self.book(order.symbol).add(order.order_id, BUY if order.side is Side.BUY else SELL,
                                            order.limit or 0, order.pending)
        return trades

    def take(self, order: Order, now: datetime) -> list[Trade]:
        """Match against resting user orders and the market maker's depth, best price first (user orders
        win ties: they were there first), never beyond the order's limit or protection price."""
        limit = order.limit
        assert limit is not None
        book = self.book(order.symbol)
        buy = order.side is Side.BUY
        depth = self.market.depth(order.symbol, now)
        levels = depth.asks if buy else depth.bids     # the maker's depth, consumed lazily: (price, qty)
        level, left = 0, (levels[0][1] if levels else 0)
        trades: list[Trade] = []
        while order.pending > 0:
            user_px = book.best_ask() if buy else book.best_bid()
            mm_px = levels[level][0] if level < len(levels) else None
            user_ok = user_px is not None and (user_px <= limit if buy else user_px >= limit)
            mm_ok = mm_px is not None and (mm_px <= limit if buy else mm_px >= limit)
            if user_ok and (not mm_ok or (user_px <= mm_px if buy else user_px >= mm_px)):
                for resting_id, px, qty in book.take(SELL if buy else BUY, user_px, order.pending):
                    trades.append(self.fill(order, qty, px, now))
                    trades.append(self.fill(self.orders[resting_id], qty, px, now))
            elif mm_ok:
                qty = min(order.pending, left)
                trades.append(self.fill(order, qty, mm_px, now))
                left -= qty
                if left == 0:
                    level += 1
                    left = levels[level][1] if level < len(levels) else 0
            else:
                break
        return trades

    def fill(self, order: Order, qty: int, price: int, now: datetime) -> Trade:
        """One execution: trade, charges increment, ledger entry, holding/position, block and status."""
        local = self.local(now)
        day = local.date()
        self.trade_seq += 1
        trade = Trade(trade_id=f"{self.trade_seq:010d}", order_id=order.order_id, account=order.account,
                      symbol=order.symbol, side=order.side, quantity=qty, price_paise=price, at=local)
        order.filled += qty
        order.filled_value += qty * price
        total = self.schedule.compute(product=order.product, side=order.side, value_paise=order.filled_value,
                                      on=day, tier=order.tier)
        inc, order.charges = sub(total, order.charges), total
        value = qty * price
        acct = self.accounts[order.account]
        cash = cash_key(order.account)
        # One balanced entry: the user's cash moves once (trade value and all charges), the exchange side and
        # each charge account get their own leg (zero legs are not stored).
        signed = -value if order.side is Side.BUY else value
        self.changes.postings += self.ledger.post("trade", trade.trade_id, local, [
            (cash, signed - inc.total), (CLEARING, -signed), ("charges:brokerage", inc.brokerage),
            ("charges:stt", inc.stt), ("charges:exchange", inc.exchange), ("charges:sebi", inc.sebi),
            ("charges:stamp", inc.stamp), ("charges:gst", inc.gst)])
        acct.charges_paid += inc.total
        if order.product is Product.CNC:
            h = self.holding(order.account, order.symbol)
            if order.side is Side.BUY:
                h.buy(qty, price, self.calendar.settlement_date(day), today=day)
            else:
                acct.realized += h.sell(qty, price, today=day)
                h.reserved -= qty
                order.reserved -= qty
            self.changes.holdings[(h.account, h.symbol)] = h
        else:
            pos = self.position(order.account, day, order.symbol)
            before = pos.realized()
            if order.side is Side.BUY:
                pos.buy_qty += qty
                pos.buy_value += value
            else:
                pos.sell_qty += qty
                pos.sell_value += value
            acct.realized += pos.realized() - before
            self.changes.positions[(pos.account, pos.day, pos.symbol)] = pos
        old_block = order.blocked
        if order.pending == 0:
            order.blocked = 0
        elif order.side is Side.BUY:
            order.blocked, _ = self._block_needed(order, side=order.side, product=order.product,
                                                  pending=order.pending, price=order.limit or price,
                                                  filled_value=order.filled_value, charged=order.charges,
                                                  tier=order.tier, day=day)
        else:
            order.blocked = min(order.blocked, self._margin(order.pending * (order.limit or price)))
        acct.blocked += order.blocked - old_block
        self._account_changed(acct)
        self.changes.trades.append(trade_row(trade, seq=self.trade_seq, product=order.product, trade_day=day,
                                             charges=inc))
        complete = order.pending == 0
        if complete:
            order.stage = STAGE_DONE
        self._touch(order, Event.FILL_COMPLETE if complete else Event.FILL, local,
                    {"trade_id": trade.trade_id, "quantity": qty, "price": price})
        self._tell_fill(order, trade)
        return trade

    def finish(self, order: Order, event: Event, now: datetime) -> None:
        """End a working order without (further) fills: release its cash block and held shares."""
        if order.stage == STAGE_BOOK:
            self.book(order.symbol).cancel(order.order_id)
        elif order.stage == STAGE_TRIGGER:
            self.triggers.get(order.symbol, set()).discard(order.order_id)
        acct = self.accounts[order.account]
        acct.blocked -= order.blocked
        order.blocked = 0
        self._account_changed(acct)
        if order.reserved:
            h = self.holding(order.account, order.symbol)
            h.reserved -= order.reserved
            order.reserved = 0
            self.changes.holdings[(h.account, h.symbol)] = h
        order.stage = STAGE_DONE
        self._touch(order, event, now)

    def _working(self, account: str, order_id: str) -> tuple[Order | None, OrderResult | None]:
        order = self.orders.get(order_id)
        if order is None or order.account != account:
            return None, OrderResult(accepted=False, rejection=reject("order_not_found", order_id=order_id))
        if order.stage == STAGE_DONE:
            return None, OrderResult(accepted=False, order=order.view(),
                                     rejection=reject("order_not_open", order_id=order_id,
                                                      status=order.status.value))
        return order, None

    def cancel(self, account: str, order_id: str, now: datetime) -> OrderResult:
        order, refused = self._working(account, order_id)
        if order is None:
            assert refused is not None
            return refused
        self.finish(order, Event.CANCEL, now)
        return self._result(order, accepted=True)

    def modify(self, account: str, order_id: str, now: datetime, *, quantity: int | None,
               price_paise: int | None, trigger_paise: int | None) -> OrderResult:
        order, refused = self._working(account, order_id)
        if order is None:
            assert refused is not None
            return refused
        new_qty = order.quantity if quantity is None else quantity
        if isinstance(new_qty, int) and 0 < new_qty <= order.filled:
            return OrderResult(accepted=False, order=order.view(),
                               rejection=reject("modify_quantity_below_filled", quantity=new_qty,
                                                filled=order.filled))
        req = OrderRequest(account=account, client_order_id=order.client_order_id, symbol=order.symbol,
                           side=order.side, quantity=new_qty - order.filled if isinstance(new_qty, int)
                           else new_qty, order_type=order.order_type, product=order.product,
                           validity=order.validity, tier=order.tier,
                           price_paise=order.price if price_paise is None else price_paise,
                           trigger_paise=order.trigger if trigger_paise is None else trigger_paise)
        rejection, plan = self.validate(req, now, ignore=order)
        if rejection is not None or plan is None:
            return OrderResult(accepted=False, order=order.view(), rejection=rejection)
        acct = self.accounts[account]
        was_in_book = order.stage == STAGE_BOOK
        if was_in_book:
            self.book(order.symbol).cancel(order.order_id)
        acct.blocked += plan.block - order.blocked
        order.blocked = plan.block
        if order.side is Side.SELL and order.product is Product.CNC:
            h = self.holding(account, order.symbol)
            h.reserved += req.quantity - order.reserved
            order.reserved = req.quantity
            self.changes.holdings[(h.account, h.symbol)] = h
        order.quantity = new_qty
        order.price, order.trigger = req.price_paise if order.order_type in (OrderType.LIMIT, OrderType.SL) \
            else None, req.trigger_paise if order.order_type in (OrderType.SL, OrderType.SL_M) else None
        if order.order_type is OrderType.MARKET and plan.protection is not None and not order.is_amo:
            order.protection = plan.protection
        self._account_changed(acct)
        self._touch(order, Event.MODIFY, now, {"quantity": new_qty, "price": order.price,
                                               "trigger": order.trigger})
        trades: list[Trade] = []
        if was_in_book:
            trades = self.execute(order, now)
        return self._result(order, accepted=True, trades=trades)

    # -- restore from the database ------------------------------------------------------------------
    def restore_order(self, order: Order) -> None:
        """Put a working order read back from the database where it belongs (book in seq order)."""
        self.orders[order.order_id] = order
        if order.stage == STAGE_BOOK:
            self.book(order.symbol).add(order.order_id, BUY if order.side is Side.BUY else SELL,
                                        order.limit or 0, order.pending)
        elif order.stage == STAGE_TRIGGER:
            self.triggers.setdefault(order.symbol, set()).add(order.order_id)

    def working(self, stage: str) -> list[Order]:
        return sorted((o for o in self.orders.values() if o.stage == stage), key=lambda o: o.seq)


__all__ = ["EngineCore", "Changes", "STAGE_AMO", "STAGE_PREOPEN"]
