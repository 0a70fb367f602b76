"""Orders: "mera order hua kya" (recent orders with status), cancel an open order, modify price/quantity.

Every button here is bound server-side (``handlers/bound.py``): a row or button carries ``<action>:<nonce>``
and the order it is about is looked up in the user's own session, never read from the payload. Cancel and
modify then pass the new order's gate (``trading.flow.start_change``): PIN once a trading day, and a
two-minute card whose Confirm alone executes the change.
"""

from __future__ import annotations

from datetime import timedelta

from engine.api import OrderType, OrderView
from handlers.bound import BoundAction, Reason, Refused, refusal_text, take
from handlers.bound import issue as bind
from handlers.context import TurnContext
from handlers.conversation import interrupt
from handlers.trading.pin_guard import not_used, typed_pin
from handlers.reading import MODIFY_ORDER
from handlers.replies import Button, Buttons, ListReply, ListRow, Text
from handlers.router import UNHANDLED, Router
from handlers.trading.change import CANCEL, MODIFY, MODIFY_KEY, OrderChange
from handlers.trading.common import numbers_in, on_tick, to_paise
from handlers.trading.execute import OPEN_STATUSES, order_line, side_word, status_word
from handlers.trading.flow import start_change, until_
from handlers.trading.states import MODIFY_VALUE, TRADING
from locales.format import ist_time, quantity, rupees

router = Router("orders")
MANAGE, CANCEL_PICK, MODIFY_PRICE, MODIFY_QTY = "omanage", "ocancel", "omodprice", "omodqty"
#: Payloads of the unbound era ("omodyes:<order>:<value>" acted on the values it carried): refused.
RETIRED = ("omodyes", "ocancelyes")


def _button(ctx: TurnContext, action: str, order: OrderView) -> str:
    """A payload bound to ``order`` for this user (reusable until it expires: it only opens a menu or a card)."""
    ttl = timedelta(minutes=ctx.services.product.trading.buttons.menu_minutes)
    return bind(ctx.session, action, now=ctx.now, ttl=ttl, once=False, order_id=order.order_id).payload


def _row(ctx: TurnContext, action: str, order: OrderView) -> ListRow:
    price = order.price_paise or order.trigger_paise
    return ListRow(id=_button(ctx, action, order),
                   title=ctx.t("orders.row_title", side=side_word(ctx.t, order.side), qty=quantity(order.quantity),
                               symbol=order.symbol),
                   description=ctx.t("orders.row", price=rupees(price) if price else ctx.t("orders.market"),
                                     status=status_word(ctx.t, order), time=ist_time(order.placed_at)))


async def _open_orders(ctx: TurnContext) -> list[OrderView]:
    return [o for o in await ctx.services.engine.orders(ctx.user.account, open_only=True)
            if o.status in OPEN_STATUSES]


@router.on_intent("order_status")
async def order_status(ctx: TurnContext):
    limit = ctx.services.product.trading.orders.recent_limit
    orders = sorted(await ctx.services.engine.orders(ctx.user.account), key=lambda o: o.placed_at, reverse=True)
    if not orders:
        return Text(ctx.t("orders.none"))
    body = ctx.t("orders.recent_title") + "\n\n" + "\n".join(order_line(ctx.t, o) for o in orders[:limit])
    open_orders = [o for o in orders if o.status in OPEN_STATUSES]
    if not open_orders:
        return Text(body)
    return [Text(body), ListReply(body=ctx.t("orders.manage_prompt"), button=ctx.t("orders.button.manage"),
                                  rows=tuple(_row(ctx, MANAGE, o) for o in open_orders[:10]))]


async def _named_open_orders(ctx: TurnContext) -> list[OrderView] | Text:
    """The open orders the message is about: those of the stock it names, else all (or what to say instead)."""
    open_orders = await _open_orders(ctx)
    symbol = ctx.match.entities.symbol
    if symbol:
        open_orders = [o for o in open_orders if o.symbol == symbol.upper()]
        if not open_orders:
            return Text(ctx.t("orders.no_open_symbol", symbol=symbol.upper()))
    return open_orders or Text(ctx.t("orders.no_open"))


@router.on_intent("cancel_order")
async def cancel_order(ctx: TurnContext):
    """"cancel my TCS order": the one open TCS order goes straight to its card (PIN first if due); several or
    none named: pick from a list."""
    open_orders = await _named_open_orders(ctx)
    if isinstance(open_orders, Text):
        return open_orders
    if ctx.match.entities.symbol and len(open_orders) == 1:
        return await start_change(ctx, OrderChange(order_id=open_orders[0].order_id, kind=CANCEL))
    return ListReply(body=ctx.t("orders.cancel_pick"), button=ctx.t("orders.button.choose"),
                     rows=tuple(_row(ctx, CANCEL_PICK, o) for o in open_orders[:10]))


@router.on_intent(MODIFY_ORDER)
async def modify_in_words(ctx: TurnContext):
    """"change my reliance order price to 1310" / "TCS order quantity 5 karo": the same change card, PIN and
    expiry as a tapped change. Which order is unclear → the list; no new value → that order's change buttons."""
    open_orders = await _named_open_orders(ctx)
    if isinstance(open_orders, Text):
        return open_orders
    if len(open_orders) > 1:
        return ListReply(body=ctx.t("orders.manage_prompt"), button=ctx.t("orders.button.manage"),
                         rows=tuple(_row(ctx, MANAGE, o) for o in open_orders[:10]))
    order, e = open_orders[0], ctx.match.entities
    price, qty = _new_value(order, e.price or e.trigger_price, e.quantity, numbers_in(ctx.text))
    if price:
        if order.order_type in (OrderType.MARKET, OrderType.SL_M):
            return Text(ctx.t("orders.modify_no_price"))
        quote = await ctx.services.engine.quote(order.symbol)
        return await start_change(ctx, OrderChange(order_id=order.order_id, kind=MODIFY, price_paise=on_tick(
            to_paise(price), quote.tick_paise if quote else 1)))
    if qty:
        return await start_change(ctx, OrderChange(order_id=order.order_id, kind=MODIFY, quantity=qty))
    return _manage_buttons(ctx, order)


