"""Greeting, help menu, clarification and the "didn't understand" fallback."""

from __future__ import annotations

from handlers.clarification import CLARIFICATION, CLARIFY
from handlers.context import TurnContext
from handlers.replies import Button, Buttons, ListReply, ListRow, Text
from handlers.router import UNHANDLED, Router
from handlers.security import PinPolicy, pin_candidates

router = Router("basics")

#: Help menu rows: (row id suffix, locale key stem). Titles and descriptions come from locales.
HELP_TOPICS: tuple[str, ...] = ("prices", "buy", "sell", "portfolio", "orders", "alerts", "learn", "language",
                                "upgrade", "human")


def help_menu(ctx: TurnContext, *, intro_key: str = "core.help.body") -> ListReply:
    t = ctx.t
    rows = tuple(ListRow(id=f"help:{topic}", title=t(f"core.help.{topic}.title"),
                         description=t(f"core.help.{topic}.example")) for topic in HELP_TOPICS)
    return ListReply(body=t(intro_key), button=t("core.help.button"), rows=rows,
                     section_title=t("core.help.section"))


@router.on_intent("greeting")
async def greeting(ctx: TurnContext):
    name = ctx.user.name or ctx.t("core.friend")
    return [Text(ctx.t("core.greeting", name=name)), help_menu(ctx, intro_key="core.help.short")]


@router.on_intent("help")
async def help_(ctx: TurnContext):
    return help_menu(ctx)


@router.on_payload("help")
async def help_topic(ctx: TurnContext):
    topic = ctx.payload_args[0] if ctx.payload_args else ""
    if topic not in HELP_TOPICS:
        return help_menu(ctx)
    return Text(ctx.t(f"core.help.{topic}.detail"))


@router.on_intent("clarify")
async def clarify(ctx: TurnContext):
    """Confidence gating: offer the two likeliest meanings instead of guessing."""
    options = [ctx.match.intent] + [name for name, _ in ctx.match.alternatives]
    seen: list[str] = []
    for name in options:
        if name not in seen and name != "out_of_scope" and ctx.t.has(f"core.intent.{name}"):
            seen.append(name)
    if not seen or pin_candidates(ctx.text, PinPolicy.from_config(ctx.services.product.trading.pin)):
        # A bare PIN-shaped number means nothing to clarify, and it may be the user's PIN: the clarification
        # would keep the words in the session, so it is not offered (for any such number, matched or not).
        return fallback_reply(ctx)
    CLARIFICATION.enter(ctx.session, CLARIFY, now=ctx.now, text=ctx.text)
    buttons = tuple(Button(f"intent:{name}", ctx.t(f"core.intent.{name}")) for name in seen[:2])
    buttons += (Button("intent:none", ctx.t("core.button.neither")),)
    return Buttons(ctx.t("core.clarify"), buttons)


@router.on_awaiting(CLARIFY)
async def clarify_answer(ctx: TurnContext):
    """"no" to "Did you mean …?" drops the question politely (a dead end otherwise: "I didn't understand")."""
    if ctx.match.intent == "deny" and not ctx.match.clarify:
        CLARIFICATION.end(ctx.session)
        return Text(ctx.t("core.clarify_dropped"))
    return UNHANDLED


def fallback_reply(ctx: TurnContext):
    return [Text(ctx.t("core.fallback")), help_menu(ctx, intro_key="core.help.short")]


@router.fallback()
async def fallback(ctx: TurnContext):
    return fallback_reply(ctx)
