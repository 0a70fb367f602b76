"""The order engine's public contract: typed commands in, typed results and events out.

Handlers depend only on this module. Business outcomes (a rejection, a duplicate submission) are values,
never exceptions. Money is integer paise everywhere; rejection reasons are codes with parameters that the
caller renders from ``locales/<lang>/engine.toml`` (key ``engine.reject.<code>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Mapping, Protocol, Sequence


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"
    SL_M = "SL-M"


class Product(StrEnum):
    CNC = "CNC"
    MIS = "MIS"


class Validity(StrEnum):
    DAY = "DAY"
    IOC = "IOC"


class OrderStatus(StrEnum):
    OPEN = "OPEN"
    TRIGGER_PENDING = "TRIGGER PENDING"
    COMPLETE = "COMPLETE"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"              # a DAY order the close ended before it filled (fully)
    REJECTED = "REJECTED"


class Tier(StrEnum):
    LITE = "LITE"
    PRO = "PRO"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an order or command was refused: a stable code plus parameters for the localized text."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One instruction to place an order.

    ``client_order_id`` is the idempotency key, derived from the instruction that created the order
    (the WhatsApp message id or the confirmation it came from): re-submitting it returns the same order.
    """

    account: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType = OrderType.MARKET
    product: Product = Product.CNC
    validity: Validity = Validity.DAY
    price_paise: int | None = None
    trigger_paise: int | None = None
    tier: Tier = Tier.LITE
    source_message_id: str | None = None
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class Trade:
    trade_id: str
    order_id: str
    account: str
    symbol: str
    side: Side
    quantity: int
    price_paise: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Charges:
    brokerage: int = 0
    stt: int = 0
    exchange: int = 0
    sebi: int = 0
    stamp: int = 0
    gst: int = 0

    @property
    def total(self) -> int:
        return self.brokerage + self.stt + self.exchange + self.sebi + self.stamp + self.gst


@dataclass(frozen=True, slots=True)
class OrderView:
    order_id: str
    client_order_id: str
    account: str
    symbol: str
    side: Side
    quantity: int
    filled_quantity: int
    order_type: OrderType
    product: Product
    validity: Validity
    status: OrderStatus
    price_paise: int | None
    trigger_paise: int | None
    average_price_paise: int | None
    placed_at: datetime
    updated_at: datetime
    protection_price_paise: int | None = None
    rejection: Rejection | None = None
    is_amo: bool = False
    release_at: datetime | None = None
    charges: Charges = field(default_factory=Charges)
    source_message_id: str | None = None

    @property
    def pending_quantity(self) -> int:
        return self.quantity - self.filled_quantity

    def to_trace(self) -> dict[str, Any]:
        """The simulator trace shape (a public interface: add fields, never rename)."""
        return {
            "id": self.order_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "quantity": self.quantity,
            "price": None if self.price_paise is None else self.price_paise / 100,
            "order_type": self.order_type.value,
            "status": self.status.value,
            "filled_quantity": self.filled_quantity,
            "average_price": None if self.average_price_paise is None else self.average_price_paise / 100,
            "product": self.product.value,
            "is_amo": self.is_amo,
        }


class EventKind(StrEnum):
    """What happened to an order: the one vocabulary of the engine's event stream, for commands and clock alike."""

    ACCEPTED = "accepted"                  # validated and working (or queued as AMO / waiting for its trigger)
    REJECTED = "rejected"                  # a new order refused (``order.rejection`` says why)
    MODIFIED = "modified"
    RELEASED = "released"                  # an after-market order sent to the exchange
    TRIGGERED = "triggered"                # a stop reached its trigger: now a working order
    PARTIALLY_FILLED = "partially_filled"  # trades, quantity left
    FILLED = "filled"                      # trades, nothing left
    CANCELLED = "cancelled"                # by the user, an IOC remainder, or MIS orders at the cut-off
    EXPIRED = "expired"                    # a DAY order at the close
    SQUARED_OFF = "squared_off"            # the MIS position closed at the cut-off (the engine's own order)

    @classmethod
    def _missing_(cls, value: object) -> EventKind | None:
        """Ticks published before the kinds were typed said ``fill``: still readable during an upgrade (a tick
        a worker cannot read would be retried for ever)."""
        return cls.FILLED if value == "fill" else None


