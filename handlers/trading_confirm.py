"""The confirmation card's answers: Confirm / Cancel taps and typed "yes" / "no".

A card is bound to one pending order (id + nonce in the payload and the session) and valid for two minutes.
It is consumed before the order is placed, and the client_order_id is derived from it, so a double tap, a
replay or a stale card can never place anything twice; each gets a truthful, polite answer instead.
"""

from __future__ import annotations

from engine.api import Tier
from handlers.context import TurnContext
from handlers.replies import Text
from handlers.router import UNHANDLED, Router
from handlers.security import looks_like_pin_attempt
from handlers.trading_card import CANCEL_ACTION, CONFIRM_ACTION, PENDING_KEY, client_order_id, pending_expired
from handlers.trading_draft import Draft
from handlers.trading_execute import log_pro_order, outcome_text, receipt_job
from handlers.trading_flow import cancel_dialogue, no, restart, start_order, yes

router = Router("trading.confirm")
LAST_KEY = "last_confirmed"   # the card executed last, so a second "yes" is answered truthfully


async def _confirm(ctx: TurnContext, *, pro: bool):
    pending = ctx.session.data.get(PENDING_KEY)
    args = ctx.payload_args
    last = ctx.session.data.get(LAST_KEY) or {}
    if ctx.message.payload is not None:
        pid, nonce = (args + ("", ""))[:2]
    elif pending:
        pid, nonce = pending["id"], pending["nonce"]
    elif last:
        return await _already_or_stale(ctx, str(last.get("id")), str(last.get("nonce")))   # a second "yes"
    else:
        return Text(ctx.t("trading.confirm.nothing"))
    if not pending or pending.get("id") != pid or pending.get("nonce") != nonce:
        return await _already_or_stale(ctx, pid, nonce)
    if pending_expired(pending, ctx.now):
        ctx.session.clear()
        return Text(ctx.t("trading.confirm.expired"))
    draft = Draft.from_json(pending["draft"])
    ctx.session.clear()           # consumed before placing: a second tap can never reach the engine via this card
    ctx.session.data[LAST_KEY] = {"id": pid, "nonce": nonce}
    if draft is None:
        return Text(ctx.t("trading.confirm.nothing"))
    request = draft.request(account=ctx.user.account, client_order_id=client_order_id(pid, nonce), tier=ctx.tier)
    result = await ctx.services.engine.place(request)
    if result.order is not None:
        ctx.record_order(result.order)
    replies = [Text(outcome_text(ctx.t, result))]
    if result.duplicate and not ctx.retry:      # (on our own retry the user never heard the first answer)
        replies.insert(0, Text(ctx.t("trading.confirm.already")))
    if pro and result.accepted and result.order is not None and not result.duplicate:
        await log_pro_order(ctx.services, ctx.user, result.order)
        if result.trades:
            ctx.defer(receipt_job(ctx.services, ctx.user, ctx.lang, result.order, result.trades))
    return replies


async def _already_or_stale(ctx: TurnContext, pid: str, nonce: str):
    """A replayed, double-tapped or outdated confirmation: say what is true and execute nothing."""
    coid = client_order_id(pid, nonce)
    for order in await ctx.services.engine.orders(ctx.user.account):
        if order.client_order_id == coid:
            return Text(ctx.t("trading.confirm.already_done", order_id=order.order_id,
                              status=ctx.t(f"orders.status.{order.status.name.lower()}")))
    return Text(ctx.t("trading.confirm.stale"))


@router.on_payload(CONFIRM_ACTION, tier=Tier.LITE)
async def confirm_tap(ctx: TurnContext):
    return await _confirm(ctx, pro=False)


@router.on_payload(CONFIRM_ACTION, tier=Tier.PRO)
async def confirm_tap_pro(ctx: TurnContext):
    return await _confirm(ctx, pro=True)


@router.on_awaiting("confirmation", tier=Tier.LITE)
async def confirmation_answer(ctx: TurnContext):
    return await _confirmation_text(ctx, pro=False)


@router.on_awaiting("confirmation", tier=Tier.PRO)
async def confirmation_answer_pro(ctx: TurnContext):
    return await _confirmation_text(ctx, pro=True)


async def _confirmation_text(ctx: TurnContext, *, pro: bool):
    if yes(ctx):
        return await _confirm(ctx, pro=pro)
    if no(ctx):
        return cancel_dialogue(ctx)
    if restart(ctx):
        return await start_order(ctx)
    if looks_like_pin_attempt(ctx.text) or ctx.match.intent in ("confirm", "deny"):
        # A bare number or an unsure yes/no: never guess on a money decision; the card stays as it is.
        return Text(ctx.t("trading.confirm.reminder"))
    return UNHANDLED              # another question: the card stays valid until it expires


@router.on_payload(CANCEL_ACTION)
async def cancel_tap(ctx: TurnContext):
    pending = ctx.session.data.get(PENDING_KEY)
    pid = ctx.payload_args[0] if ctx.payload_args else ""
    if not pending or pending.get("id") != pid:
        return Text(ctx.t("trading.confirm.cancel_stale"))
    return cancel_dialogue(ctx)


@router.on_intent("confirm", tier=Tier.LITE)
async def stray_confirm(ctx: TurnContext):
    return await _confirm(ctx, pro=False)


@router.on_intent("confirm", tier=Tier.PRO)
async def stray_confirm_pro(ctx: TurnContext):
    return await _confirm(ctx, pro=True)
