"""Every rejection code the engine can return, in one place, with the parameters its text uses.

The caller renders ``engine.reject.<code>`` from ``locales/<lang>/engine.toml`` with these parameters; money
parameters arrive already formatted as rupees (strings) so every language shows the same figures.
"""

from __future__ import annotations

from typing import Any

from engine.api import Rejection

#: code -> the placeholders its localized text uses (a test checks every locale against this table).
CODES: dict[str, tuple[str, ...]] = {
    "unknown_symbol": ("symbol",),
    "index_not_tradable": ("symbol",),
    "quantity_invalid": ("quantity",),
    "quantity_cap": ("quantity", "max_quantity"),
    "value_cap": ("value", "max_value"),
    "price_required": ("order_type",),
    "trigger_required": ("order_type",),
    "price_invalid": ("price",),
    "tick": ("price", "tick"),
    "band": ("price", "lower", "upper"),
    "sl_price_trigger": ("price", "trigger"),
    "trigger_crossed": ("trigger", "ltp"),
    "mis_cutoff": ("cutoff",),
    "insufficient_funds": ("required", "available"),
    "insufficient_holdings": ("symbol", "quantity", "available"),
    "account_unknown": (),
    "order_not_found": ("order_id",),
    "order_not_open": ("order_id", "status"),
    "modify_quantity_below_filled": ("quantity", "filled"),
}


def reject(code: str, **params: Any) -> Rejection:
    expected = CODES[code]
    if set(params) != set(expected):
        raise ValueError(f"rejection {code!r} needs exactly {expected}, got {tuple(params)}")
    return Rejection(code, params)
