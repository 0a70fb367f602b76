"""The order flow: buy/sell → missing slots one at a time → PIN once a day → confirmation card → order.

Nothing is placed without an explicit Confirm on a card bound to that exact pending order (id + nonce), and
nothing twice: the client_order_id comes from the confirmation, and the engine is idempotent on it. Slot
questions, PIN and card all live in the session (``draft`` / ``pending``), so a reply that is not an answer
loses nothing. This module holds the entry and the slot questions; ``pin`` and ``confirm``
hold the rest and are included in this router.
"""

from __future__ import annotations

from engine.api import OrderType, Side
from handlers.context import TurnContext
from handlers.trading.pin_guard import not_used, typed_pin
from handlers.quotes import pick_symbol
from handlers.reading import part_said
from handlers.replies import Text
from handlers.router import UNHANDLED, Router
from handlers.trading.common import numbers_in, to_paise
from handlers.trading.confirm import router as confirm_router
from handlers.trading.draft import apply_entities
from handlers.trading.flow import (PRICE_ACTION, SYMBOL_ACTION, advance, cancel_dialogue, draft_of, elsewhere,
                                   market_said, no, restart, start_order)
from handlers.trading.pin import router as pin_router
from handlers.trading.states import PRICE, QUANTITY, SYMBOL, TRIGGER
from locales.format import rupees

router = Router("trading")


@router.on_intent("buy", "sell")
async def trade_intent(ctx: TurnContext):
    return await start_order(ctx)


async def interrupted(ctx: TurnContext):
    """What comes before reading a slot answer: a new buy/sell restarts the dialogue, "no" cancels it, and
    without a draft the message belongs to another handler. None: go on and read the answer."""
    if restart(ctx):
        return await start_order(ctx)
    if draft_of(ctx) is None:
        return UNHANDLED
    if no(ctx):
        return cancel_dialogue(ctx)
    return None


def _intent_of(draft) -> str:
    return "buy" if draft.side == Side.BUY.value else "sell"


@router.on_payload(SYMBOL_ACTION)
async def symbol_tap(ctx: TurnContext):
    draft = draft_of(ctx)
    if draft is None or not ctx.payload_args:
        return Text(ctx.t("trading.stale_question"))
    return await advance(ctx, draft.with_(symbol=ctx.payload_args[0].upper()))


@router.on_awaiting(SYMBOL)
async def symbol_answer(ctx: TurnContext):
    draft = draft_of(ctx)
    entities = ctx.match.entities
    if draft is not None and entities.symbol and not ctx.message.payload and ctx.match.intent == _intent_of(draft):
        # "Which stock?" → "buy reliance": the answer to the question, not a new order (what was said stays).
        return await advance(ctx, apply_entities(draft.with_(symbol=entities.symbol.upper()), entities,
                                                  market_said=market_said(ctx)))
    if (early := await interrupted(ctx)) is not None:
        return early
    if entities.symbol:
        return await advance(ctx, apply_entities(draft.with_(symbol=entities.symbol.upper()), entities,
                                                  market_said=market_said(ctx)))
    if entities.symbol_candidates:
        return pick_symbol(ctx, entities.symbol_candidates, action=SYMBOL_ACTION)
    word = ctx.text.upper()
    if word.isalnum() and 2 <= len(word) <= 20 and await ctx.services.engine.quote(word) is not None:
        return await advance(ctx, draft.with_(symbol=word))
    if elsewhere(ctx):
        return UNHANDLED
    return Text(ctx.t("trading.ask.symbol_again"))


@router.on_awaiting(QUANTITY)
async def quantity_answer(ctx: TurnContext):
    if (early := await interrupted(ctx)) is not None:
        return early
    if await typed_pin(ctx):
        return not_used(ctx, ctx.t("trading.ask.quantity_again"))
    draft = draft_of(ctx)
    entities = ctx.match.entities
    qty = entities.quantity
    part = part_said(ctx.services.catalog, ctx.text) if draft.side == Side.SELL.value and not qty else None
    if part is not None:
        return await advance(ctx, draft.with_(part=part))
    if not qty:
        whole = [n for n in numbers_in(ctx.text) if n == int(n)]
        qty = int(whole[0]) if len(whole) == 1 else None
    if entities.amount and not qty:
        return await advance(ctx, draft.with_(amount_paise=int(round(entities.amount * 100))))
    if not qty or qty <= 0:
        return UNHANDLED if elsewhere(ctx) else Text(ctx.t("trading.ask.quantity_again"))
    return await advance(ctx, apply_entities(draft.with_(quantity=int(qty)), entities, market_said=market_said(ctx)))


@router.on_payload(PRICE_ACTION)
async def price_tap(ctx: TurnContext):
    draft = draft_of(ctx)
    if draft is None:
        return Text(ctx.t("trading.stale_question"))
    return await advance(ctx, draft.with_(order_type=OrderType.MARKET.value, price_paise=None))


@router.on_awaiting(PRICE)
async def price_answer(ctx: TurnContext):
    if (early := await interrupted(ctx)) is not None:
        return early
    if await typed_pin(ctx):
        return not_used(ctx, ctx.t("trading.ask.price_again"))
    draft = draft_of(ctx)
    entities = ctx.match.entities
    if market_said(ctx):
        return await advance(ctx, draft.with_(order_type=OrderType.MARKET.value, price_paise=None))
    price = entities.price
    if not price:
        values = numbers_in(ctx.text)
        price = values[0] if len(values) == 1 else None
    if not price or price <= 0 or not draft.symbol:
        return UNHANDLED if elsewhere(ctx) else Text(ctx.t("trading.ask.price_again"))
    quote = await ctx.services.engine.quote(draft.symbol)
    low, high = (quote.lower_circuit_paise, quote.upper_circuit_paise) if quote else (None, None)
    if low and high and not low <= to_paise(price) <= high:
        # "10" for a ₹3,126 share is no price it can trade at: say the band and keep asking (nothing is lost).
        return Text(ctx.t("trading.ask.price_band", price=rupees(to_paise(price)), symbol=draft.symbol,
                          low=rupees(low), high=rupees(high)))
    return await advance(ctx, draft.with_(order_type=OrderType.LIMIT.value,
                                          price_paise=to_paise(price)))



@router.on_awaiting(TRIGGER)
async def trigger_answer(ctx: TurnContext):
    """The stop's trigger price (asked when the one given would trigger at once, or none was given)."""
    if (early := await interrupted(ctx)) is not None:
        return early
    if await typed_pin(ctx):
        return not_used(ctx, ctx.t("trading.stop.again"))
    draft = draft_of(ctx)
    values = [v for v in (ctx.match.entities.trigger_price, ctx.match.entities.price) if v] or numbers_in(ctx.text)
    if len(values) < 1 or values[0] <= 0:
        return UNHANDLED if elsewhere(ctx) else Text(ctx.t("trading.stop.again"))
    return await advance(ctx, draft.with_(trigger_paise=to_paise(values[0])))


router.include(pin_router, confirm_router)
