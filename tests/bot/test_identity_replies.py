"""Every inbound message gets an answer, from the right account, at the address the user writes from —
end to end through the webhook, the intake, the worker and the pywa sender, against the fake Graph API.

The users here were stored by phone number (a back office provisioned them before BSUIDs existed); their
messages now carry a BSUID, sometimes without the number, sometimes from a new number."""

from __future__ import annotations

import random

from handlers.messages import Sender
from handlers.onboarding import open_account
from tests.bot.test_webhook import post
from tests.support import payloads as p

PHONE, NEW_PHONE = "919800000901", "919800000902"
BSUID, OTHER_BSUID = "IN.900000000000000001", "IN.900000000000000002"


def body(sent: dict) -> str:
    if sent["type"] == "text":
        return sent["text"]["body"]
    return sent["interactive"]["body"]["text"]


def render(env, key: str, **params) -> str:
    return env.runtime.services.catalog.render("hi", key, **params)


async def phone_customer(env, clock, phone: str = PHONE):
    """A consented LITE user who reads Hindi, stored by phone only."""
    user = await env.runtime.users.get_or_create(Sender(phone=phone), now=clock.now(), language="hi")
    await open_account(env.runtime.services, user.key, clock.now())
    return user


async def say(env, msg: dict, contact: dict) -> list[dict]:
    before = len(env.graph.messages)
    assert (await post(env, p.envelope(p.messages_value([msg], [contact])))).status == 200
    await env.settle()
    return env.graph.messages[before:]


async def test_a_phone_user_is_answered_from_their_account_when_messages_carry_a_bsuid_or_only_a_bsuid(
        webhook, clock):
    user = await phone_customer(webhook, clock)
    help_body = render(webhook, "core.help.body")
    with_both = await say(webhook, p.text(PHONE, "help", bsuid=BSUID), p.contact(PHONE, bsuid=BSUID))
    assert [m["to"] for m in with_both] == [PHONE] and body(with_both[0]) == help_body
    # The user adopted a username: their messages carry the BSUID only.
    bsuid_only = await say(webhook, p.text(None, "help", bsuid=BSUID), p.contact(None, bsuid=BSUID))
    assert bsuid_only, "answered"
    assert body(bsuid_only[0]) == help_body, "from their own account, in Hindi: not welcomed as a stranger"
    assert await webhook.runtime.users.all_keys() == [user.key]


async def test_a_user_who_changed_number_is_answered_on_the_new_one(webhook, clock):
    await phone_customer(webhook, clock)
    await say(webhook, p.text(PHONE, "help", bsuid=BSUID), p.contact(PHONE, bsuid=BSUID))
    answered = await say(webhook, p.text(NEW_PHONE, "help", bsuid=BSUID), p.contact(NEW_PHONE, bsuid=BSUID))
    assert answered and {m.get("to") for m in answered} == {NEW_PHONE}, "not to the number they left"
    assert body(answered[0]) == render(webhook, "core.help.body")


async def test_a_recycled_number_gets_a_new_account_not_the_previous_owners(webhook, clock):
    previous = await phone_customer(webhook, clock)
    await say(webhook, p.text(PHONE, "help", bsuid=BSUID), p.contact(PHONE, bsuid=BSUID))
    newcomer = await say(webhook, p.text(PHONE, "hello", bsuid=OTHER_BSUID), p.contact(PHONE, bsuid=OTHER_BSUID))
    assert newcomer and newcomer[0]["to"] == PHONE
    assert newcomer[0]["type"] == "interactive" and newcomer[0]["interactive"]["type"] == "list", \
        "welcomed with the language picker, as anyone new"
    stored = await webhook.runtime.users.get(previous.key)
    assert stored.phone is None and stored.language == "hi", "the old account is kept, no longer at that number"
    assert (await webhook.runtime.users.find(PHONE)).key == OTHER_BSUID


async def test_every_kind_of_message_from_a_bsuid_carrying_phone_user_gets_a_reply(webhook, clock):
    await phone_customer(webhook, clock)
    contact = p.contact(PHONE, bsuid=BSUID)
    kw = {"bsuid": BSUID}
    rng = random.Random(3)
    letters = [chr(c) for c in range(0x0905, 0x0939)]
    flood = " ".join("".join(rng.choice(letters) for _ in range(5)) for _ in range(11000))[:65536]
    cases = {
        "text": p.text(PHONE, "price of TCS", **kw),
        "empty text": p.text(PHONE, "", **kw),
        "64K text": p.text(PHONE, flood, **kw),
        "PRO-only tap": p.button_reply(PHONE, "analytics", "Analytics", **kw),
        "unknown tap": p.button_reply(PHONE, "nosuchaction:1", "?", **kw),
        "list pick": p.list_reply(PHONE, "help:buy", "Buy shares", **kw),
        "template tap": p.template_button(PHONE, "upgrade", "PRO", **kw),
        "image": p.image(PHONE, **kw),
        "document": p.message(PHONE, "document", {"id": "7", "filename": "a.pdf", "mime_type": "application/pdf"},
                              **kw),
        "location": p.message(PHONE, "location", {"latitude": 19.07, "longitude": 72.87}, **kw),
        "reaction": p.message(PHONE, "reaction", {"message_id": "wamid.x", "emoji": "👍"}, **kw),
        "unsupported": p.message(PHONE, "unsupported", {}, **kw),
    }
    answers = {}
    for name, msg in cases.items():
        sent = await say(webhook, msg, contact)
        assert sent, f"{name}: no reply"
        assert {m.get("to") for m in sent} == {PHONE}, f"{name}: addressed to the user"
        answers[name] = sent
    offer = answers["PRO-only tap"][0]
    feature = render(webhook, "core.feature.analytics")
    assert body(offer) == render(webhook, "core.pro_only", feature=feature)
    assert [b["reply"]["id"] for b in offer["interactive"]["action"]["buttons"]] == ["upgrade"]
    assert body(answers["64K text"][0]) == render(webhook, "core.too_long", limit="1,000")
    assert len(answers["64K text"]) >= 2, "and the message is answered"
