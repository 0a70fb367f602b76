"""STOP / START for marketing messages.

Only a *bare* opt-out word opts out ("STOP", "unsubscribe", "बंद करो"), never any sentence containing
"stop" ("stop loss kya hai" is an education question). The words per language are locale data
(``optout.words.stop`` / ``optout.words.start``, ``|``-separated) plus the English ones, which people
type whatever their language. Service messages the user asked for (order updates, their own price
alerts) still arrive; only promotional campaigns check :func:`marketing_allowed`.
"""

from __future__ import annotations

import re
from datetime import datetime

from handlers.context import TurnContext
from handlers.conversation import interrupt
from handlers.replies import Text
from handlers.router import UNHANDLED, Router
from handlers.users import User
from intents.types import INTENTS

router = Router("optout")

#: Profile keys.
OPTED_OUT = "marketing_opt_out"
CHANGED_AT = "marketing_changed_at"

_PUNCT = re.compile(r"[\s\.\!\?।,]+")


def normalize(text: str) -> str:
    return _PUNCT.sub(" ", text).strip().casefold()


def _words(ctx: TurnContext, key: str) -> set[str]:
    out: set[str] = set()
    for lang in {ctx.lang, "en"}:
        raw = ctx.services.catalog.raw(lang, key)
        out.update(normalize(w) for w in raw.split("|") if w.strip())
    return out


def marketing_allowed(user: User) -> bool:
    """Campaigns call this before sending anything promotional."""
    return not user.profile.get(OPTED_OUT)


async def _set(ctx: TurnContext, opted_out: bool, now: datetime):
    interrupt(ctx.session)
    await ctx.services.users.update(ctx.user.key, profile_changes={OPTED_OUT: opted_out,
                                                                    CHANGED_AT: now.isoformat()})
    return Text(ctx.t("optout.stopped" if opted_out else "optout.started"))


@router.on_intent("opt_out")
async def opt_out(ctx: TurnContext):
    """Only a bare opt-out word changes the preference; a sentence the classifier read as ``opt_out``
    ("stop sending me offers") gets the one-word instruction, so "stop the music" never opts anyone out."""
    text = normalize(ctx.text)
    if text in _words(ctx, "optout.words.start"):
        return await _set(ctx, False, ctx.now)
    if text in _words(ctx, "optout.words.stop"):
        return await _set(ctx, True, ctx.now)
    return Text(ctx.t("optout.how"))


@router.on_intent(*(i for i in INTENTS if i != "opt_out"), "clarify")
async def bare_keyword(ctx: TurnContext):
    """A bare STOP or START whatever the classifier thought (e.g. "START" read as a greeting)."""
    text = normalize(ctx.text)
    if not text or ctx.message.payload is not None:
        return UNHANDLED
    if text in _words(ctx, "optout.words.stop"):
        return await _set(ctx, True, ctx.now)
    if text in _words(ctx, "optout.words.start") and not marketing_allowed(ctx.user):
        return await _set(ctx, False, ctx.now)   # "start" from someone never opted out is just a hello
    return UNHANDLED
