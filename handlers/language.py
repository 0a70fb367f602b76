"""Change the reply language at any time: "Tamil mein baat karo", "change language".

A named language switches at once and confirms in the new language; otherwise a picker. WhatsApp lists
hold at most 10 rows, so the 12 variants come in two pages (9 + "more", then 3 + "back"). Row ids use the
``setlang`` action so they never collide with the onboarding picker's payloads.

The open picker is the :data:`LANGUAGE` conversation's one state (onboarding starts with it too, for longer).
"""

from __future__ import annotations

from datetime import timedelta

from handlers.context import TurnContext
from handlers.conversation import IDLE, Conversation, interrupt
from handlers.replies import ListReply, ListRow, Text
from handlers.router import UNHANDLED, Router
from locales.catalog import LANGUAGES

router = Router("language")

PAGE_SIZE = 9
#: The picker is open: the next message may name the language instead of tapping it.
PICK = "language"
LANGUAGE = Conversation("language", transitions={IDLE: frozenset({PICK}), PICK: frozenset({PICK})},
                        timeout=timedelta(minutes=30), timeout_reply="core.lapsed")


def picker(ctx: TurnContext, page: int = 1) -> ListReply:
    t = ctx.t
    first = page <= 1
    codes = LANGUAGES[:PAGE_SIZE] if first else LANGUAGES[PAGE_SIZE:]
    rows = [ListRow(id=f"setlang:{code}", title=t(f"language.name.{code}"),
                    description=t(f"language.about.{code}")) for code in codes]
    rows.append(ListRow(id="setlang:page:2" if first else "setlang:page:1",
                        title=t("language.more" if first else "language.back")))
    LANGUAGE.enter(ctx.session, PICK, now=ctx.now)
    return ListReply(body=t("language.pick"), button=t("language.button"), rows=tuple(rows),
                     section_title=t("language.section"))


async def switch(ctx: TurnContext, code: str):
    interrupt(ctx.session)          # a language named or tapped, whatever was open
    await ctx.services.users.update(ctx.user.key, language=code)
    t = ctx.services.catalog.translator(code)
    return Text(t("language.changed", language=t(f"language.name.{code}")))


@router.on_intent("change_language")
async def change_language(ctx: TurnContext):
    code = ctx.match.entities.language
    if code in LANGUAGES:
        return await switch(ctx, code)
    return picker(ctx)


@router.on_intent("clarify")
async def unsure_change_language(ctx: TurnContext):
    """Confidence gating was unsure, but the likeliest meaning is a language change: the picker is itself a
    harmless question (nothing changes until a row is tapped), so show it instead of "did you mean"."""
    if ctx.match.intent != "change_language" or ctx.message.payload is not None:
        return UNHANDLED
    return await change_language(ctx)


@router.on_payload("setlang")
async def picked(ctx: TurnContext):
    args = ctx.payload_args
    if len(args) == 2 and args[0] == "page":
        return picker(ctx, 2 if args[1] == "2" else 1)
    if args and args[0] in LANGUAGES:
        return await switch(ctx, args[0])
    return picker(ctx)


@router.on_awaiting(PICK)
async def typed_language(ctx: TurnContext):
    """While the picker is open the user may type the language instead of tapping it."""
    code = ctx.match.entities.language
    if code in LANGUAGES:
        return await switch(ctx, code)
    typed = ctx.text.casefold()
    for candidate in LANGUAGES:
        names = {ctx.t(f"language.name.{candidate}").casefold(), candidate.casefold()}
        names.update(n.strip().casefold() for n in ctx.t(f"language.aliases.{candidate}").split("|") if n.strip())
        if typed in names:
            return await switch(ctx, candidate)
    LANGUAGE.end(ctx.session)
    return UNHANDLED
