"""The engine's working order record (mutable inside the core) and its conversions to the public view and to
database rows. Stages say where a working order sits: queued AMO, pre-open auction, resting in the book,
waiting for its trigger, or done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from engine.api import (Charges, OrderStatus, OrderType, OrderView, Product, Rejection, Side, Tier, Trade,
                        Validity)

STAGE_AMO = "amo"
STAGE_PREOPEN = "preopen"
STAGE_BOOK = "book"
STAGE_TRIGGER = "trigger"
STAGE_DONE = "done"
#: The tag of the order the engine places itself to close an MIS position at the cut-off.
SQUARE_OFF_TAG = "square-off"


@dataclass(slots=True)
class Order:
    order_id: str
    seq: int
    client_order_id: str
    account: str
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    product: Product
    validity: Validity
    tier: Tier
    price: int | None
    trigger: int | None
    placed_at: datetime
    updated_at: datetime
    status: OrderStatus = OrderStatus.OPEN
    stage: str = STAGE_DONE
    filled: int = 0
    filled_value: int = 0
    protection: int | None = None
    is_amo: bool = False
    release_at: datetime | None = None
    blocked: int = 0
    reserved: int = 0
    charges: Charges = field(default_factory=Charges)
    rejection: Rejection | None = None
    source_message_id: str | None = None
    tag: str | None = None

    @property
    def pending(self) -> int:
        return self.quantity - self.filled

    @property
    def limit(self) -> int | None:
        """The worst price this order accepts now (its limit, or the market-protection price)."""
        return self.price if self.order_type in (OrderType.LIMIT, OrderType.SL) else self.protection

    @property
    def average(self) -> int | None:
        return (self.filled_value + self.filled // 2) // self.filled if self.filled else None

    def view(self) -> OrderView:
        return OrderView(order_id=self.order_id, client_order_id=self.client_order_id, account=self.account,
                         symbol=self.symbol, side=self.side, quantity=self.quantity, filled_quantity=self.filled,
                         order_type=self.order_type, product=self.product, validity=self.validity,
                         status=self.status, price_paise=self.price, trigger_paise=self.trigger,
                         average_price_paise=self.average, placed_at=self.placed_at, updated_at=self.updated_at,
                         protection_price_paise=self.protection, rejection=self.rejection, is_amo=self.is_amo,
                         release_at=self.release_at, charges=self.charges,
                         source_message_id=self.source_message_id)

    def row(self) -> dict[str, Any]:
        """The database row (enum values read through ``_value_``: the ``.value`` property is slow)."""
        c = self.charges
        return {
            "order_id": self.order_id, "seq": self.seq, "client_order_id": self.client_order_id,
            "account": self.account, "symbol": self.symbol, "side": self.side._value_, "quantity": self.quantity,
            "order_type": self.order_type._value_, "product": self.product._value_,
            "validity": self.validity._value_, "tier": self.tier._value_, "price": self.price,
            "trigger_price": self.trigger, "placed_at": self.placed_at, "updated_at": self.updated_at,
            "status": self.status._value_,
            "stage": self.stage, "filled": self.filled, "filled_value": self.filled_value,
            "protection": self.protection, "is_amo": self.is_amo, "release_at": self.release_at,
            "blocked": self.blocked, "reserved": self.reserved,
            "ch_brokerage": c.brokerage, "ch_stt": c.stt, "ch_exchange": c.exchange, "ch_sebi": c.sebi,
            "ch_stamp": c.stamp, "ch_gst": c.gst,
            "reject_code": self.rejection.code if self.rejection else None,
            "reject_params": json.dumps(dict(self.rejection.params), ensure_ascii=False) if self.rejection
            else None,
            "source_message_id": self.source_message_id, "tag": self.tag,
        }

    @classmethod
    def from_row(cls, r: Mapping[str, Any]) -> "Order":
        rejection = None
        if r["reject_code"]:
            rejection = Rejection(r["reject_code"], json.loads(r["reject_params"] or "{}"))
        return cls(order_id=r["order_id"], seq=r["seq"], client_order_id=r["client_order_id"],
                   account=r["account"], symbol=r["symbol"], side=Side(r["side"]), quantity=r["quantity"],
                   order_type=OrderType(r["order_type"]), product=Product(r["product"]),
                   validity=Validity(r["validity"]), tier=Tier(r["tier"]), price=r["price"],
                   trigger=r["trigger_price"], placed_at=_aware(r["placed_at"]),
                   updated_at=_aware(r["updated_at"]), status=OrderStatus(r["status"]), stage=r["stage"],
                   filled=r["filled"], filled_value=r["filled_value"], protection=r["protection"],
                   is_amo=bool(r["is_amo"]), release_at=_aware(r["release_at"]) if r["release_at"] else None,
                   blocked=r["blocked"], reserved=r["reserved"],
                   charges=Charges(r["ch_brokerage"], r["ch_stt"], r["ch_exchange"], r["ch_sebi"],
                                   r["ch_stamp"], r["ch_gst"]),
                   rejection=rejection, source_message_id=r["source_message_id"], tag=r["tag"])


def _aware(dt: datetime) -> datetime:
    from engine.clock import IST

    if dt.tzinfo is None:   # SQLite returns naive datetimes: we always store UTC
        from datetime import timezone

        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(IST)


def trade_row(t: Trade, *, seq: int, product: Product, trade_day: Any, charges: Charges) -> dict[str, Any]:
    return {"trade_id": t.trade_id, "seq": seq, "order_id": t.order_id, "account": t.account,
            "symbol": t.symbol, "side": t.side._value_, "quantity": t.quantity, "price": t.price_paise,
            "at": t.at, "product": product._value_, "trade_day": trade_day,
            "ch_brokerage": charges.brokerage, "ch_stt": charges.stt, "ch_exchange": charges.exchange,
            "ch_sebi": charges.sebi, "ch_stamp": charges.stamp, "ch_gst": charges.gst}


def trade_from_row(r: Mapping[str, Any]) -> Trade:
    return Trade(trade_id=r["trade_id"], order_id=r["order_id"], account=r["account"], symbol=r["symbol"],
                 side=Side(r["side"]), quantity=r["quantity"], price_paise=r["price"], at=_aware(r["at"]))
