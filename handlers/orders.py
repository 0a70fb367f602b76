"""Orders: "mera order hua kya" (recent orders with status), cancel an open order, modify price/quantity.

Every action goes through ``engine.get_order(account, …)`` with the user's own account, so a tapped or typed
order id of someone else simply is not found. Cancel and modify ask for a confirmation tap first.
"""

from __future__ import annotations

from datetime import timedelta

from engine.api import OrderStatus, OrderType, OrderView
from handlers.context import TurnContext
from handlers.replies import Button, Buttons, ListReply, ListRow, Text
from handlers.router import UNHANDLED, Router
from handlers.trading_common import numbers_in, on_tick, rejection_text, setting, to_paise
from handlers.trading_execute import order_text, side_word
from locales.format import ist_time, quantity, rupees

router = Router("orders")
OPEN_STATUSES = (OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING)


def status_word(ctx: TurnContext, order: OrderView) -> str:
    return ctx.t(f"orders.status.{order.status.name.lower()}")


def order_line(ctx: TurnContext, order: OrderView) -> str:
    price = order.average_price_paise or order.price_paise or order.trigger_paise
    shown = rupees(price) if price else ctx.t("orders.market")
    return ctx.t("orders.line", side=side_word(ctx.t, order.side), qty=quantity(order.quantity), symbol=order.symbol,
                 price=shown, status=status_word(ctx, order), filled=quantity(order.filled_quantity),
                 time=ist_time(order.placed_at), order_id=order.order_id)


def _row(ctx: TurnContext, action: str, order: OrderView) -> ListRow:
    price = order.price_paise or order.trigger_paise
    return ListRow(id=f"{action}:{order.order_id}",
                   title=ctx.t("orders.row_title", side=side_word(ctx.t, order.side), qty=quantity(order.quantity),
                               symbol=order.symbol),
                   description=ctx.t("orders.row", price=rupees(price) if price else ctx.t("orders.market"),
                                     status=status_word(ctx, order), time=ist_time(order.placed_at)))


async def _open_orders(ctx: TurnContext) -> list[OrderView]:
    return [o for o in await ctx.services.engine.orders(ctx.user.account, open_only=True)
            if o.status in OPEN_STATUSES]


@router.on_intent("order_status")
async def order_status(ctx: TurnContext):
    limit = int(setting(ctx, "orders", "recent_limit", 8))
    orders = sorted(await ctx.services.engine.orders(ctx.user.account), key=lambda o: o.placed_at, reverse=True)
    if not orders:
        return Text(ctx.t("orders.none"))
    body = ctx.t("orders.recent_title") + "\n\n" + "\n".join(order_line(ctx, o) for o in orders[:limit])
    open_orders = [o for o in orders if o.status in OPEN_STATUSES]
    if not open_orders:
        return Text(body)
    return [Text(body), ListReply(body=ctx.t("orders.manage_prompt"), button=ctx.t("orders.button.manage"),
                                  rows=tuple(_row(ctx, "omanage", o) for o in open_orders[:10]))]


@router.on_intent("cancel_order")
async def cancel_order(ctx: TurnContext):
    open_orders = await _open_orders(ctx)
    if not open_orders:
        return Text(ctx.t("orders.no_open"))
    return ListReply(body=ctx.t("orders.cancel_pick"), button=ctx.t("orders.button.choose"),
                     rows=tuple(_row(ctx, "ocancel", o) for o in open_orders[:10]))


async def _own_open(ctx: TurnContext) -> OrderView | None:
    order_id = ctx.payload_args[0] if ctx.payload_args else ""
    order = await ctx.services.engine.get_order(ctx.user.account, order_id) if order_id else None
    return order if order is not None and order.status in OPEN_STATUSES else None


@router.on_payload("omanage")
async def manage(ctx: TurnContext):
    order = await _own_open(ctx)
    if order is None:
        return Text(ctx.t("orders.not_open"))
    oid = order.order_id
    return Buttons(order_line(ctx, order), (Button(f"omodprice:{oid}", ctx.t("orders.button.modify_price")),
                                            Button(f"omodqty:{oid}", ctx.t("orders.button.modify_qty")),
                                            Button(f"ocancel:{oid}", ctx.t("orders.button.cancel_order"))))


