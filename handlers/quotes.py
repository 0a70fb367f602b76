"""Price quotes from the engine's market data (simulated by default)."""

from __future__ import annotations

from datetime import timedelta

from engine.instruments import load_instruments
from handlers.context import TurnContext
from handlers.conversation import IDLE, Conversation, interrupt
from handlers.replies import ListReply, ListRow, Text
from handlers.router import UNHANDLED, Router
from locales.format import ist_time, percent, rupees

router = Router("quotes")
#: "price?" without a stock: which one, asked once and kept for ten minutes.
QUOTE_SYMBOL = "quote_symbol"
QUOTES = Conversation("quotes", transitions={IDLE: frozenset({QUOTE_SYMBOL}),
                                             QUOTE_SYMBOL: frozenset({QUOTE_SYMBOL})},
                      timeout=timedelta(minutes=10), timeout_reply="core.lapsed")


async def quote_reply(ctx: TurnContext, symbol: str):
    quote = await ctx.services.engine.quote(symbol)
    if quote is None:
        return Text(ctx.t("core.quote.unknown", symbol=symbol))
    key = "core.quote.index" if quote.is_index else "core.quote.stock"
    arrow = "▲" if quote.change_paise >= 0 else "▼"
    return Text(ctx.t(
        key, symbol=quote.symbol, name=quote.name, ltp=rupees(quote.ltp_paise, symbol=False),
        arrow=arrow, change=rupees(abs(quote.change_paise), symbol=False), pct=percent(quote.change_pct),
        high=rupees(quote.high_paise, symbol=not quote.is_index),
        low=rupees(quote.low_paise, symbol=not quote.is_index), time=ist_time(quote.at),
        status=ctx.t("core.market.open" if quote.market_open else "core.market.closed"),
    ))


def pick_symbol(ctx: TurnContext, candidates: tuple[str, ...], *, action: str) -> ListReply:
    """A name several companies share ("hindustan", "tata"): a short list, each row with the company's name."""
    master = load_instruments()
    rows = tuple(ListRow(id=f"{action}:{sym}", title=sym,
                         description=(master.get(sym).name if master.get(sym) else None))
                 for sym in candidates[:10])
    return ListReply(body=ctx.t("core.pick_symbol"), button=ctx.t("core.button.choose"), rows=rows)


def not_listed(ctx: TurnContext, name: str) -> Text:
    """A real company that is not on NSE ("Netflix", "Tesla"): say so rather than "I didn't understand"."""
    return Text(ctx.t("core.quote.not_listed", name=name))


@router.on_intent("price_quote")
async def price_quote(ctx: TurnContext):
    entities = ctx.match.entities
    if entities.symbol:
        return await quote_reply(ctx, entities.symbol)
    if entities.symbol_candidates:
        return pick_symbol(ctx, entities.symbol_candidates, action="quote")
    if entities.unlisted:
        return not_listed(ctx, entities.unlisted)
    QUOTES.enter(ctx.session, QUOTE_SYMBOL, now=ctx.now)
    return Text(ctx.t("core.quote.which"))


@router.on_payload("quote")
async def quote_tap(ctx: TurnContext):
    interrupt(ctx.session)
    return await quote_reply(ctx, ctx.payload_args[0]) if ctx.payload_args else Text(ctx.t("core.quote.which"))


@router.on_awaiting(QUOTE_SYMBOL)
async def quote_symbol_answer(ctx: TurnContext):
    entities = ctx.match.entities
    if entities.symbol:
        QUOTES.end(ctx.session)
        return await quote_reply(ctx, entities.symbol)
    if entities.symbol_candidates:
        return pick_symbol(ctx, entities.symbol_candidates, action="quote")
    if entities.unlisted:
        QUOTES.end(ctx.session)
        return not_listed(ctx, entities.unlisted)
    QUOTES.end(ctx.session)
    return UNHANDLED
