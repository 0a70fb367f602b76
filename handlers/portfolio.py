"""Portfolio: holdings with average cost, LTP and P&L (total and today), intraday positions, funds, and the
day's contract note on request (a text summary plus the note as a JSON document)."""

from __future__ import annotations

import json
import re
from datetime import date
from fractions import Fraction
from typing import Any, Sequence

from engine.api import ContractNote, Holding, Product, Side
from handlers.context import TurnContext
from handlers.replies import Button, Buttons, Document, Text, texts
from handlers.router import Router
from handlers.security import trading_day
from handlers.trading.execute import side_word
from locales.catalog import Translator
from locales.format import ist_date, ist_time, percent, quantity, rupees
from locales.plural import counted

router = Router("portfolio")
NOTE_ACTION = "pnote"
_NOTE_WORDS = re.compile(r"contract\s*note|कॉन्ट्रैक्ट\s*नोट|ஒப்பந்த\s*குறிப்பு", re.IGNORECASE)


def mentions_contract_note(text: str) -> bool:
    return bool(_NOTE_WORDS.search(text or ""))


def signed(paise: int) -> str:
    return ("+" if paise >= 0 else "") + rupees(paise)


async def funds_line(ctx: TurnContext) -> str:
    funds = await ctx.services.engine.funds(ctx.user.account)
    return ctx.t("portfolio.funds", available=rupees(funds.available_paise), blocked=rupees(funds.blocked_paise),
                 cash=rupees(funds.cash_paise))


async def day_pnl(ctx: TurnContext, holdings: Sequence[Holding]) -> dict[str, int]:
    """Today's P&L per holding: shares held since yesterday from the previous close, shares bought today from
    their buy price, shares sold today from the previous close to their sale price (delivery trades only)."""
    engine, account = ctx.services.engine, ctx.user.account
    out = {h.symbol: h.day_pnl_paise for h in holdings}
    prev = {h.symbol: h.prev_close_paise for h in holdings}
    delivery = {o.order_id for o in await engine.orders(account) if o.product is Product.CNC}
    for trade in await engine.trades(account, day=trading_day(ctx.now)):
        if trade.order_id not in delivery or trade.symbol not in prev:
            continue
        move = prev[trade.symbol] - trade.price_paise
        out[trade.symbol] += trade.quantity * (move if trade.side is Side.BUY else -move)
    return out


async def cost_basis(ctx: TurnContext, holdings: Sequence[Holding]) -> dict[str, int]:
    """What each holding cost, from its delivery trades (average-cost method, exact), so "Invested" and P&L add
    up to the contract notes' trade values; the engine's rounded average × quantity drifts by paise per share.
    A holding the trades do not explain (e.g. opened by other means) falls back to average × quantity."""
    engine, account = ctx.services.engine, ctx.user.account
    delivery = {o.order_id for o in await engine.orders(account) if o.product is Product.CNC}
    book: dict[str, tuple[int, Fraction]] = {}
    for trade in sorted(await engine.trades(account), key=lambda tr: (tr.at, tr.trade_id)):
        if trade.order_id not in delivery:
            continue
        qty, cost = book.get(trade.symbol, (0, Fraction(0)))
        if trade.side is Side.BUY:
            qty, cost = qty + trade.quantity, cost + trade.quantity * trade.price_paise
        elif qty:
            sold = min(trade.quantity, qty)
            qty, cost = qty - sold, cost * (qty - sold) / qty
        book[trade.symbol] = (qty, cost)
    out = {}
    for h in holdings:
        qty, cost = book.get(h.symbol, (0, Fraction(0)))
        out[h.symbol] = round(cost) if qty == h.total_quantity else h.average_price_paise * h.total_quantity
    return out


