"""A trading PIN typed as the answer to another question (how many shares? at what price? an
alert's or an order change's price or quantity) is not used.

The audit middleware already withholds such a text from the message log; this keeps it out of the rest of
the turn's state too: a draft holding the PIN as its quantity or price would sit in the user's session (and be
echoed in the next question and on the card, and so in the outbound log). The answer says why the number was
not taken and asks the question again; the draft and the dialogue stay as they were.

What this trades: the reply differs when a PIN-shaped answer is the PIN, so someone holding the unlocked phone
could test numbers here without the PIN prompt's lockout. Each test costs one message, is only possible while
such a question is open, and is answered by a reminder never to send the PIN.
"""

from __future__ import annotations

from handlers.context import TurnContext
from handlers.middlewares.audit import is_users_pin
from handlers.replies import Text
from handlers.security import PinPolicy


async def typed_pin(ctx: TurnContext) -> bool:
    """Is this turn's text the user's trading PIN (checked against the hash, off the event loop)?"""
    return await is_users_pin(ctx.user.profile, ctx.text, PinPolicy.from_config(ctx.services.config))


def not_used(ctx: TurnContext, question: str) -> Text:
    """The reminder, then the open ``question`` again."""
    return Text(f"{ctx.t('pin_guard.not_used')}\n\n{question}")
