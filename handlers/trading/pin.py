"""Trading PIN conversations: choose a PIN (once), enter it (once per trading day, before the first order or
order change).

Policy (hashing, attempts, lockout) lives in ``handlers/security.py``; these handlers only talk. A PIN is
never echoed, logged or stored in the session; the reading gate also keeps it out of the trace.
"""

from __future__ import annotations


from handlers.context import TurnContext
from handlers.replies import Text
from handlers.router import UNHANDLED, Router
from handlers.security import PinCheck, PinPolicy, attempt, clean_pin_text, looks_like_pin_attempt, set_pin
from handlers.security import hashing, valid_pin_format, weak_pin
from handlers.trading.common import update_profile
from handlers.trading.flow import after_pin, cancel_dialogue, elsewhere, no, restart, start_order, waiting_for_pin
from handlers.trading.states import PIN, PIN_SETUP, TRADING
from locales.format import ist_time

router = Router("trading.pin")


@router.on_awaiting(PIN_SETUP)
async def pin_setup_answer(ctx: TurnContext):
    policy = PinPolicy.from_config(ctx.services.product.trading.pin)
    again = Text(ctx.t("trading.pin.setup_format", min=policy.min_length, max=policy.max_length))
    if not looks_like_pin_attempt(ctx.text):
        if no(ctx):
            return cancel_dialogue(ctx)
        if waiting_for_pin(ctx) or not elsewhere(ctx):
            return again
        TRADING.end(ctx.session)  # no order waiting and clearly another question: ask for a PIN when they trade
        return UNHANDLED
    pin, phone = clean_pin_text(ctx.text), ctx.user.phone or ctx.message.sender.phone
    if valid_pin_format(pin, policy) and weak_pin(pin, phone=phone) is not None:
        return Text(ctx.t("trading.pin.too_simple", min=policy.min_length, max=policy.max_length))
    changes = await hashing(set_pin, pin, ctx.now, policy, phone=phone)    # scrypt: off the loop
    if changes is None:
        return again
    await update_profile(ctx.services, ctx.user.key, changes)
    done = Text(ctx.t("trading.pin.set_ok"))
    if not waiting_for_pin(ctx):
        TRADING.end(ctx.session)
        return [done, Text(ctx.t("trading.pin.set_next"))]
    return [done, *await after_pin(ctx)]


@router.on_awaiting(PIN)
async def pin_answer(ctx: TurnContext):
    if not looks_like_pin_attempt(ctx.text):
        if no(ctx):
            return cancel_dialogue(ctx)
        if restart(ctx):
            return await start_order(ctx)
        return UNHANDLED          # another question: answered elsewhere, the order waits for the PIN
    policy = PinPolicy.from_config(ctx.services.product.trading.pin)
    profile = (await ctx.services.users.get(ctx.user.key) or ctx.user).profile
    outcome = await hashing(attempt, profile, clean_pin_text(ctx.text), ctx.now, policy)
    if outcome.changes:
        await update_profile(ctx.services, ctx.user.key, outcome.changes)
    if outcome.result == PinCheck.BAD_FORMAT:
        return Text(ctx.t("trading.pin.format", min=policy.min_length, max=policy.max_length))
    if outcome.result == PinCheck.LOCKED:
        TRADING.end(ctx.session)
        return Text(ctx.t("trading.pin.locked", time=ist_time(outcome.locked_until or ctx.now)))
    if outcome.result == PinCheck.WRONG:
        return Text(ctx.t("trading.pin.wrong", left=outcome.attempts_left))
    if not waiting_for_pin(ctx):
        TRADING.end(ctx.session)
        return Text(ctx.t("trading.pin.ok"))
    return await after_pin(ctx)
