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
from handlers.replies import Reply, Text
from handlers.trading_execute import issue_receipts, side_word
from handlers.users import User
from locales.format import ist_datetime, quantity, rupees

log = structlog.get_logger("gridworks.notifications")
KINDS = ("fill", "triggered", "released", "expired", "squared_off", "cancelled")


def event_text(services: Services, lang: str, event: EngineEvent) -> str | None:
    t = services.catalog.translator(lang)
    order = event.order
    if event.kind not in KINDS:
        return None
    filled = sum(tr.quantity for tr in event.trades) or order.filled_quantity
    value = sum(tr.quantity * tr.price_paise for tr in event.trades)
    avg = value // filled if event.trades and filled else (order.average_price_paise or 0)
    return t(f"trading.event.{event.kind}", side=side_word(t, order.side), qty=quantity(order.quantity),
             filled=quantity(filled), symbol=order.symbol, price=rupees(avg),
             trigger=rupees(order.trigger_paise or 0), when=ist_datetime(order.updated_at), order_id=order.order_id)


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
        replies.append(Text(body))
        if event.kind == "fill" and event.trades and user.tier == Tier.PRO:
            replies.extend(await issue_receipts(services, user, lang, event.order, event.trades))
    return list(grouped.values())
