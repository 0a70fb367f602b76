"""A PRO-only button tapped by a LITE user is answered like any other turn: the upgrade offer in the user's
language, keyed by their account and carrying the user, whatever identifier the message came with and
whatever the dialogue was waiting for."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from handlers.messages import InboundMessage, MessageKind, Sender
from handlers.onboarding import open_account
from handlers.replies import Buttons
from handlers.turn import TurnStatus

PHONE, BSUID = "919800000951", "IN.950000000000000001"


def inbound(mid: str, *, text: str | None = None, payload: str | None = None) -> InboundMessage:
    return InboundMessage(id=mid, sender=Sender(user_id=BSUID, phone=PHONE), timestamp=datetime.now(timezone.utc),
                          kind=MessageKind.BUTTON if payload else MessageKind.TEXT, text=text, payload=payload)


@pytest.mark.parametrize("lang", ["hi", "ta", "en"])
async def test_the_pro_only_offer_is_keyed_by_the_account_and_carries_the_user(runtime, lang):
    stored = await runtime.users.get_or_create(Sender(phone=PHONE), now=runtime.clock.now(), language=lang)
    await open_account(runtime.services, stored.key, runtime.clock.now())
    t = runtime.services.catalog.translator(lang)
    expected = t("core.pro_only", feature=t("core.feature.analytics"))

    idle = await runtime.dispatcher.handle(inbound("t1", payload="analytics"))
    await runtime.dispatcher.handle(inbound("t2", text="buy 10 TCS"))          # a dialogue is now open
    mid_dialogue = await runtime.dispatcher.handle(inbound("t3", payload="analytics"))
    for result in (idle, mid_dialogue):
        assert result.status is TurnStatus.HANDLED and result.route == "tier.pro_only"
        assert result.user_key == stored.key, "the account's key, not the BSUID the message carried"
        assert result.user is not None and result.user.key == stored.key and result.user.phone == PHONE
        [offer] = result.replies
        assert isinstance(offer, Buttons) and offer.body == expected
        assert [b.id for b in offer.buttons] == ["upgrade"]
    assert mid_dialogue.awaiting is not None, "the open dialogue is left as it was"