def _new_value(order: OrderView, price: float | None, qty: int | None,
               numbers: list[float]) -> tuple[float | None, int | None]:
    """The new price or quantity a sentence gives. A lone number ("…order to 3010") is the price when it is near
    the order's own price (within half of it either way), else a whole number is the quantity."""
    if price and price > 0:
        return price, None
    if len(numbers) != 1 or numbers[0] <= 0:
        return None, (int(qty) if qty and qty > 0 else None)
    value, current = numbers[0], (order.price_paise or order.trigger_paise or 0) / 100
    if current and current / 2 <= value <= current * 2:
        return value, None
    return None, (int(value) if value == int(value) else None)


async def _tapped_order(ctx: TurnContext) -> tuple[BoundAction, OrderView] | Text:
    """The open order a tapped button was bound to, or the answer to give instead."""
    tapped = take(ctx.session, ctx.message.payload, ctx.now)
    if isinstance(tapped, Refused):
        return Text(refusal_text(ctx.t, tapped.reason))
    order = await ctx.services.engine.get_order(ctx.user.account, str(tapped.params.get("order_id", "")))
    if order is None or order.status not in OPEN_STATUSES:
        return Text(ctx.t("orders.not_open"))
    return tapped, order


@router.on_payload(MANAGE)
async def manage(ctx: TurnContext):
    found = await _tapped_order(ctx)
    if isinstance(found, Text):
        return found
    return _manage_buttons(ctx, found[1])


def _manage_buttons(ctx: TurnContext, order: OrderView) -> Buttons:
    return Buttons(order_line(ctx.t, order), (
        Button(_button(ctx, MODIFY_PRICE, order), ctx.t("orders.button.modify_price")),
        Button(_button(ctx, MODIFY_QTY, order), ctx.t("orders.button.modify_qty")),
        Button(_button(ctx, CANCEL_PICK, order), ctx.t("orders.button.cancel_order"))))


@router.on_payload(CANCEL_PICK)
async def cancel_pick(ctx: TurnContext):
    found = await _tapped_order(ctx)
    if isinstance(found, Text):
        return found
    return await start_change(ctx, OrderChange(order_id=found[1].order_id, kind=CANCEL))


@router.on_payload(*RETIRED)
async def retired(ctx: TurnContext):
    """An old "Yes" button from before buttons were bound (or a crafted one): acts on nothing."""
    return Text(refusal_text(ctx.t, Reason.UNKNOWN))


@router.on_payload("okeep")
async def keep(ctx: TurnContext):
    interrupt(ctx.session)
    return Text(ctx.t("orders.kept"))


@router.on_payload(MODIFY_PRICE, MODIFY_QTY)
async def modify_start(ctx: TurnContext):
    found = await _tapped_order(ctx)
    if isinstance(found, Text):
        return found
    tapped, order = found
    field = "price" if tapped.action == MODIFY_PRICE else "qty"
    if field == "price" and order.order_type in (OrderType.MARKET, OrderType.SL_M):
        return Text(ctx.t("orders.modify_no_price"))
    TRADING.enter(ctx.session, MODIFY_VALUE, now=ctx.now, until=until_(ctx),
                  **{MODIFY_KEY: {"order_id": order.order_id, "field": field}})
    return Text(ctx.t(f"orders.modify_ask_{field}", symbol=order.symbol,
                      current=rupees(order.price_paise or 0) if field == "price" else quantity(order.quantity)))


@router.on_awaiting(MODIFY_VALUE)
async def modify_value(ctx: TurnContext):
    spec = ctx.session.data.get(MODIFY_KEY) or {}
    if ctx.match.intent == "deny":
        TRADING.end(ctx.session)
        return Text(ctx.t("orders.kept"))
    if await typed_pin(ctx):
        return not_used(ctx, ctx.t("orders.modify_again"))
    values = numbers_in(ctx.text)
    if len(values) != 1 or values[0] <= 0:
        if ctx.match.intent not in ("out_of_scope", "clarify") and not values:
            TRADING.end(ctx.session)
            return UNHANDLED
        return Text(ctx.t("orders.modify_again"))
    order = await ctx.services.engine.get_order(ctx.user.account, str(spec.get("order_id", "")))
    if order is None or order.status not in OPEN_STATUSES:
        TRADING.end(ctx.session)
        return Text(ctx.t("orders.not_open"))
    if spec.get("field") == "price":
        quote = await ctx.services.engine.quote(order.symbol)
        change = OrderChange(order_id=order.order_id, kind=MODIFY,
                             price_paise=on_tick(to_paise(values[0]), quote.tick_paise if quote else 1))
    else:
        if values[0] != int(values[0]):
            return Text(ctx.t("orders.modify_again"))
        change = OrderChange(order_id=order.order_id, kind=MODIFY, quantity=int(values[0]))
    return await start_change(ctx, change)
