"""Every rejection code the engine can return, in one place, with the parameters its text uses.

The caller renders ``engine.reject.<code>`` from ``locales/<lang>/engine.toml`` with these parameters,
formatting each by its declared kind; the engine itself never formats for people.
"""

from __future__ import annotations

from typing import Any

from engine.api import Rejection

#: code -> the placeholders its localized text uses (a test checks every locale against this table).
MONEY, COUNT, TIME, TEXT = "money", "count", "time", "text"

#: code -> its parameters and their kinds (a test checks every locale's placeholders against this table).
#: The engine passes values, never display strings: money as integer paise, counts as ints, times as ISO-8601
#: strings; the caller formats each by its kind in the user's language (handlers.trading.common).
CODES: dict[str, dict[str, str]] = {
    "unknown_symbol": {"symbol": TEXT},
    "index_not_tradable": {"symbol": TEXT},
    "quantity_invalid": {"quantity": TEXT},
    "quantity_cap": {"quantity": COUNT, "max_quantity": COUNT},
    "value_cap": {"value": MONEY, "max_value": MONEY},
    "price_required": {"order_type": TEXT},
    "trigger_required": {"order_type": TEXT},
    "price_invalid": {"price": MONEY},
    "tick": {"price": MONEY, "tick": MONEY},
    "band": {"price": MONEY, "lower": MONEY, "upper": MONEY},
    "sl_price_trigger": {"price": MONEY, "trigger": MONEY},
    "trigger_crossed": {"trigger": MONEY, "ltp": MONEY},
    "mis_cutoff": {"cutoff": TIME},
    "insufficient_funds": {"required": MONEY, "available": MONEY},
    "insufficient_holdings": {"symbol": TEXT, "quantity": COUNT, "available": COUNT},
    "account_unknown": {},
    "order_not_found": {"order_id": TEXT},
    "order_not_open": {"order_id": TEXT, "status": TEXT},
    "modify_quantity_below_filled": {"quantity": COUNT, "filled": COUNT},
}


def reject(code: str, **params: Any) -> Rejection:
    expected = CODES[code]
    if set(params) != set(expected):
        raise ValueError(f"rejection {code!r} needs exactly {tuple(expected)}, got {tuple(params)}")
    return Rejection(code, params)
