"""The confirmation card's answers: Confirm / Cancel taps and typed "yes" / "no".

A card is bound to one pending action — a new order or a change to an open order — and valid for two
minutes. Its buttons are bound server-side (``handlers/bound.py``): a tap is looked up in the user's session,
so another user's, a crafted or a replayed payload finds nothing to act on. The card is consumed before
anything executes, and a new order's client_order_id is derived from it, so a double tap, a replay or a
stale card can never act twice; each gets a truthful, polite answer instead.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Mapping

from engine.api import Tier
from handlers.bound import Reason, Refused, refusal_text, spend, take
from handlers.context import TurnContext
from handlers.conversation import interrupt
# Modules, not names: the event consumers use the trading texts, so these are a cycle when they load first.
from handlers import notifications, receipts
from handlers.replies import Text
from handlers.router import UNHANDLED, Router
from handlers.security import looks_like_pin_attempt
from handlers.trading.card import CANCEL_ACTION, CONFIRM_ACTION, PENDING_KEY, client_order_id, pending_expired
from handlers.trading.change import OrderChange, execute_change
from handlers.trading.draft import Draft
from handlers.trading.flow import cancel_dialogue, no, restart, start_order, yes
from handlers.trading.states import CONFIRMATION

router = Router("trading.confirm")
LAST_KEY = "last_confirmed"   # the card executed last, so a second "yes" is answered truthfully


async def _confirm(ctx: TurnContext, *, pro: bool):
    pending = ctx.session.data.get(PENDING_KEY)
    last = ctx.session.data.get(LAST_KEY) or {}
    if ctx.message.payload is not None:
        tapped = take(ctx.session, ctx.message.payload, ctx.now)
        if isinstance(tapped, Refused):
            return await _refused(ctx, tapped, pending)
        card = {"id": str(tapped.params.get("pid")), "nonce": tapped.nonce, "kind": tapped.params.get("kind")}
    elif pending:
        card = {"id": pending["id"], "nonce": pending["nonce"], "kind": pending.get("kind")}
    elif last:
        return await _already_or_stale(ctx, last)           # a second "yes"
    else:
        return Text(ctx.t("trading.confirm.nothing"))
    if not pending or pending.get("id") != card["id"] or pending.get("nonce") != card["nonce"]:
        return await _already_or_stale(ctx, card)
    if pending_expired(pending, ctx.now):
        return _expired(ctx, pending)
    spend(ctx.session, card["nonce"])   # a typed "yes" answers the card: its Confirm button is used too
    change = OrderChange.from_json(pending.get("change"))
    draft = Draft.from_json(pending.get("draft"))
    interrupt(ctx.session)        # consumed before acting: a second tap can never reach the engine via this card
    ctx.session.data[LAST_KEY] = card
    if change is not None:
        return await execute_change(ctx, change)
    if draft is None:
        return Text(ctx.t("trading.confirm.nothing"))
    request = draft.request(account=ctx.user.account, client_order_id=client_order_id(card["id"], card["nonce"]),
                            tier=ctx.tier)
    result = await ctx.services.engine.place(request)
    if result.order is not None:
        ctx.record_order(result.order)
    replies = [Text(notifications.command_text(ctx.t, result))]
    if result.duplicate and not ctx.retry:      # (on our own retry the user never heard the first answer)
        replies.insert(0, Text(ctx.t("trading.confirm.already")))
    if pro:
        await receipts.command_receipts(ctx, result)
    return replies


def _expired(ctx: TurnContext, pending: Mapping[str, Any]):
    interrupt(ctx.session)
    return Text(ctx.t("orders.change_expired" if pending.get("kind") == "change" else "trading.confirm.expired"))


async def _refused(ctx: TurnContext, refused: Refused, pending: Mapping[str, Any] | None):
    """A Confirm payload this user's session does not hold as live: answer truthfully, execute nothing."""
    was = refused.was
    if refused.reason == Reason.USED and was is not None:
        return await _already_or_stale(ctx, {"id": str(was.params.get("pid")), "nonce": was.nonce,
                                             "kind": was.params.get("kind")}, replayed=True)
    if refused.reason == Reason.EXPIRED and was is not None:
        if pending and pending.get("id") == was.params.get("pid"):
            return _expired(ctx, pending)
        return Text(ctx.t("orders.change_expired" if was.params.get("kind") == "change"
                          else "trading.confirm.expired"))
    return Text(ctx.t("trading.confirm.stale"))


async def _already_or_stale(ctx: TurnContext, card: Mapping[str, Any], *, replayed: bool = False):
    """A replayed, double-tapped or outdated confirmation: say what is true and execute nothing."""
    if card.get("kind") == "change":
        if replayed or ctx.message.payload is None:
            return Text(ctx.t("orders.change_already"))
        return Text(refusal_text(ctx.t, Reason.UNKNOWN))
    coid = client_order_id(str(card.get("id")), str(card.get("nonce")))
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


@router.on_awaiting(CONFIRMATION, tier=Tier.LITE)
async def confirmation_answer(ctx: TurnContext):
    return await _confirmation_text(ctx, pro=False)


@router.on_awaiting(CONFIRMATION, tier=Tier.PRO)
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
    tapped = take(ctx.session, ctx.message.payload, ctx.now)
    if isinstance(tapped, Refused):
        return Text(refusal_text(ctx.t, tapped.reason))
    pending = ctx.session.data.get(PENDING_KEY)
    if not pending or pending.get("id") != tapped.params.get("pid"):
        return Text(ctx.t("trading.confirm.cancel_stale"))
    spend(ctx.session, str(pending.get("nonce")))       # the card is answered: its Confirm is spent too
    return cancel_dialogue(ctx)


@router.on_intent("confirm", tier=Tier.LITE)
async def stray_confirm(ctx: TurnContext):
    return await _confirm(ctx, pro=False)


@router.on_intent("confirm", tier=Tier.PRO)
async def stray_confirm_pro(ctx: TurnContext):
    return await _confirm(ctx, pro=True)
