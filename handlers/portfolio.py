"""Portfolio: holdings with average cost, LTP and P&L (total and today), intraday positions, funds, and the
day's contract note on request (a text summary plus the note as a JSON document)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import date, datetime
from enum import Enum
from typing import Any

from handlers.context import TurnContext
from handlers.replies import Button, Buttons, Document, Text, texts
from handlers.router import Router
from handlers.security import trading_day
from locales.format import ist_date, percent, quantity, rupees

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


@router.on_intent("portfolio")
async def portfolio(ctx: TurnContext):
    if _NOTE_WORDS.search(ctx.text):
        return await contract_note(ctx, trading_day(ctx.now))
    engine, t = ctx.services.engine, ctx.t
    holdings = await engine.holdings(ctx.user.account)
    positions = [p for p in await engine.positions(ctx.user.account) if p.net_quantity or p.realized_pnl_paise]
    parts: list[str] = []
    if holdings:
        lines = []
        for h in holdings:
            cost = h.average_price_paise * h.total_quantity
            pct = percent(100 * h.pnl_paise / cost) if cost else percent(0)
            key = "portfolio.holding_t1" if h.t1_quantity else "portfolio.holding"
            lines.append(t(key, symbol=h.symbol, qty=quantity(h.total_quantity), t1=quantity(h.t1_quantity),
                           avg=rupees(h.average_price_paise), ltp=rupees(h.ltp_paise), value=rupees(h.value_paise),
                           pnl=signed(h.pnl_paise), pct=pct, day=signed(h.day_pnl_paise)))
        invested = sum(h.average_price_paise * h.total_quantity for h in holdings)
        current = sum(h.value_paise for h in holdings)
        parts.append(t("portfolio.holdings_title") + "\n" + "\n\n".join(lines))
        parts.append(t("portfolio.totals", invested=rupees(invested), current=rupees(current),
                       pnl=signed(current - invested), day=signed(sum(h.day_pnl_paise for h in holdings))))
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
        return Text(ctx.t("portfolio.note_none", date=day.strftime("%d %b %Y")))
    t = ctx.t
    lines = [t("portfolio.note_line", side=t("trading.side.buy" if line.side.value == "BUY" else "trading.side.sell"),
               qty=quantity(line.quantity), symbol=line.symbol, price=rupees(line.price_paise),
               time=line.trade_time.strftime("%H:%M")) for line in note.lines]
    key = "portfolio.note_pay" if note.net_amount_paise >= 0 else "portfolio.note_receive"
    body = t("portfolio.note_title", number=note.note_number, date=ist_date(_at(note.trade_date)),
             settlement=note.settlement_date.strftime("%d %b %Y")) + "\n" + "\n".join(lines) + "\n" + t(
        "portfolio.note_charges", charges=rupees(note.charges.total)) + "\n" + t(
        key, amount=rupees(abs(note.net_amount_paise)))
    if note.simulated:
        body += "\n" + t("portfolio.note_simulated")
    content = json.dumps(_jsonable(asdict(note)), ensure_ascii=False, indent=1).encode()
    return [*texts(body), Document(filename=f"contract-note-{note.trade_date.isoformat()}.json", content=content,
                                   caption=t("portfolio.note_caption", number=note.note_number))]


def _at(day: date) -> datetime:
    from engine.clock import IST

    return datetime(day.year, day.month, day.day, 12, tzinfo=IST)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value
