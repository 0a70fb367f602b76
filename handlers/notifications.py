"""Messages caused by the passage of time rather than by a user message: what happened to resting orders.

``on_tick`` receives the engine's events (fills of resting orders, AMO released, stop triggered, DAY expiry,
MIS square-off, cancellation) and turns each into a push to the order's owner in their language; a PRO
user's fills are followed by their ZK receipts. Only the owning account's user is ever told.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from collections.abc import Sequence

import structlog

from engine.api import EngineEvent, Tier
from handlers.context import Services
from handlers.service_window import push_reply
from handlers.replies import Reply
from handlers.trading.execute import issue_receipts, side_word
from handlers.users import User
from locales.format import ist_datetime, quantity, rupees

log = structlog.get_logger("gridworks.notifications")
KINDS = ("fill", "triggered", "released", "expired", "squared_off", "cancelled")
#: Parameters of the ``gw_order_<kind>`` utility templates, in Meta's positional order (``{{1}}``, …), used
#: outside the 24-hour window; ``bot/whatsapp/templates.py`` registers the templates from these.
TEMPLATE_PARAMS: dict[str, tuple[str, ...]] = {
    "fill": ("side", "filled", "symbol", "price", "order_id"),
    "triggered": ("side", "qty", "symbol", "trigger", "order_id"),
    "released": ("side", "qty", "symbol", "order_id"),
    "expired": ("side", "qty", "symbol", "order_id"),
    "squared_off": ("side", "qty", "symbol", "price", "order_id"),
    "cancelled": ("side", "qty", "symbol", "order_id"),
}


def event_values(services: Services, lang: str, event: EngineEvent) -> dict[str, str]:
    t = services.catalog.translator(lang)
    order = event.order
    filled = sum(tr.quantity for tr in event.trades) or order.filled_quantity
    value = sum(tr.quantity * tr.price_paise for tr in event.trades)
    avg = value // filled if event.trades and filled else (order.average_price_paise or 0)
    return dict(side=side_word(t, order.side), qty=quantity(order.quantity), filled=quantity(filled),
                symbol=order.symbol, price=rupees(avg), trigger=rupees(order.trigger_paise or 0),
                when=ist_datetime(order.updated_at), order_id=order.order_id)


def event_text(services: Services, lang: str, event: EngineEvent) -> str | None:
    if event.kind not in KINDS:
        return None
    return services.catalog.translator(lang)(f"trading.event.{event.kind}",
                                             **event_values(services, lang, event))


async def on_tick(services: Services, now: datetime, events: Sequence[Any]) -> list[tuple[User, Sequence[Reply]]]:
    """Replies to push for engine events, grouped per user in event order."""
    grouped: dict[str, tuple[User, list[Reply]]] = {}
    for event in events:
        if not isinstance(event, EngineEvent):
            continue
        user = await services.users.get(event.order.account)
        if user is None:
            log.warning("event_without_user", order_id=event.order.order_id, kind=event.kind)
            continue
        lang = user.language or "en"
        body = event_text(services, lang, event)
        if body is None:
            continue
        replies = grouped.setdefault(user.key, (user, []))[1]
        values = event_values(services, lang, event)       # outside the 24-hour window: a utility template
        replies.append(push_reply(user, now, text=body, template=f"gw_order_{event.kind}", lang=lang,
                                  params=tuple(values[p] for p in TEMPLATE_PARAMS[event.kind])))
        if event.kind == "fill" and event.trades and user.tier == Tier.PRO:
            replies.extend(await issue_receipts(services, user, lang, event.order, event.trades))
    return list(grouped.values())
