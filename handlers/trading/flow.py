"""The order flow's engine room: ask the next missing slot, gate on the PIN, show the confirmation card.

Shared by the entry and slot handlers (``dialogue.py``), the PIN handlers (``pin.py``), the
confirmation handlers (``confirm.py``) and order changes (``handlers/orders.py``). The half-built
order lives in the session as ``draft``, a change to an open order as ``change``; the card's pending action as
``pending``. A new order and a change pass the same gate: PIN once a trading day, then a card.
"""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction
from typing import Any, Awaitable, Callable

from engine.api import Side
from handlers.context import TurnContext
from handlers.conversation import interrupt
from handlers.quotes import pick_symbol
from handlers.reading import part_said
from handlers.replies import Button, Buttons, Text
from handlers.security import has_pin, locked_until, verified_today
from handlers.trading.card import PENDING_KEY, card, card_body, new_pending, risk_alerts
from handlers.trading.change import CHANGE_KEY, MODIFY_KEY, OrderChange, change_of, show_change_card
from handlers.trading.common import numbers_in, rejection_text, said_no, said_yes, to_paise
from handlers.trading.draft import Draft, from_entities, missing_slot
from handlers.trading.states import (CONFIRMATION, DRAFT_KEY, PIN, PIN_SETUP, PRICE, QUANTITY, SYMBOL, TRADING,
                                     TRIGGER)
from locales.format import ist_time, quantity, rupees
from locales.plural import counted

SYMBOL_ACTION = "tsym"
PRICE_ACTION = "tprice"



def until_(ctx: TurnContext):
    return ctx.now + timedelta(minutes=ctx.services.product.trading.confirmation.dialogue_minutes)


def draft_of(ctx: TurnContext) -> Draft | None:
    return Draft.from_json(ctx.session.data.get(DRAFT_KEY))


def ask(ctx: TurnContext, state: str, draft: Draft) -> None:
    _wait(ctx, state, DRAFT_KEY, draft.to_json())


def _wait(ctx: TurnContext, state: str, key: str, value: Any) -> None:
    """Await ``state`` with ``value`` (a draft or a change) as the one thing in progress."""
    for stale in (PENDING_KEY, DRAFT_KEY, CHANGE_KEY, MODIFY_KEY):
        ctx.session.data.pop(stale, None)
    TRADING.enter(ctx.session, state, now=ctx.now, until=until_(ctx), **{key: value})


async def advance(ctx: TurnContext, draft: Draft, notes: tuple[str, ...] = ()):
    """Ask the next missing thing, or go to the PIN, or show the confirmation card."""
    t, engine = ctx.t, ctx.services.engine
    replies: list = [Text(n) for n in notes]
    quote = None
    if draft.symbol:
        quote = await engine.quote(draft.symbol)
        if quote is None or quote.is_index:
            key = "trading.ask.index" if quote is not None else "trading.ask.unknown_symbol"
            replies.append(Text(t(key, symbol=draft.symbol)))
            draft = draft.with_(symbol=None)
        else:
            draft = draft.on_tick(quote.tick_paise)
    if draft.symbol and quote and not draft.quantity and draft.amount_paise:
        qty = draft.amount_paise // max(1, quote.ltp_paise)
        if qty >= 1:
            draft = draft.with_(quantity=int(qty))
            replies.append(Text(t("trading.ask.amount_quantity", amount=rupees(draft.amount_paise), qty=quantity(qty),
                                  shares=counted(t, "trading.shares", qty),
                                  symbol=draft.symbol, ltp=rupees(quote.ltp_paise))))
        else:
            replies.append(Text(t("trading.ask.amount_too_small", amount=rupees(draft.amount_paise),
                                  symbol=draft.symbol, ltp=rupees(quote.ltp_paise))))
            draft = draft.with_(amount_paise=None)
    if draft.symbol and quote and not draft.quantity and draft.part:
        draft, said = await _part_of_holding(ctx, draft, quote)
        replies.extend(said)
        if draft is None:
            interrupt(ctx.session)
            return replies
    if draft.symbol and quote and draft.trigger_paise and stop_crossed(draft, quote.ltp_paise):
        key = "trading.stop.would_trigger_sell" if draft.side == Side.SELL.value else "trading.stop.would_trigger_buy"
        replies.append(Text(t(key, symbol=draft.symbol, ltp=rupees(quote.ltp_paise),
                              trigger=rupees(draft.trigger_paise))))
        draft = draft.with_(trigger_paise=None)
    slot = missing_slot(draft)
    side = t("trading.side.buy" if draft.side == Side.BUY.value else "trading.side.sell")
    if slot == SYMBOL:
        ask(ctx, SYMBOL, draft)
        return replies + [Text(t("trading.ask.symbol", side=side))]
    if slot == QUANTITY:
        ask(ctx, QUANTITY, draft)
        return replies + [Text(t("trading.ask.quantity", side=side, symbol=draft.symbol,
                                 ltp=rupees(quote.ltp_paise) if quote else "-"))]
    if slot == PRICE:
        ask(ctx, PRICE, draft)
        return replies + [Buttons(t("trading.ask.price", side=side, qty=quantity(draft.quantity or 0),
                                    symbol=draft.symbol, ltp=rupees(quote.ltp_paise) if quote else "-"),
                                  (Button(f"{PRICE_ACTION}:market", t("trading.button.market")),))]
    if slot == TRIGGER:
        ask(ctx, TRIGGER, draft)
        return replies + [Text(t("trading.ask.trigger", symbol=draft.symbol,
                                 ltp=rupees(quote.ltp_paise) if quote else "-"))]
    return replies + await _pin_or_card(ctx, draft, quote)


