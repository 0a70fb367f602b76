"""A trading PIN typed as the answer to another question (how many shares? at what price? an
alert's or an order change's price or quantity) is not used.

The audit middleware already withholds such a text from the message log; this keeps it out of the rest of
the turn's state too: a draft holding the PIN as its quantity or price would sit in the user's session (and be
echoed in the next question and on the card, and so in the outbound log). The answer says why the number was
not taken and asks the question again; the draft and the dialogue stay as they were.

What this trades, and how it is bounded: the reply differs when a PIN-shaped answer is the PIN, so someone
holding the unlocked phone could test numbers here without the PIN prompt's lockout. So only the first
:data:`CHECKS_PER_DAY` PIN-shaped answers of a user's day are checked; later ones are taken as typed (and so
may be kept, as before this guard). Trying 10,000 four-digit PINs at that rate takes years.
"""

from __future__ import annotations

from handlers.context import TurnContext
from handlers.replies import Text
from handlers.security import PinPolicy, is_users_pin, pin_candidates


#: PIN-shaped answers checked against the PIN per user and day (the rest are taken as typed).
CHECKS_PER_DAY = 3
#: Session entry counting today's checks: ``{"day": ISO date, "n": checks}`` (kept when a dialogue ends).
CHECKS_KEY = "pin_guard"


async def typed_pin(ctx: TurnContext) -> bool:
    """Is this turn's text the user's trading PIN (checked against the hash, off the event loop)? Within the
    day's budget only: past it the answer is False whatever the number, so the reply tells nothing."""
    policy = PinPolicy.from_config(ctx.services.product.trading.pin)
    if not pin_candidates(ctx.text, policy):
        return False                       # not PIN-shaped: no check, no budget spent
    day = ctx.now.date().isoformat()
    spent = ctx.session.data.get(CHECKS_KEY)
    used = spent.get("n", 0) if isinstance(spent, dict) and spent.get("day") == day else 0
    if used >= CHECKS_PER_DAY:
        return False
    ctx.session.data[CHECKS_KEY] = {"day": day, "n": used + 1}
    return await is_users_pin(ctx.user.profile, ctx.text, policy)


def not_used(ctx: TurnContext, question: str) -> Text:
    """The reminder, then the open ``question`` again."""
    return Text(f"{ctx.t('pin_guard.not_used')}\n\n{question}")