@router.on_payload("ocancel")
async def cancel_pick(ctx: TurnContext):
    order = await _own_open(ctx)
    if order is None:
        return Text(ctx.t("orders.not_open"))
    return Buttons(ctx.t("orders.cancel_confirm", line=order_line(ctx, order)),
                   (Button(f"ocancelyes:{order.order_id}", ctx.t("orders.button.yes_cancel")),
                    Button("okeep", ctx.t("orders.button.keep"))))


@router.on_payload("ocancelyes")
async def cancel_yes(ctx: TurnContext):
    order = await _own_open(ctx)
    if order is None:
        return Text(ctx.t("orders.not_open"))
    result = await ctx.services.engine.cancel(ctx.user.account, order.order_id)
    if result.order is not None:
        ctx.record_order(result.order)
    if not result.accepted:
        return Text(ctx.t("orders.cancel_failed", reason=rejection_text(ctx.t, result.rejection)))
    return Text(ctx.t("orders.cancelled", symbol=order.symbol, order_id=order.order_id))


@router.on_payload("okeep")
async def keep(ctx: TurnContext):
    ctx.session.clear()
    return Text(ctx.t("orders.kept"))


@router.on_payload("omodprice", "omodqty")
async def modify_start(ctx: TurnContext):
    order = await _own_open(ctx)
    if order is None:
        return Text(ctx.t("orders.not_open"))
    field = "price" if ctx.message.payload.startswith("omodprice") else "qty"
    if field == "price" and order.order_type in (OrderType.MARKET, OrderType.SL_M):
        return Text(ctx.t("orders.modify_no_price"))
    until = ctx.now + timedelta(minutes=int(setting(ctx, "confirmation", "dialogue_minutes", 30)))
    ctx.session.expect("modify_value", until=until, modify={"order_id": order.order_id, "field": field})
    return Text(ctx.t(f"orders.modify_ask_{field}", symbol=order.symbol,
                      current=rupees(order.price_paise or 0) if field == "price" else quantity(order.quantity)))


@router.on_awaiting("modify_value")
async def modify_value(ctx: TurnContext):
    spec = ctx.session.data.get("modify") or {}
    if ctx.match.intent == "deny":
        ctx.session.clear()
        return Text(ctx.t("orders.kept"))
    values = numbers_in(ctx.text)
    if len(values) != 1 or values[0] <= 0:
        if ctx.match.intent not in ("out_of_scope", "clarify") and not values:
            ctx.session.clear()
            return UNHANDLED
        return Text(ctx.t("orders.modify_again"))
    order = await ctx.services.engine.get_order(ctx.user.account, str(spec.get("order_id", "")))
    if order is None or order.status not in OPEN_STATUSES:
        ctx.session.clear()
        return Text(ctx.t("orders.not_open"))
    if spec.get("field") == "price":
        quote = await ctx.services.engine.quote(order.symbol)
        paise = on_tick(to_paise(values[0]), quote.tick_paise if quote else 1)
        arg, shown = f"p{paise}", ctx.t("orders.new_price", price=rupees(paise))
    else:
        if values[0] != int(values[0]):
            return Text(ctx.t("orders.modify_again"))
        arg, shown = f"q{int(values[0])}", ctx.t("orders.new_qty", qty=quantity(int(values[0])))
    ctx.session.clear()
    return Buttons(ctx.t("orders.modify_confirm", line=order_line(ctx, order), change=shown),
                   (Button(f"omodyes:{order.order_id}:{arg}", ctx.t("orders.button.yes_modify")),
                    Button("okeep", ctx.t("orders.button.keep"))))


@router.on_payload("omodyes")
async def modify_yes(ctx: TurnContext):
    order = await _own_open(ctx)
    args = ctx.payload_args
    if order is None or len(args) < 2 or not args[1][1:].isdigit():
        return Text(ctx.t("orders.not_open"))
    value = int(args[1][1:])
    kwargs = {"price_paise": value} if args[1][0] == "p" else {"quantity": value}
    result = await ctx.services.engine.modify(ctx.user.account, order.order_id, **kwargs)
    if result.order is not None:
        ctx.record_order(result.order)
    if not result.accepted or result.order is None:
        return Text(ctx.t("orders.modify_failed", reason=rejection_text(ctx.t, result.rejection)))
    return Text(ctx.t("orders.modified", result=order_text(ctx.t, result.order)))


