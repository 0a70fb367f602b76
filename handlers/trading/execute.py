"""Placing a confirmed order and telling the user what happened: fill, resting order, AMO or rejection; the
one-line description of an order used by the order lists and the change card.

For PRO users the order is logged with the receipts service at acceptance, the fill summary goes out at
once, and each fill's ZK receipt follows through ``ctx.defer`` (proofs take a moment to compute).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any
from collections.abc import Awaitable, Callable, Sequence

import structlog

from config.settings import load_product_config
from engine.api import OrderResult, OrderStatus, OrderView, Side, Trade
from engine.calendar import TradingCalendar
from engine.clock import IST
from handlers.context import Services
from handlers.replies import Document, Reply, Text
from handlers.trading.common import pseudonym, rejection_text
from handlers.users import User
from locales.catalog import Translator
from locales.format import ist_datetime, ist_time, quantity, rupees

log = structlog.get_logger("gridworks.trading")
#: Orders that can still be changed or cancelled.
OPEN_STATUSES = (OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING)


def side_word(t: Translator, side: Side) -> str:
    return t("trading.side.buy" if side == Side.BUY else "trading.side.sell")


def status_word(t: Translator, order: OrderView) -> str:
    return t("orders.status.expired" if expired(order) else f"orders.status.{order.status.name.lower()}")


@lru_cache(maxsize=1)
def _calendar() -> TradingCalendar:
    return TradingCalendar(load_product_config()["calendar"])  # type: ignore[arg-type]


def expired(order: OrderView) -> bool:
    """A DAY order the close ended unfilled (the engine reports it CANCELLED; its push said "expired"): it
    ended exactly at its session's close, which no user's cancel does."""
    if order.status != OrderStatus.CANCELLED or order.filled_quantity >= order.quantity:
        return False
    session = _calendar().session(order.updated_at.astimezone(IST).date())
    return session is not None and order.updated_at == session.close


def order_line(t: Translator, order: OrderView) -> str:
    price = order.average_price_paise or order.price_paise or order.trigger_paise
    shown = rupees(price) if price else t("orders.market")
    return t("orders.line", side=side_word(t, order.side), qty=quantity(order.quantity), symbol=order.symbol,
             price=shown, status=status_word(t, order), filled=quantity(order.filled_quantity),
             time=ist_time(order.placed_at), order_id=order.order_id)


def outcome_text(t: Translator, result: OrderResult) -> str:
    """What happened to a just-placed order, in the user's language."""
    order = result.order
    if not result.accepted or order is None or order.status == OrderStatus.REJECTED:
        reason = rejection_text(t, result.rejection or (order.rejection if order else None))
        return t("trading.result.rejected", reason=reason)
    return order_text(t, order)


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


async def log_pro_order(services: Services, user: User, order: OrderView) -> None:
    """Commit the order's limit and quantity to the public log before any fill (PRO)."""
    receipts = services.receipts
    if receipts is None:
        return
    try:
        await receipts.log_order(order, pseudonym=await pseudonym(services, user))
    except Exception as exc:  # noqa: BLE001 - a receipt problem must never hide the order outcome
        log.warning("receipt_log_failed", order_id=order.order_id, error=type(exc).__name__)


def receipt_job(services: Services, user: User, lang: str, order: OrderView,
                trades: Sequence[Trade]) -> Callable[[], Awaitable[Sequence[Reply]]]:
    """Deferred work: one ZK receipt (short text + JSON document) per fill."""

    async def job() -> Sequence[Reply]:
        return await issue_receipts(services, user, lang, order, trades)

    return job


async def issue_receipts(services: Services, user: User, lang: str, order: OrderView,
                         trades: Sequence[Trade]) -> list[Reply]:
    receipts = services.receipts
    t = services.catalog.translator(lang)
    if receipts is None or not trades:
        return []
    out: list[Reply] = []
    alias = await pseudonym(services, user)
    for trade in trades:
        try:
            issued = await receipts.issue_fill(order, trade, pseudonym=alias)
        except Exception as exc:  # noqa: BLE001 - the fill stands; tell the user the receipt is late
            log.warning("receipt_issue_failed", order_id=order.order_id, error=type(exc).__name__)
            issued = None
        if issued is None or not getattr(issued, "ok", False):
            log.warning("receipt_refused", order_id=order.order_id, code=getattr(issued, "code", None))
            out.append(Text(t("receipts.issue_failed", order_id=order.order_id)))
            continue
        out.append(Text(t("receipts.issued", receipt_id=issued.receipt_id, symbol=order.symbol,
                          side=side_word(t, order.side))))
        out.append(Document(filename=issued.filename, content=_json(issued.document),
                            caption=t("receipts.document_caption", receipt_id=issued.receipt_id)))
        if getattr(issued, "opening", None):
            stem = issued.filename.rsplit(".", 1)[0]
            out.append(Document(filename=f"{stem}-opening.json", content=_json(issued.opening),
                                caption=t("receipts.opening_caption", receipt_id=issued.receipt_id)))
    return out


def _json(value: Any) -> bytes:
    """Receipt documents as the receipts service produced them (the public receipt verifies on its own; the
    opening is the user's private proof of their own values and goes in a separate file)."""
    return json.dumps(value, ensure_ascii=False, indent=1, default=str).encode()