@router.on_intent("portfolio")
async def portfolio(ctx: TurnContext):
    if _NOTE_WORDS.search(ctx.text):
        return await contract_note(ctx, trading_day(ctx.now))
    engine, t = ctx.services.engine, ctx.t
    holdings = await engine.holdings(ctx.user.account)
    positions = [p for p in await engine.positions(ctx.user.account) if p.net_quantity or p.realized_pnl_paise]
    parts: list[str] = []
    if holdings:
        day = await day_pnl(ctx, holdings)
        costs = await cost_basis(ctx, holdings)
        lines = []
        for h in holdings:
            cost = costs[h.symbol]
            pnl = h.value_paise - cost
            pct = percent(100 * pnl / cost) if cost else percent(0)
            key = "portfolio.holding_t1" if h.t1_quantity else "portfolio.holding"
            lines.append(t(key, symbol=h.symbol, shares=counted(t, "trading.shares", h.total_quantity),
                           t1=quantity(h.t1_quantity),
                           avg=rupees(h.average_price_paise), ltp=rupees(h.ltp_paise), value=rupees(h.value_paise),
                           pnl=signed(pnl), pct=pct, day=signed(day[h.symbol])))
        invested = sum(costs.values())
        current = sum(h.value_paise for h in holdings)
        parts.append(t("portfolio.holdings_title") + "\n" + "\n\n".join(lines))
        parts.append(t("portfolio.totals", invested=rupees(invested), current=rupees(current),
                       pnl=signed(current - invested), day=signed(sum(day.values()))))
    if positions:
        lines = [t("portfolio.position", symbol=p.symbol, qty=quantity(p.net_quantity), ltp=rupees(p.ltp_paise),
                   pnl=signed(p.realized_pnl_paise + p.unrealized_pnl_paise)) for p in positions]
        parts.append(t("portfolio.positions_title") + "\n" + "\n".join(lines))
    if not parts:
        parts.append(t("portfolio.empty"))
    parts.append(await funds_line(ctx))
    body = "\n\n".join(parts)
    replies: list[Any] = texts(body)
    replies.append(Buttons(t("portfolio.more"), (Button(f"{NOTE_ACTION}:today", t("portfolio.button.note")),)))
    return replies


@router.on_intent("funds")
async def funds(ctx: TurnContext):
    return Text(await funds_line(ctx))


@router.on_payload(NOTE_ACTION)
async def note_tap(ctx: TurnContext):
    arg = ctx.payload_args[0] if ctx.payload_args else "today"
    try:
        day = trading_day(ctx.now) if arg == "today" else date.fromisoformat(arg)
    except ValueError:
        day = trading_day(ctx.now)
    return await contract_note(ctx, day)


async def contract_note(ctx: TurnContext, day: date):
    note = await ctx.services.engine.contract_note(ctx.user.account, day)
    if note is None or not note.lines:
        return Text(ctx.t("portfolio.note_none", date=ist_date(day)))
    content = json.dumps(note.to_json(), ensure_ascii=False, indent=1).encode()
    return [*texts(render_contract_note(note, ctx.t)),
            Document(filename=f"contract-note-{note.trade_date.isoformat()}.json", content=content,
                     caption=ctx.t("portfolio.note_caption", number=note.note_number))]


def render_contract_note(note: ContractNote, t: Translator) -> str:
    """The note as chat text: broker and SEBI registration, every trade with ISIN and trade id, the charges
    broken down, the net amount, and the simulated label."""
    out = [t("engine.note.title", date=ist_date(note.trade_date)), t("engine.note.simulated"),
           t("engine.note.header", broker=note.broker_name, sebi=note.sebi_registration, number=note.note_number,
             settlement=ist_date(note.settlement_date))]
    for ln in note.lines:
        out.append(t("engine.note.line", side=side_word(t, ln.side), quantity=quantity(ln.quantity),
                     symbol=ln.symbol, isin=ln.isin, price=rupees(ln.price_paise), trade_id=ln.trade_id,
                     time=ist_time(ln.trade_time)))
    c = note.charges
    out.append(t("engine.note.charges", brokerage=rupees(c.brokerage), stt=rupees(c.stt),
                 exchange=rupees(c.exchange), sebi=rupees(c.sebi), stamp=rupees(c.stamp), gst=rupees(c.gst),
                 total=rupees(c.total)))
    key = "engine.note.net_pay" if note.net_amount_paise >= 0 else "engine.note.net_receive"
    out.append(t(key, amount=rupees(abs(note.net_amount_paise))))
    return "\n".join(out)
