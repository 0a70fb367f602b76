"""The order being put together: slots gathered one question at a time, kept in the session as JSON.

Money is integer paise on the tick grid from the moment it enters the draft; the engine never sees a float.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any
from collections.abc import Mapping

from engine.api import OrderRequest, OrderType, Product, Side, Tier
from intents.types import Entities
from handlers.trading.common import on_tick, to_paise

from handlers.trading.states import DRAFT_KEY, PRICE, QUANTITY, SYMBOL, TRIGGER

__all__ = ["DRAFT_KEY", "Draft", "apply_entities", "from_entities", "missing_slot"]


@dataclass(frozen=True, slots=True)
class Draft:
    side: str                            # Side value
    symbol: str | None = None
    quantity: int | None = None
    order_type: str | None = None        # OrderType value; None until the user said market or a price
    price_paise: int | None = None
    trigger_paise: int | None = None
    product: str = Product.CNC.value
    amount_paise: int | None = None      # "buy TCS for ₹5,000": quantity is computed from the LTP
    part: str | None = None              # "sell half / all / a third": "1/2", "1", "1/3" of the holding
    source_message_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> Draft | None:
        if not raw or not raw.get("side"):
            return None
        fields = {k: raw.get(k) for k in cls.__dataclass_fields__ if k in raw}
        return cls(**fields)

    def with_(self, **changes: Any) -> Draft:
        return replace(self, **changes)

    def on_tick(self, tick: int) -> Draft:
        """Typed prices rounded to the day's tick (the engine's quote says which): the one place it happens."""
        return replace(self, price_paise=None if self.price_paise is None else on_tick(self.price_paise, tick),
                       trigger_paise=None if self.trigger_paise is None else on_tick(self.trigger_paise, tick))

    def request(self, *, account: str, client_order_id: str, tier: Tier) -> OrderRequest:
        assert self.symbol and self.quantity and self.order_type
        return OrderRequest(
            account=account, client_order_id=client_order_id, symbol=self.symbol, side=Side(self.side),
            quantity=int(self.quantity), order_type=OrderType(self.order_type), product=Product(self.product),
            price_paise=self.price_paise, trigger_paise=self.trigger_paise, tier=tier,
            source_message_id=self.source_message_id,
        )


def from_entities(side: str, entities: Entities, *, message_id: str | None, market_said: bool = True) -> Draft:
    """A draft from what the intent pipeline found in the message (symbol may still be missing)."""
    draft = Draft(side=side, source_message_id=message_id)
    return apply_entities(draft, entities, market_said=market_said)


def apply_entities(draft: Draft, entities: Entities, *, market_said: bool = True) -> Draft:
    """Merge entities into the draft. ``market_said=False`` ignores a MARKET order type the user did not
    actually ask for (the pipeline defaults to it), so the price-or-market question is still asked."""
    if not market_said and (entities.order_type or "").upper() == OrderType.MARKET.value:
        entities = replace(entities, order_type=None)
    changes: dict[str, Any] = {}
    if entities.symbol:
        changes["symbol"] = entities.symbol.upper()
    if entities.quantity and entities.quantity > 0:
        changes["quantity"] = int(entities.quantity)
    if entities.product in (Product.CNC.value, Product.MIS.value):
        changes["product"] = entities.product
    if entities.amount and entities.amount > 0 and not entities.quantity:
        changes["amount_paise"] = int(round(entities.amount * 100))
    draft = draft.with_(**changes)
    symbol = draft.symbol
    kind = (entities.order_type or "").upper() or None
    price = entities.price if entities.price and entities.price > 0 else None
    trigger = entities.trigger_price if entities.trigger_price and entities.trigger_price > 0 else None
    if symbol is None:
        # A price without a symbol is ambiguous ("buy 10 at 500": of what?): ask for the symbol, then the price.
        return draft.with_(order_type=OrderType.MARKET.value) if kind == OrderType.MARKET.value else draft
    if trigger is not None:
        kind = OrderType.SL.value if price is not None else OrderType.SL_M.value
        draft = draft.with_(trigger_paise=to_paise(trigger))
    if kind == OrderType.MARKET.value:
        return draft.with_(order_type=kind, price_paise=None)
    if price is not None:
        return draft.with_(order_type=kind if kind in (OrderType.LIMIT.value, OrderType.SL.value)
                           else OrderType.LIMIT.value, price_paise=to_paise(price))
    if kind == OrderType.SL_M.value:
        return draft.with_(order_type=kind)
    return draft


def missing_slot(draft: Draft) -> str | None:
    """The next question to ask, in the order the user expects them."""
    if not draft.symbol:
        return SYMBOL
    if not draft.quantity:
        return QUANTITY
    if not draft.order_type:
        return PRICE
    if draft.order_type in (OrderType.SL.value, OrderType.SL_M.value) and not draft.trigger_paise:
        return TRIGGER
    return None
