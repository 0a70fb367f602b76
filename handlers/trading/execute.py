"""What an order reads like to its owner: the outcome of a just-placed or changed order (filled, partly
filled, resting, waiting for its trigger, after-market), the one-line description used by the order lists and
the change card, and the word for each status.

The texts are chosen from the engine's events by ``handlers.notifications`` (the one consumer that tells
the user); PRO receipts are issued by ``handlers.receipts`` from the same events.
"""

from __future__ import annotations

from datetime import datetime

from engine.api import OrderStatus, OrderView, Side
from locales.catalog import Translator
from locales.format import ist_datetime, ist_time, quantity, rupees

#: Orders that can still be changed or cancelled.
OPEN_STATUSES = (OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING)


def side_word(t: Translator, side: Side) -> str:
    return t("trading.side.buy" if side == Side.BUY else "trading.side.sell")


def status_word(t: Translator, order: OrderView) -> str:
    """The status in the user's language (``orders.status.<status>``: the engine says EXPIRED itself)."""
    return t(f"orders.status.{order.status.name.lower()}")


def order_line(t: Translator, order: OrderView) -> str:
    price = order.average_price_paise or order.price_paise or order.trigger_paise
    shown = rupees(price) if price else t("orders.market")
    return t("orders.line", side=side_word(t, order.side), qty=quantity(order.quantity), symbol=order.symbol,
             price=shown, status=status_word(t, order), filled=quantity(order.filled_quantity),
             time=ist_time(order.placed_at), order_id=order.order_id)


def order_text(t: Translator, order: OrderView, *, now: datetime | None = None) -> str:
    """``now`` (when known): an after-market order already sent to the exchange reads as a resting one."""
    side = side_word(t, order.side)
    if order.status == OrderStatus.COMPLETE or order.filled_quantity:
        key = "trading.result.filled" if order.status == OrderStatus.COMPLETE else "trading.result.partial"
        avg = order.average_price_paise or 0
        return t(key, side=side, qty=quantity(order.filled_quantity), total=quantity(order.quantity),
                 symbol=order.symbol, price=rupees(avg), value=rupees(avg * order.filled_quantity),
                 charges=rupees(order.charges.total), order_id=order.order_id)
    if order.is_amo and (now is None or order.release_at is None or order.release_at > now):
        when = ist_datetime(order.release_at) if order.release_at else t("trading.card.next_open")
        return t("trading.result.amo", side=side, qty=quantity(order.quantity), symbol=order.symbol, when=when,
                 order_id=order.order_id)
    if order.status == OrderStatus.TRIGGER_PENDING:
        return t("trading.result.trigger_pending", side=side, qty=quantity(order.quantity), symbol=order.symbol,
                 trigger=rupees(order.trigger_paise or 0), order_id=order.order_id)
    if order.status == OrderStatus.CANCELLED:
        return t("trading.result.cancelled", side=side, qty=quantity(order.quantity), symbol=order.symbol,
                 order_id=order.order_id)
    price = order.price_paise or order.protection_price_paise or 0
    return t("trading.result.open", side=side, qty=quantity(order.quantity), symbol=order.symbol,
             price=rupees(price), order_id=order.order_id)
