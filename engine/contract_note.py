"""Contract notes: one per account per trade day, built from the trade log, labelled simulated.

``build_contract_note`` gives the data (``ContractNote.to_json()`` for machines); the chat text is rendered
by ``handlers/portfolio.py`` from ``locales/<lang>/engine.toml`` (keys ``engine.note.*``).
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any, Mapping, Sequence

from engine.api import Charges, ContractNote, ContractNoteLine, Side, Trade
from engine.calendar import TradingCalendar
from engine.instruments import InstrumentMaster


def note_number(account: str, day: date) -> str:
    """Stable, and without the phone number in it: a short hash of the account plus the date."""
    digest = hashlib.sha256(account.encode()).hexdigest()[:8].upper()
    return f"CN-{day:%Y%m%d}-{digest}"


def build_contract_note(*, account: str, day: date, rows: Sequence[tuple[Trade, Mapping[str, Any]]],
                        orders: Mapping[str, Any], instruments: InstrumentMaster, calendar: TradingCalendar,
                        broker_name: str = "GridWorks Securities (simulated)",
                        sebi_registration: str = "SIMULATED", exchange: str = "NSE") -> ContractNote:
    lines, buy, sell = [], 0, 0
    totals = dict.fromkeys(("brokerage", "stt", "exchange", "sebi", "stamp", "gst"), 0)
    for trade, raw in rows:
        inst = instruments.get(trade.symbol)
        order = orders.get(trade.order_id)
        lines.append(ContractNoteLine(order_id=trade.order_id, trade_id=trade.trade_id, symbol=trade.symbol,
                                      isin=inst.isin if inst else "", side=trade.side, quantity=trade.quantity,
                                      price_paise=trade.price_paise,
                                      order_time=order.placed_at if order is not None else trade.at,
                                      trade_time=trade.at))
        value = trade.quantity * trade.price_paise
        if trade.side is Side.BUY:
            buy += value
        else:
            sell += value
        for k in totals:
            totals[k] += int(raw[f"ch_{k}"])
    charges = Charges(**totals)
    return ContractNote(note_number=note_number(account, day), account=account, trade_date=day,
                        settlement_date=calendar.settlement_date(day), lines=tuple(lines), charges=charges,
                        net_amount_paise=buy - sell + charges.total, simulated=True, broker_name=broker_name,
                        sebi_registration=sebi_registration, exchange=exchange, buy_value_paise=buy,
                        sell_value_paise=sell)