def stop_crossed(draft: Draft, ltp_paise: int) -> bool:
    """A stop that would trigger at once: a sell stop must sit below the last price, a buy stop above it."""
    trigger = draft.trigger_paise or 0
    return trigger >= ltp_paise if draft.side == Side.SELL.value else trigger <= ltp_paise


async def _part_of_holding(ctx: TurnContext, draft: Draft, quote) -> tuple[Draft | None, list]:
    """"sell half / all / a third of my INFY", or a stop-loss without a count: that share of the holding."""
    t = ctx.t
    held = next((h.total_quantity for h in await ctx.services.engine.holdings(ctx.user.account)
                 if h.symbol == draft.symbol), 0)
    if held <= 0:
        return None, [Text(t("trading.part.none", symbol=draft.symbol))]
    qty = int(held * Fraction(draft.part or "1"))
    if qty < 1:
        return draft.with_(part=None), [Text(t("trading.part.too_few", symbol=draft.symbol, held=quantity(held)))]
    return draft.with_(quantity=qty, part=None), [Text(t("trading.part.note", symbol=draft.symbol,
                                                         held=quantity(held), qty=quantity(qty)))]


async def _pin_or_card(ctx: TurnContext, draft: Draft, quote=None):
    return await _gate(ctx, DRAFT_KEY, draft.to_json(), lambda: show_card(ctx, draft, quote))


async def start_change(ctx: TurnContext, change: OrderChange):
    """Change or cancel an open order: the same PIN gate and card as a new order."""
    return await _gate(ctx, CHANGE_KEY, change.to_json(), lambda: show_change_card(ctx, change))


async def _gate(ctx: TurnContext, key: str, value: Any, show: Callable[[], Awaitable[list]]):
    """Locked → say so; no PIN yet → choose one; not verified today → ask it; else ``show()`` the card.
    ``value`` waits in the session under ``key`` while the PIN is asked."""
    profile = (await ctx.services.users.get(ctx.user.key) or ctx.user).profile
    until = locked_until(profile, ctx.now)
    if until is not None:
        interrupt(ctx.session)
        return [Text(ctx.t("trading.pin.locked", time=ist_time(until)))]
    if not has_pin(profile):
        _wait(ctx, PIN_SETUP, key, value)
        return [Text(ctx.t("trading.pin.setup_needed"))]
    if not verified_today(profile, ctx.now):
        _wait(ctx, PIN, key, value)
        return [Text(ctx.t("trading.pin.enter"))]
    return await show()


def waiting_for_pin(ctx: TurnContext) -> bool:
    """Is an order or a change waiting behind the PIN?"""
    return bool(ctx.session.data.get(DRAFT_KEY) or ctx.session.data.get(CHANGE_KEY))


