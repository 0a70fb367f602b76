"""Values the receipt service returns, and the pure helpers that decide what a fill commits to.

Kept apart from ``service`` so the conversation layer can import the result types without the
database and process-pool machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.api import OrderView, Side, Trade
from engine.zk import receipt as rc
from engine.zk.curve import Q
from engine.zk.statements import FILL_N

MAX_VALUE = (1 << FILL_N) - 1


@dataclass(frozen=True, slots=True)
class OrderLeaf:
    order_id: str
    leaf_index: int
    leaf_hash: str
    created: bool


@dataclass(frozen=True, slots=True)
class IssuedReceipt:
    receipt_id: str
    document: dict[str, Any]
    opening: dict[str, Any] = field(repr=False)
    filename: str
    ok: bool = True


@dataclass(frozen=True, slots=True)
class ProofRefused:
    """A business outcome, not an error: the statement is false or out of range (code for locales)."""

    code: str
    ok: bool = False


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    log_id: str
    size: int
    root: str
    timestamp_us: int
    signed_b64: str

    def to_dict(self) -> dict[str, Any]:
        return {"log_id": self.log_id, "size": self.size, "root": self.root, "timestamp_us": self.timestamp_us,
                "signed_b64": self.signed_b64}


def _fill_statement_true(order: OrderView, limit: int, quantity: int, prior: int, trade: Trade) -> bool:
    """The integer statement the proof will claim; an engine that breaks it gets no receipt, not a bad one."""
    price_ok = trade.price_paise <= limit if order.side == Side.BUY else trade.price_paise >= limit
    return price_ok and 1 <= trade.quantity <= quantity - prior


def _order_limit(order: OrderView) -> int:
    """The committed limit: the order price, or the market-protection price; without either the bound is
    vacuous (2^32−1 for a buy, 0 for a sell) and the receipt proves only quantity and inclusion."""
    price = order.price_paise if order.price_paise is not None else order.protection_price_paise
    if price is None:
        return MAX_VALUE if order.side == Side.BUY else 0
    return max(0, min(int(price), MAX_VALUE))


def _fill_opening_dict(receipt_id: str, order, o: rc.FillOpening) -> dict[str, Any]:
    return {
        "receipt_id": receipt_id, "order_id": order.order_id, "side": Side(order.side).value,
        "symbol": order.symbol,
        "limit_paise": o.limit, "limit_blinder": format(o.r_limit % Q, "064x"),
        "quantity": o.quantity, "quantity_blinder": format(o.r_quantity % Q, "064x"),
        "prior_filled_quantity": o.prior, "prior_blinder": format(o.r_prior % Q, "064x"),
        "fill_price_paise": o.fill_price, "fill_price_blinder": format(o.r_fill_price % Q, "064x"),
        "fill_quantity": o.fill_quantity, "fill_quantity_blinder": format(o.r_fill_quantity % Q, "064x"),
    }
