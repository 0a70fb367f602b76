"""Changing or cancelling an open order follows a new order's rules: PIN once a day, a card, two minutes.

What the user asked for ("new price ₹1,410.50", "cancel it") is kept server-side as an :class:`OrderChange`:
in the session while the PIN is asked (``change``), then inside the card's pending action. Only that card's
Confirm executes it (``handlers/trading/confirm.py``); no button payload carries an order id or a value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any
from collections.abc import Mapping

from engine.api import OrderStatus, OrderView, Tier
from handlers import receipts          # a module: it imports the trading package's texts
from handlers.context import TurnContext
from handlers.conversation import interrupt
from handlers.replies import Reply, Text
from handlers.trading.card import PENDING_KEY, card, new_pending
from handlers.trading.common import rejection_text
from handlers.trading.states import CHANGE_KEY, CONFIRMATION, DRAFT_KEY, MODIFY_KEY, TRADING

__all__ = ["CHANGE_KEY", "MODIFY_KEY", "OrderChange", "change_of", "execute_change", "show_change_card"]
from handlers.trading.execute import OPEN_STATUSES, order_line, order_text, side_word
from locales.catalog import Translator
from locales.format import quantity, rupees

MODIFY, CANCEL = "modify", "cancel"


@dataclass(frozen=True, slots=True)
class OrderChange:
    """A change to one of the user's open orders: new absolute values (so doing it twice is doing it once)."""

    order_id: str
    kind: str                        # MODIFY | CANCEL
    quantity: int | None = None
    price_paise: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Any) -> OrderChange | None:
        if not isinstance(raw, Mapping) or raw.get("kind") not in (MODIFY, CANCEL) or not raw.get("order_id"):
            return None
        return cls(order_id=str(raw["order_id"]), kind=str(raw["kind"]), quantity=_int(raw.get("quantity")),
                   price_paise=_int(raw.get("price_paise")))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def change_text(t: Translator, change: OrderChange) -> str:
    if change.price_paise is not None:
        return t("orders.new_price", price=rupees(change.price_paise))
    return t("orders.new_qty", qty=quantity(change.quantity or 0))


def change_of(ctx: TurnContext) -> OrderChange | None:
    return OrderChange.from_json(ctx.session.data.get(CHANGE_KEY))


async def show_change_card(ctx: TurnContext, change: OrderChange) -> list[Reply]:
    """The card for a change: what the order is, what it becomes, and buttons bound to this change."""
    t, engine = ctx.t, ctx.services.engine
    order = await engine.get_order(ctx.user.account, change.order_id)
    if order is None or order.status not in OPEN_STATUSES:
        interrupt(ctx.session)
        return [Text(t("orders.not_open"))]
    ttl = ctx.services.product.trading.confirmation.ttl_seconds
    pending = new_pending(ctx.session, ctx.now, ttl, change=change.to_json())
    for key in (CHANGE_KEY, MODIFY_KEY, DRAFT_KEY):
        ctx.session.data.pop(key, None)
    until = ctx.now + timedelta(minutes=ctx.services.product.trading.confirmation.dialogue_minutes)
    TRADING.enter(ctx.session, CONFIRMATION, now=ctx.now, until=until, **{PENDING_KEY: pending})
    if change.kind == CANCEL:
        yes = t("orders.button.yes_cancel")
        body = t("orders.cancel_confirm", line=order_line(t, order))
    else:
        yes = t("orders.button.yes_modify")
        quote = None if change.price_paise or order.price_paise else await engine.quote(order.symbol)
        price = change.price_paise or order.price_paise or (quote.ltp_paise if quote else 0)
        value = price * (change.quantity or order.quantity)
        body = (t("orders.modify_confirm", line=order_line(t, order), change=change_text(t, change)) + "\n"
                + t("orders.change_value", value=rupees(value)))
    body += "\n\n" + t("orders.change_footer", button=yes, minutes=max(1, round(ttl / 60)))
    return [card(ctx, pending, body, confirm_title=yes, cancel_title=t("orders.button.keep"))]


def _applied(order: OrderView, change: OrderChange) -> bool:
    if change.kind == CANCEL:
        return order.status == OrderStatus.CANCELLED
    return (change.quantity is None or order.quantity == change.quantity) and \
        (change.price_paise is None or order.price_paise == change.price_paise)


def _done(ctx: TurnContext, order: OrderView, change: OrderChange) -> Text:
    if change.kind == CANCEL:
        return Text(ctx.t("orders.cancelled", symbol=order.symbol, order_id=order.order_id))
    if order.filled_quantity or order.status not in OPEN_STATUSES or (order.is_amo and order.release_at
                                                                       and order.release_at > ctx.now):
        return Text(ctx.t("orders.modified", result=order_text(ctx.t, order, now=ctx.now)))
    # Still working: say what the order is now, not "Order placed" as if it were a new one.
    side = side_word(ctx.t, order.side)
    if order.status == OrderStatus.TRIGGER_PENDING:
        return Text(ctx.t("orders.modified_trigger", order_id=order.order_id, side=side,
                          qty=quantity(order.quantity), symbol=order.symbol, trigger=rupees(order.trigger_paise or 0)))
    return Text(ctx.t("orders.modified_open", order_id=order.order_id, side=side, qty=quantity(order.quantity),
                      symbol=order.symbol, price=rupees(order.price_paise or order.protection_price_paise or 0)))


async def execute_change(ctx: TurnContext, change: OrderChange) -> list[Reply]:
    """Carry out a confirmed change (the card was already consumed)."""
    t, engine, account = ctx.t, ctx.services.engine, ctx.user.account
    order = await engine.get_order(account, change.order_id)
    if order is not None and ctx.retry and _applied(order, change):
        return [_done(ctx, order, change)]     # our own retry after a crash: the first attempt got through
    if order is None or order.status not in OPEN_STATUSES:
        return [Text(t("orders.not_open"))]
    if change.kind == CANCEL:
        result = await engine.cancel(account, order.order_id)
    else:
        result = await engine.modify(account, order.order_id, quantity=change.quantity,
                                     price_paise=change.price_paise)
    if result.order is not None:
        ctx.record_order(result.order)
    if ctx.tier is Tier.PRO:       # a new price can fill a resting order at once: its receipts, from its events
        await receipts.command_receipts(ctx, result)
    if not result.accepted or result.order is None:
        key = "orders.cancel_failed" if change.kind == CANCEL else "orders.modify_failed"
        return [Text(t(key, reason=rejection_text(t, result.rejection)))]
    return [_done(ctx, result.order, change)]