async def after_pin(ctx: TurnContext) -> list:
    """The PIN is fine: show the card of what waited for it (nothing waited: an empty list)."""
    draft = draft_of(ctx)
    if draft is not None:
        return await show_card(ctx, draft)
    change = change_of(ctx)
    if change is not None:
        return await show_change_card(ctx, change)
    return []


async def show_card(ctx: TurnContext, draft: Draft, quote=None):
    engine = ctx.services.engine
    quote = quote or await engine.quote(draft.symbol or "")
    estimate = await engine.estimate(draft.request(account=ctx.user.account, client_order_id="estimate",
                                                   tier=ctx.tier))
    if not estimate.ok:
        interrupt(ctx.session)
        return [Text(ctx.t("trading.result.rejected", reason=rejection_text(ctx.t, estimate.rejection)))]
    alerts = await risk_alerts(ctx, draft, estimate, quote)
    ttl = ctx.services.product.trading.confirmation.ttl_seconds
    pending = new_pending(ctx.session, ctx.now, ttl, draft=draft)
    TRADING.enter(ctx.session, CONFIRMATION, now=ctx.now, until=until_(ctx), **{PENDING_KEY: pending})
    ctx.session.data.pop(DRAFT_KEY, None)
    name = quote.name if quote else draft.symbol
    return [card(ctx, pending, card_body(ctx, draft, estimate, name or "", alerts))]



async def start_order(ctx: TurnContext):
    """A buy/sell message: a draft from its entities, then the next step."""
    entities = ctx.match.entities
    draft = from_entities(Side.BUY.value if ctx.match.intent == "buy" else Side.SELL.value, entities,
                          message_id=ctx.message.id, market_said=market_said(ctx))
    if draft.side == Side.SELL.value and not draft.amount_paise:
        # "sell half my INFY" (a number word inside "a third" is no count); a stop-loss without a count
        # protects the whole holding.
        part = part_said(ctx.services.catalog, ctx.text)
        if part and not [n for n in numbers_in(ctx.text) if to_paise(n) != draft.trigger_paise]:
            draft = draft.with_(quantity=None, part=part)
        elif not draft.quantity and draft.trigger_paise:
            draft = draft.with_(part="1")
    if not draft.symbol and entities.symbol_candidates:
        ask(ctx, SYMBOL, draft)
        return pick_symbol(ctx, entities.symbol_candidates, action=SYMBOL_ACTION)
    return await advance(ctx, draft)


def market_said(ctx: TurnContext) -> bool:
    """Did the user actually ask for the market price ("at market", "मार्केट पर")? Words from the locales."""
    typed = ctx.text.casefold()
    words = {ctx.t("trading.word.market"), ctx.services.catalog.raw("en", "trading.word.market"),
             ctx.t("trading.button.market")}
    return any(w.casefold() in typed for w in words if w)


def elsewhere(ctx: TurnContext) -> bool:
    """The message is clearly about something else ("mera order hua kya" while I asked for a quantity):
    let its own handler answer; the half-built order waits in the session."""
    return (not ctx.match.clarify and ctx.match.intent not in ("out_of_scope", "buy", "sell", "confirm", "deny")
            and ctx.match.confidence >= 0.6)


def restart(ctx: TurnContext) -> bool:
    """A fresh, complete-enough buy/sell while a dialogue is open starts over with the new order."""
    return ctx.match.intent in ("buy", "sell") and bool(ctx.match.entities.symbol) and not ctx.message.payload


def yes(ctx: TurnContext) -> bool:
    return said_yes(ctx.services, ctx.lang, ctx.match, ctx.message.text, tapped=ctx.message.is_tap)


def no(ctx: TurnContext) -> bool:
    return said_no(ctx.services, ctx.lang, ctx.match, ctx.message.text, tapped=ctx.message.is_tap)


def cancel_dialogue(ctx: TurnContext):
    """"No" to a card or a PIN prompt: nothing happens (a change: the order stays as it is)."""
    pending = ctx.session.data.get(PENDING_KEY) or {}
    changing = ctx.session.data.get(CHANGE_KEY) or pending.get("change")
    TRADING.end(ctx.session)
    return Text(ctx.t("orders.kept" if changing else "trading.cancelled"))
