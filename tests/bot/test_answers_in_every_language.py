"""Every inbound message gets an answer in the user's own language, in all 12 variants: a LITE user stored by
phone number whose messages now carry a BSUID (with the number, or the BSUID alone), tapping a PRO-only button
(idle or in the middle of a dialogue), tapping a button nobody issued, or sending a kind of message the bot does
not read. ``tests/bot/test_identity_replies.py`` runs these end to end through the webhook in Hindi; here the
same dispatcher runs them in every language."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

from handlers.messages import InboundMessage, MessageKind, Sender
from handlers.onboarding import open_account
from handlers.replies import Buttons
from handlers.turn import TurnStatus
from locales.catalog import LANGUAGES

PHONE, BSUID = "9198000009", "IN.9600000000000000"
_ids = count(1)


def inbound(sender: Sender, *, text: str | None = None, payload: str | None = None,
            kind: MessageKind | None = None) -> InboundMessage:
    return InboundMessage(id=f"wamid.lang{next(_ids)}", sender=sender, timestamp=datetime.now(UTC),
                          kind=kind or (MessageKind.BUTTON if payload else MessageKind.TEXT), text=text,
                          payload=payload)


def body(reply) -> str:
    return getattr(reply, "body", None) or getattr(reply, "text", "")


async def test_identity_cases_and_pro_only_taps_are_answered_in_the_users_language(runtime) -> None:
    for n, lang in enumerate(LANGUAGES):          # one runtime, one user per language
        await _answered_in(runtime, lang, phone=f"{PHONE}{n:02d}", bsuid=f"{BSUID}{n:02d}")


async def _answered_in(runtime, lang: str, *, phone: str, bsuid: str) -> None:
    stored = await runtime.users.get_or_create(Sender(phone=phone), now=runtime.clock.now(), language=lang)
    await open_account(runtime.services, stored.key, runtime.clock.now())
    t = runtime.services.catalog.translator(lang)
    both, bsuid_only = Sender(user_id=bsuid, phone=phone), Sender(user_id=bsuid)
    handle = runtime.dispatcher.handle

    for sender in (both, bsuid_only):
        helped = await handle(inbound(sender, text="help"))
        assert helped.status is TurnStatus.HANDLED and helped.user_key == stored.key
        assert body(helped.replies[0]) == t("core.help.body"), (lang, sender)

    offer_text = t("core.pro_only", feature=t("core.feature.analytics"))
    idle = await handle(inbound(bsuid_only, payload="analytics"))
    await handle(inbound(both, text="buy 10 TCS"))                      # a dialogue is now open
    mid_dialogue = await handle(inbound(bsuid_only, payload="analytics"))
    for result in (idle, mid_dialogue):
        [offer] = result.replies
        assert isinstance(offer, Buttons) and offer.body == offer_text, lang
        assert [b.id for b in offer.buttons] == ["upgrade"]

    crafted = await handle(inbound(both, payload="tconfirm:0123456789abcdef"))
    unreadable = await handle(inbound(both, kind=MessageKind.UNSUPPORTED))
    for result in (crafted, unreadable):
        assert result.status is not TurnStatus.ERROR and result.replies, (lang, result)
        assert all(body(r) and body(r) != t("core.error", ref=result.correlation_id[:8]) for r in result.replies)
    english = runtime.services.catalog.translator("en")
    if lang != "en":
        assert body(crafted.replies[0]) not in {english("core.help.body")}
        assert offer_text != english("core.pro_only", feature=english("core.feature.analytics"))
