"""Price alerts: "alert me when TCS crosses 4000", list, delete; pushed when the price gets there.

The direction is the user's when they say it ("goes below 3080", "3080 se neeche", in any language; an alert
that would fire at once is refused with the reason); for "crosses" it is read from where the price is now: a
target above today's price fires when the price rises to it, one below when it falls to it. Alerts are
one-shot. The push is a plain text inside WhatsApp's 24-hour window and an approved utility template
outside it (:func:`handlers.middlewares.subscription.push_reply`). A delete row is bound server-side
(``handlers/bound.py``): it names an alert of the list this user was shown, once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, Sequence

from handlers.bound import Reason, Refused, refusal_text, take
from handlers.bound import issue as bind
from handlers.context import Services, TurnContext
from handlers.conversation import IDLE, Conversation, interrupt
from handlers.service_window import push_reply
from handlers.trading.pin_guard import not_used, typed_pin
from handlers.reading import says
from handlers.replies import ListReply, ListRow, Reply, Text
from handlers.router import UNHANDLED, Router
from handlers.users import User
from locales.format import rupees

router = Router("alerts")
DELETE_ACTION = "alertdel"
#: "alert me when INFY crosses" without a price: the one question this feature asks, for ten minutes.
ALERT_PRICE = "alert_price"
ALERTS = Conversation("alerts", transitions={IDLE: frozenset({ALERT_PRICE})}, timeout=timedelta(minutes=10),
                      timeout_reply="core.lapsed", requires={ALERT_PRICE: ("symbol",)})

#: One list message shows at most 10 rows, and a beginner rarely needs more.
MAX_ALERTS = 10
_NUMBER = re.compile(r"(?:₹|rs\.?|inr)?\s*(\d+(?:\.\d{1,2})?)(?:/-)?", re.IGNORECASE)
_GROUPING = re.compile(r"(?<=\d),(?=\d)")


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    user_key: str
    symbol: str
    direction: str                 # "above" | "below"
    target_paise: int
    reference_paise: int | None
    created_at: datetime
    triggered_at: datetime | None = None

    def hit(self, ltp_paise: int) -> bool:
        return ltp_paise >= self.target_paise if self.direction == "above" else ltp_paise <= self.target_paise


class AlertStore(Protocol):
    """Port implemented by ``bot.stores.alerts.SqlAlertStore``."""

    async def add(self, *, user_key: str, symbol: str, direction: str, target_paise: int,
                  reference_paise: int | None, now: datetime) -> Alert: ...
    async def for_user(self, user_key: str) -> Sequence[Alert]: ...
    async def delete(self, *, user_key: str, alert_id: int) -> Alert | None: ...
    async def active(self) -> Sequence[Alert]: ...
    async def mark_triggered(self, alert_id: int, *, now: datetime, price_paise: int) -> bool: ...


def _has_word(ctx: TurnContext, key: str) -> bool:
    text = f" {ctx.text.casefold()} "
    for lang in {ctx.lang, "en"}:
        for word in ctx.services.catalog.raw(lang, key).split("|"):
            if word.strip() and word.strip().casefold() in text:
                return True
    return False


def said_direction(ctx: TurnContext) -> str | None:
    """"above" / "below" when the user said which way ("when TCS goes below 3080", "3080 se neeche"), in any
    language; None for "crosses" or no word (then the side of today's price decides)."""
    above = says(ctx.services.catalog, "alerts.words.above", ctx.text)
    below = says(ctx.services.catalog, "alerts.words.below", ctx.text)
    return None if above == below else "above" if above else "below"


def _price_from(ctx: TurnContext) -> float | None:
    e = ctx.match.entities
    for value in (e.price, e.trigger_price, e.amount):
        if value:
            return float(value)
    found = _NUMBER.findall(_GROUPING.sub("", ctx.text))
    if found:
        return float(found[-1])
    return float(e.quantity) if e.quantity else None


def _line(ctx: TurnContext, alert: Alert) -> str:
    return ctx.t(f"alerts.line.{alert.direction}", symbol=alert.symbol, price=rupees(alert.target_paise))


async def _create(ctx: TurnContext, symbol: str, price: float, said: str | None):
    ALERTS.end(ctx.session)
    store: AlertStore = ctx.services.alerts
    quote = await ctx.services.engine.quote(symbol)
    if quote is None:
        return Text(ctx.t("core.quote.unknown", symbol=symbol))
    target = int(round(price * 100))
    if target <= 0:
        return Text(ctx.t("alerts.bad_price"))
    if target == quote.ltp_paise:
        return Text(ctx.t("alerts.already_there", symbol=quote.symbol, price=rupees(quote.ltp_paise)))
    if len(await store.for_user(ctx.user.key)) >= MAX_ALERTS:
        return Text(ctx.t("alerts.too_many", max=MAX_ALERTS))
    if said == "above" and quote.ltp_paise >= target or said == "below" and quote.ltp_paise <= target:
        return Text(ctx.t(f"alerts.already.{said}", symbol=quote.symbol, price=rupees(target),
                          ltp=rupees(quote.ltp_paise)))
    direction = said or ("above" if target > quote.ltp_paise else "below")
    await store.add(user_key=ctx.user.key, symbol=quote.symbol, direction=direction, target_paise=target,
                    reference_paise=quote.ltp_paise, now=ctx.now)
    return Text(ctx.t(f"alerts.set.{direction}", symbol=quote.symbol, price=rupees(target),
                      ltp=rupees(quote.ltp_paise)))


async def _listing(ctx: TurnContext, *, deleting: bool):
    alerts = await ctx.services.alerts.for_user(ctx.user.key)
    if not alerts:
        return Text(ctx.t("alerts.none"))
    ttl = timedelta(minutes=ctx.services.product.trading.buttons.menu_minutes)
    rows = tuple(ListRow(id=bind(ctx.session, DELETE_ACTION, now=ctx.now, ttl=ttl, alert_id=a.id).payload,
                         title=f"{a.symbol} {rupees(a.target_paise)}", description=_line(ctx, a))
                 for a in alerts[:MAX_ALERTS])
    body = ctx.t("alerts.delete_pick" if deleting else "alerts.list", count=len(alerts))
    return ListReply(body=body, button=ctx.t("alerts.button"), rows=rows, section_title=ctx.t("alerts.section"))


@router.on_intent("set_alert")
async def set_alert(ctx: TurnContext):
    interrupt(ctx.session)          # a new alert request, whatever was open
    if _has_word(ctx, "alerts.words.delete"):
        return await _listing(ctx, deleting=True)
    symbol = ctx.match.entities.symbol
    if symbol is None:
        if _has_word(ctx, "alerts.words.list") or await ctx.services.alerts.for_user(ctx.user.key):
            return await _listing(ctx, deleting=False)
        return Text(ctx.t("alerts.how"))
    if _has_word(ctx, "alerts.words.list"):
        return await _listing(ctx, deleting=False)
    price = _price_from(ctx)
    if price is None:
        ALERTS.enter(ctx.session, ALERT_PRICE, now=ctx.now, symbol=symbol, direction=said_direction(ctx))
        return Text(ctx.t("alerts.ask_price", symbol=symbol))
    return await _create(ctx, symbol, price, said_direction(ctx))


@router.on_awaiting(ALERT_PRICE)
async def alert_price(ctx: TurnContext):
    symbol = str(ctx.session.data.get("symbol") or "")
    said = ctx.session.data.get("direction") or said_direction(ctx)
    if symbol and await typed_pin(ctx):
        return not_used(ctx, ctx.t("alerts.ask_price", symbol=symbol))
    bare = _NUMBER.fullmatch(_GROUPING.sub("", ctx.text.strip()))
    price = ctx.match.entities.price or (float(bare.group(1)) if bare else None)
    if not symbol or price is None:
        ALERTS.end(ctx.session)
        return UNHANDLED
    return await _create(ctx, symbol, price, said if said in ("above", "below") else None)


@router.on_payload(DELETE_ACTION)
async def delete_alert(ctx: TurnContext):
    interrupt(ctx.session)
    tapped = take(ctx.session, ctx.message.payload, ctx.now)
    if isinstance(tapped, Refused):
        if tapped.reason == Reason.USED:
            return Text(ctx.t("alerts.delete_missing"))
        return Text(refusal_text(ctx.t, tapped.reason))
    alert_id = tapped.params.get("alert_id")
    if not isinstance(alert_id, int):
        return Text(refusal_text(ctx.t, Reason.UNKNOWN))
    gone = await ctx.services.alerts.delete(user_key=ctx.user.key, alert_id=alert_id)
    if gone is None:
        return Text(ctx.t("alerts.delete_missing"))
    return Text(ctx.t("alerts.deleted", line=_line(ctx, gone)))


async def on_tick(services: Services, now: datetime, events: Sequence[Any]) -> list[tuple[User, list[Reply]]]:
    """Check every active alert against the current quote; claim and push the ones that were hit."""
    store: AlertStore | None = services.alerts
    if store is None:
        return []
    active = await store.active()
    quotes: dict[str, Any] = {}
    pushes: list[tuple[User, list[Reply]]] = []
    for alert in active:
        if alert.symbol not in quotes:
            quotes[alert.symbol] = await services.engine.quote(alert.symbol)
        quote = quotes[alert.symbol]
        if quote is None or not alert.hit(quote.ltp_paise):
            continue
        user = await services.users.get(alert.user_key)
        if user is None or not await store.mark_triggered(alert.id, now=now, price_paise=quote.ltp_paise):
            continue
        lang = user.language or "en"
        t = services.catalog.translator(lang)
        target, ltp = rupees(alert.target_paise), rupees(quote.ltp_paise)
        text = t(f"alerts.triggered.{alert.direction}", symbol=alert.symbol, price=target, ltp=ltp)
        pushes.append((user, [push_reply(user, now, text=text, template=f"gw_price_alert_{alert.direction}",
                                         lang=lang, params=(alert.symbol, target, ltp))]))
    return pushes
