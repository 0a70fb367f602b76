"""Validation of new and modified orders, and the estimate shown on the confirmation card.

Checks before acceptance: known tradable symbol; positive whole quantity within the broker cap; price and trigger
on the day's tick and inside the circuit band; SL price on the right side of its trigger; trigger not already
crossed; no new MIS after the cut-off; order value within the cap; cash for buys including estimated charges
(held while the order works); free holdings for CNC sells (no short selling). A mixin of the engine core: it
reads the core's state and never changes it.
"""

from __future__ import annotations

from datetime import date, datetime
from fractions import Fraction
from typing import Any, NamedTuple

from engine.api import (Charges, Estimate, Funds, OrderRequest, OrderType, Product, Rejection, Side, Tier,
                        Validity)
from engine.calendar import Phase
from engine.clock import IST
from engine.orders import STAGE_AMO, STAGE_BOOK, STAGE_PREOPEN, STAGE_TRIGGER, Order
from engine.rejections import reject


class _Plan(NamedTuple):
    """A validated order: where it goes and what it holds (a named tuple: immutable and cheap to build)."""

    stage: str
    is_amo: bool
    release_at: datetime | None
    protection: int | None
    block: int
    charges: Charges
    value: int
    block_price: int
    lower: int
    upper: int


_NO_CHARGES = Charges()