#: Kinds that carry trades.
FILL_KINDS = frozenset({EventKind.PARTIALLY_FILLED, EventKind.FILLED, EventKind.SQUARED_OFF})


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """One thing that happened to one order, with the order as it stood right after. Consecutive fills of an
    order within one command or clock step are one event (its ``trades``); each trade is in exactly one event,
    so a consumer that tells fills and issues receipts from events does each once."""

    kind: EventKind
    order: OrderView
    trades: tuple[Trade, ...] = ()

    @property
    def is_fill(self) -> bool:
        return self.kind in FILL_KINDS


@dataclass(frozen=True, slots=True)
class OrderResult:
    """The outcome of place/modify/cancel. ``duplicate`` means the idempotency key was seen before.

    ``events`` are what the command did to its own order, in order (e.g. accepted, then filled): the caller
    tells its user from them. What it did to other orders (a resting order it traded against) is published
    on the clock's stream (:meth:`OrderEngine.advance`) for their owners. A duplicate or a refused command
    carries no events: nothing happened now. ``trades`` lists every trade the command executed, both sides
    (audit and tests; handlers read ``events``)."""

    accepted: bool
    order: OrderView | None = None
    rejection: Rejection | None = None
    trades: tuple[Trade, ...] = ()
    duplicate: bool = False
    events: tuple[EngineEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class Estimate:
    """What the confirmation card shows before the user commits."""

    ok: bool
    rejection: Rejection | None
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    price_paise: int | None          # the limit, or the market-protection price for MARKET
    value_paise: int
    charges: Charges
    available_cash_paise: int
    is_amo: bool = False
    release_at: datetime | None = None
    upper_circuit_paise: int | None = None
    lower_circuit_paise: int | None = None


@dataclass(frozen=True, slots=True)
class Quote:
    symbol: str
    name: str
    ltp_paise: int
    prev_close_paise: int
    open_paise: int
    high_paise: int
    low_paise: int
    bid_paise: int | None
    ask_paise: int | None
    upper_circuit_paise: int | None
    lower_circuit_paise: int | None
    at: datetime
    is_index: bool = False
    market_open: bool = False
    tick_paise: int = 1            # the day's tick (NSE sets it from the last close); orders must sit on it

    @property
    def change_paise(self) -> int:
        return self.ltp_paise - self.prev_close_paise

    @property
    def change_pct(self) -> float:
        return 0.0 if not self.prev_close_paise else 100.0 * self.change_paise / self.prev_close_paise


@dataclass(frozen=True, slots=True)
class Holding:
    symbol: str
    quantity: int            # settled quantity
    t1_quantity: int         # bought, not yet settled (T+1)
    average_price_paise: int
    ltp_paise: int
    prev_close_paise: int

    @property
    def total_quantity(self) -> int:
        return self.quantity + self.t1_quantity

    @property
    def value_paise(self) -> int:
        return self.total_quantity * self.ltp_paise

    @property
    def pnl_paise(self) -> int:
        return self.total_quantity * (self.ltp_paise - self.average_price_paise)

    @property
    def day_pnl_paise(self) -> int:
        return self.total_quantity * (self.ltp_paise - self.prev_close_paise)


@dataclass(frozen=True, slots=True)
class Position:
    """Intraday (MIS) net position for the day."""

    symbol: str
    net_quantity: int
    buy_quantity: int
    sell_quantity: int
    buy_average_paise: int
    sell_average_paise: int
    ltp_paise: int
    realized_pnl_paise: int
    unrealized_pnl_paise: int


@dataclass(frozen=True, slots=True)
class Funds:
    cash_paise: int          # ledger balance
    blocked_paise: int       # held for open buy orders
    realized_pnl_paise: int = 0
    charges_paid_paise: int = 0

    @property
    def available_paise(self) -> int:
        return self.cash_paise - self.blocked_paise


@dataclass(frozen=True, slots=True)
class ContractNoteLine:
    order_id: str
    trade_id: str
    symbol: str
    isin: str
    side: Side
    quantity: int
    price_paise: int
    order_time: datetime
    trade_time: datetime


@dataclass(frozen=True, slots=True)
class ContractNote:
    """Per user per trade day. Always labelled simulated in the embedded default."""

    note_number: str
    account: str
    trade_date: date
    settlement_date: date
    lines: tuple[ContractNoteLine, ...]
    charges: Charges
    net_amount_paise: int        # positive = user pays, negative = user receives
    simulated: bool = True
    broker_name: str = ""
    sebi_registration: str = ""
    exchange: str = "NSE"
    buy_value_paise: int = 0
    sell_value_paise: int = 0

    def to_json(self) -> dict[str, Any]:
        """The machine-readable note (money in integer paise, times ISO-8601)."""
        return {
            "note_number": self.note_number, "account": self.account,
            "trade_date": self.trade_date.isoformat(), "settlement_date": self.settlement_date.isoformat(),
            "simulated": self.simulated, "broker_name": self.broker_name,
            "sebi_registration": self.sebi_registration, "exchange": self.exchange,
            "lines": [{"order_id": ln.order_id, "trade_id": ln.trade_id, "symbol": ln.symbol, "isin": ln.isin,
                       "side": ln.side.value, "quantity": ln.quantity, "price_paise": ln.price_paise,
                       "value_paise": ln.quantity * ln.price_paise, "order_time": ln.order_time.isoformat(),
                       "trade_time": ln.trade_time.isoformat()} for ln in self.lines],
            "charges": {"brokerage": self.charges.brokerage, "stt": self.charges.stt,
                        "exchange": self.charges.exchange, "sebi": self.charges.sebi,
                        "stamp": self.charges.stamp, "gst": self.charges.gst, "total": self.charges.total},
            "buy_value_paise": self.buy_value_paise, "sell_value_paise": self.sell_value_paise,
            "net_amount_paise": self.net_amount_paise,
        }


class EngineUnavailable(Exception):
    """The engine did not answer in time (a cluster's engine is restarting or overloaded). The request was
    sent with a deadline past which the engine never executes it, so the caller can safely say "nothing was
    executed, try again"."""


class OrderEngine(Protocol):
    """What handlers may ask of the engine. Every command commits before it returns."""

    async def open_account(self, account: str, *, starting_cash_paise: int | None = None) -> Funds: ...
    async def estimate(self, request: OrderRequest) -> Estimate: ...
    async def place(self, request: OrderRequest) -> OrderResult: ...
    async def modify(self, account: str, order_id: str, *, quantity: int | None = None,
                     price_paise: int | None = None, trigger_paise: int | None = None) -> OrderResult: ...
    async def cancel(self, account: str, order_id: str) -> OrderResult: ...
    async def get_order(self, account: str, order_id: str) -> OrderView | None: ...
    async def orders(self, account: str, *, open_only: bool = False) -> Sequence[OrderView]: ...
    async def trades(self, account: str, *, day: date | None = None) -> Sequence[Trade]: ...
    async def holdings(self, account: str) -> Sequence[Holding]: ...
    async def positions(self, account: str) -> Sequence[Position]: ...
    async def funds(self, account: str) -> Funds: ...
    async def quote(self, symbol: str) -> Quote | None: ...
    async def contract_note(self, account: str, day: date) -> ContractNote | None: ...
    async def advance(self, now: datetime) -> Sequence[EngineEvent]:
        """Move the market to ``now``; the events of the clock (resting fills, triggers, AMO releases, expiries,
        square-offs) and those commands caused to other users' orders since the last call, in order."""
