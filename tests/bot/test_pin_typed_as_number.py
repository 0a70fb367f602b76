"""A trading PIN typed as the answer to another question — how many shares, at what price, an alert's price —
is not taken as that number: the user is told why, asked again, and the PIN is nowhere at rest afterwards (no
inbound or outbound message row, no session, no alert, no order). End to end through the webhook."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot.stores.alerts import alerts as alerts_table
from bot.stores.sql import messages as messages_table
from tests.bot.test_webhook import post
from tests.fuzz.harness import body_text
from tests.support import payloads as p

PHONE, PIN = "919800004411", "975310"


async def say(env, msg: dict) -> list[str]:
    before = len(env.graph.messages)
    assert (await post(env, p.envelope(p.messages_value([msg], [p.contact(PHONE)])))).status == 200
    await env.settle()
    return [body_text(m) for m in env.graph.messages[before:]]


def text(body: str) -> dict:
    return p.text(PHONE, body)


async def at_rest(env) -> str:
    """Everything stored about the conversation: message rows both ways, the session, the alerts."""
    async with env.runtime.db.connect() as conn:
        rows = (await conn.execute(select(messages_table))).mappings().all()
        alerts = (await conn.execute(select(alerts_table))).mappings().all()
    key = (await env.runtime.users.find(PHONE)).key
    session = await env.runtime.sessions.load(key)
    return "\n".join([*(str(dict(r)) for r in rows), *(str(dict(a)) for a in alerts), str(session)])


def holds_pin(stored: str) -> bool:
    """The PIN's digits, however grouped (9,75,310 or 975310.00 on a card)."""
    return PIN in re.sub(r"[,\s]", "", stored)


@pytest.mark.parametrize("question, again, then", [
    ("buy TCS", "how many shares", "5"),
    ("buy 5 TCS", "market price, or at a price", "3100"),
    ("alert me on TCS", "TCS", "3500"),
])
async def test_a_pin_typed_as_a_number_is_not_used_nor_kept(webhook, question, again, then) -> None:
    for msg in (text("hello"), p.button_reply(PHONE, "onb_lang:en", "English"),
                p.button_reply(PHONE, "onb_consent:yes", "I agree"), text(PIN)):
        await say(webhook, msg)
    asked = await say(webhook, text(question))
    assert asked and again.lower() in asked[-1].lower(), asked
    refused = await say(webhook, text(PIN))
    reminder = webhook.runtime.services.catalog.render("en", "pin_guard.not_used")
    assert len(refused) == 1 and refused[0].startswith(reminder), refused
    assert not holds_pin(refused[0].replace(reminder, ""))
    assert not holds_pin(await at_rest(webhook))
    # the question is still open: a real answer goes on as before
    answered = await say(webhook, text(then))
    assert answered and not answered[0].startswith(reminder), answered
    assert not holds_pin(await at_rest(webhook))


async def test_past_the_days_budget_a_number_is_not_checked_so_the_reply_tells_nothing(webhook) -> None:
    """The guard's reply would tell someone holding the phone which number is the PIN: only the first
    CHECKS_PER_DAY PIN-shaped answers of a day are checked, so enumerating PINs here is not possible."""
    from handlers.trading.pin_guard import CHECKS_PER_DAY

    for msg in (text("hello"), p.button_reply(PHONE, "onb_lang:en", "English"),
                p.button_reply(PHONE, "onb_consent:yes", "I agree"), text(PIN)):
        await say(webhook, msg)
    reminder = webhook.runtime.services.catalog.render("en", "pin_guard.not_used")
    for price in range(3500, 3500 + 100 * CHECKS_PER_DAY, 100):    # PIN-shaped answers: each one is checked
        await say(webhook, text("alert me on TCS"))
        assert not (await say(webhook, text(str(price))))[0].startswith(reminder)
    await say(webhook, text("alert me on TCS"))
    reply = await say(webhook, text(PIN))
    assert reply and not reply[0].startswith(reminder), reply