def _floor_tick(x: Fraction | int, tick: int) -> int:
    return int(x // tick) * tick


def _ceil_tick(x: Fraction | int, tick: int) -> int:
    return -int(-x // tick) * tick


class ValidationMixin:
    """Order checks and estimates, mixed into :class:`engine.core.EngineCore`."""

    _where_memo: tuple | None = None

    def _margin(self, value: int) -> int:
        pct = self.params.mis_margin_pct
        return value * pct.numerator // (pct.denominator * 100)

    def _protection(self, side: Side, ref: int, tick: int, lower: int, upper: int) -> int:
        p = self.params.protection_pct / 100
        if side is Side.BUY:
            return max(lower, min(upper, _floor_tick(Fraction(ref) * (1 + p), tick)))
        return min(upper, max(lower, _ceil_tick(Fraction(ref) * (1 - p), tick)))

    def _where(self, req: OrderRequest, now: datetime) -> tuple[str, bool, datetime | None, date]:
        """(stage, is_amo, release_at, session day) for an order placed at ``now``."""
        memo = self._where_memo
        if memo is not None and memo[0] is now:
            _, local, session, phase = memo
        else:
            local = now.astimezone(IST)
            session = self.calendar.session(local.date())
            phase = session.phase(local) if session else Phase.CLOSED
            self._where_memo = (now, local, session, phase)   # a batch shares one instant
        auction_type = req.order_type in (OrderType.MARKET, OrderType.LIMIT) and req.validity is Validity.DAY
        if phase is Phase.OPEN:
            return (STAGE_TRIGGER if req.order_type in (OrderType.SL, OrderType.SL_M) else STAGE_BOOK,
                    False, None, local.date())
        if phase is Phase.PRE_OPEN and auction_type:
            return STAGE_PREOPEN, False, None, local.date()
        if session is not None and local < session.open and (phase is not Phase.CLOSED or not auction_type):
            return STAGE_AMO, True, session.open, session.day
        nxt = self.calendar.next_session(local)
        return STAGE_AMO, True, (nxt.pre_open_start if auction_type else nxt.open), nxt.day

    def _block_needed(self, order_like: Any, *, side: Side, product: Product, pending: int, price: int,
                      filled_value: int, charged: Charges, tier: Tier, day: date) -> tuple[int, Charges]:
        """Cash to hold for the unfilled part: its value (at the worst price) plus the charges still to come."""
        if pending <= 0:
            return 0, Charges()
        remaining_value = pending * price
        total = self.schedule.compute(product=product, side=side, value_paise=filled_value + remaining_value,
                                      on=day, tier=tier)
        if side is Side.SELL and product is Product.CNC:
            return 0, total
        extra = total.total - charged.total
        base = remaining_value if product is Product.CNC else self._margin(remaining_value)
        return base + max(0, extra), total

    def validate(self, req: OrderRequest, now: datetime, *, ignore: Order | None = None
                 ) -> tuple[Rejection | None, _Plan | None]:
        inst = self.instruments.get(req.symbol)
        if inst is None:
            return reject("unknown_symbol", symbol=req.symbol), None
        if inst.is_index:
            return reject("index_not_tradable", symbol=inst.symbol), None
        if not isinstance(req.quantity, int) or isinstance(req.quantity, bool) or req.quantity <= 0:
            return reject("quantity_invalid", quantity=str(req.quantity)), None
        if req.quantity > self.params.max_quantity:
            return reject("quantity_cap", quantity=req.quantity, max_quantity=self.params.max_quantity), None
        if req.order_type in (OrderType.LIMIT, OrderType.SL) and req.price_paise is None:
            return reject("price_required", order_type=req.order_type.value), None
        if req.order_type in (OrderType.SL, OrderType.SL_M) and req.trigger_paise is None:
            return reject("trigger_required", order_type=req.order_type.value), None
        stage, is_amo, release_at, day = self._where(req, now)
        symbol = inst.symbol
        tick = self.market.tick(symbol, day)
        lower, upper = self.market.circuits(symbol, day)
        ltp = self.market.ltp(symbol, now)
        price = req.price_paise if req.order_type in (OrderType.LIMIT, OrderType.SL) else None
        for value in (price, req.trigger_paise if req.order_type in (OrderType.SL, OrderType.SL_M) else None):
            if value is None:
                continue
            if value <= 0:
                return reject("price_invalid", price=value), None
            if value % tick:
                return reject("tick", price=value, tick=tick), None
            if not lower <= value <= upper:
                return reject("band", price=value, lower=lower, upper=upper), None
        trigger = req.trigger_paise
        if req.order_type is OrderType.SL:
            assert price is not None and trigger is not None
            if (req.side is Side.BUY and price < trigger) or (req.side is Side.SELL and price > trigger):
                return reject("sl_price_trigger", price=price, trigger=trigger), None
        if trigger is not None and req.order_type in (OrderType.SL, OrderType.SL_M):
            if (req.side is Side.BUY and trigger <= ltp) or (req.side is Side.SELL and trigger >= ltp):
                return reject("trigger_crossed", trigger=trigger, ltp=ltp), None
        if req.product is Product.MIS and not is_amo:
            session = self.calendar.session(day)
            cutoff = self.mis_cutoff(session) if session is not None else now
            if now >= cutoff:
                return reject("mis_cutoff", cutoff=cutoff.isoformat()), None
        protection = None
        if req.order_type is OrderType.MARKET:
            protection = self._protection(req.side, ltp, tick, lower, upper)
            block_price = protection
        elif req.order_type is OrderType.SL_M:
            assert trigger is not None
            block_price = self._protection(req.side, trigger, tick, lower, upper)
        else:
            assert price is not None
            block_price = price
        value = req.quantity * block_price
        if value > self.params.max_value:
            return reject("value_cap", value=value, max_value=self.params.max_value), None
        block, charges = self._block_needed(None, side=req.side, product=req.product, pending=req.quantity,
                                            price=block_price, filled_value=0, charged=_NO_CHARGES, tier=req.tier,
                                            day=day)
        acct = self.accounts.get(req.account)
        if req.side is Side.SELL and req.product is Product.CNC:
            h = self.holdings.get((req.account, symbol))
            free = (h.free if h else 0) + (ignore.reserved if ignore else 0)
            if free < req.quantity:
                return reject("insufficient_holdings", symbol=symbol, quantity=req.quantity, available=free), None
        elif req.side is Side.SELL:   # MIS sell: margin only for the part that opens a short
            pos = self.positions.get((req.account, day, symbol))
            long_qty = max(0, pos.net) if pos else 0
            short_qty = max(0, req.quantity - long_qty)
            block = self._margin(short_qty * block_price)
        if block:
            available = (self.cash(req.account) - acct.blocked - self.mis_exposure(req.account) if acct
                         else self.params.starting_cash) + (ignore.blocked if ignore else 0)
            if block > available:
                return reject("insufficient_funds", required=block, available=max(0, available)), \
                    None
        return None, _Plan(stage, is_amo, release_at, protection, block, charges, value, block_price, lower, upper)

    def estimate(self, req: OrderRequest, now: datetime) -> Estimate:
        rejection, plan = self.validate(req, now)
        funds = self.funds(req.account) if req.account in self.accounts else \
            Funds(cash_paise=self.params.starting_cash, blocked_paise=0)
        price = None if plan is None else (req.price_paise if req.order_type in (OrderType.LIMIT, OrderType.SL)
                                           else plan.block_price)
        circuits = (plan.lower, plan.upper) if plan else (None, None)
        if plan is None and self.instruments.get(req.symbol) and not self.instruments.get(req.symbol).is_index:
            circuits = self.market.circuits(self.instruments.get(req.symbol).symbol, now.astimezone(IST).date())
        return Estimate(ok=rejection is None, rejection=rejection, symbol=req.symbol.upper(), side=req.side,
                        quantity=req.quantity, order_type=req.order_type, price_paise=price,
                        value_paise=plan.value if plan else 0, charges=plan.charges if plan else Charges(),
                        available_cash_paise=funds.available_paise, is_amo=bool(plan and plan.is_amo),
                        release_at=plan.release_at if plan else None, upper_circuit_paise=circuits[1],
                        lower_circuit_paise=circuits[0])
