"""What a user hears about their orders: the one consumer of the engine's event stream that tells people.

Events reach it two ways, and each event only one of them: a command's own (``OrderResult.events``: the order
the user just confirmed, accepted and perhaps filled at once) is answered in that turn by
:func:`command_text`; the clock's (``advance()``: resting fills, stops triggered, after-market orders sent,
expiries, square-offs, and what other users' orders did to resting ones) is pushed by :func:`on_tick` — free
text inside WhatsApp's 24-hour window, the approved ``gw_order_<name>`` utility template outside it. PRO
receipts for the same events come from ``handlers.receipts``, so a fill is told once and receipted once.
Only the owning account's user is ever told.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog

from engine.api import EngineEvent, EventKind, OrderResult, Tier
from handlers import receipts          # a module: the trading package imports this one while it loads
from handlers.context import Services
from handlers.replies import Reply
from handlers.service_window import push_reply
from handlers.trading.common import rejection_text
from handlers.trading.execute import order_text, side_word
from handlers.users import User
from locales.catalog import Translator
from locales.format import ist_datetime, quantity, rupees

log = structlog.get_logger("gridworks.notifications")

#: The events pushed to their owner, and the name of each one's text (``trading.event.<name>``) and template
#: (``gw_order_<name>``: the names Meta approved, hence ``fill`` for FILLED). Accepted, rejected and modified
#: orders are the user's own commands, answered in their turn.
PUSHED: dict[EventKind, str] = {
    EventKind.FILLED: "fill",
    EventKind.PARTIALLY_FILLED: "partially_filled",
    EventKind.TRIGGERED: "triggered",
    EventKind.RELEASED: "released",
    EventKind.EXPIRED: "expired",
    EventKind.SQUARED_OFF: "squared_off",
    EventKind.CANCELLED: "cancelled",
}
#: Parameters of the ``gw_order_<name>`` utility templates, in Meta's positional order (``{{1}}``, …);
#: ``bot/whatsapp/templates.py`` registers the templates from these.
TEMPLATE_PARAMS: dict[str, tuple[str, ...]] = {
    "fill": ("side", "filled", "symbol", "price", "order_id"),
    "partially_filled": ("side", "filled", "qty", "symbol", "price", "order_id"),
    "triggered": ("side", "qty", "symbol", "trigger", "order_id"),
    "released": ("side", "qty", "symbol", "order_id"),
    "expired": ("side", "qty", "symbol", "order_id"),
    "squared_off": ("side", "qty", "symbol", "price", "order_id"),
    "cancelled": ("side", "qty", "symbol", "order_id"),
}


def command_text(t: Translator, result: OrderResult) -> str:
    """The answer to the user's own new order, in one message: where its events left the order (accepted and
    filled at once reads "Done", accepted alone "placed", a rejection its reason). A duplicate carries no
    events: the order as it stands is the answer."""
    last = result.events[-1] if result.events else None
    order = last.order if last is not None else result.order
    if not result.accepted or order is None or (last is not None and last.kind is EventKind.REJECTED):
        reason = rejection_text(t, result.rejection or (order.rejection if order else None))
        return t("trading.result.rejected", reason=reason)
    return order_text(t, order)


def event_values(t: Translator, event: EngineEvent) -> dict[str, str]:
    """The values a pushed event's text and template use (the event's own trades for its price)."""
    order = event.order
    filled = sum(tr.quantity for tr in event.trades) or order.filled_quantity
    value = sum(tr.quantity * tr.price_paise for tr in event.trades)
    avg = value // filled if event.trades and filled else (order.average_price_paise or 0)
    return dict(side=side_word(t, order.side), qty=quantity(order.quantity), filled=quantity(filled),
                symbol=order.symbol, price=rupees(avg), trigger=rupees(order.trigger_paise or 0),
                when=ist_datetime(order.updated_at), order_id=order.order_id)


def event_reply(user: User, now: datetime, t: Translator, lang: str, event: EngineEvent) -> Reply:
    name = PUSHED[event.kind]
    values = event_values(t, event)
    return push_reply(user, now, text=t(f"trading.event.{name}", **values), template=f"gw_order_{name}",
                      lang=lang, params=tuple(values[p] for p in TEMPLATE_PARAMS[name]))


async def on_tick(services: Services, now: datetime, events: Sequence[Any]) -> list[tuple[User, Sequence[Reply]]]:
    """Replies to push for the clock's events, grouped per user in event order; a PRO user's fill is followed
    by its receipts."""
    grouped: dict[str, tuple[User, list[Reply]]] = {}
    for event in events:
        if not isinstance(event, EngineEvent) or event.kind not in PUSHED:
            continue
        user = await services.users.get(event.order.account)
        if user is None:
            log.warning("event_without_user", order_id=event.order.order_id, kind=event.kind.value)
            continue
        lang = user.language or "en"
        replies = grouped.setdefault(user.key, (user, []))[1]
        replies.append(event_reply(user, now, services.catalog.translator(lang), lang, event))
        if user.tier == Tier.PRO:
            replies.extend(await receipts.issue_receipts(services, user, lang, [event], now=now))
    return list(grouped.values())
