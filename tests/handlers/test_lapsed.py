"""A question whose wait lapsed is said, then the message is handled as any other: through the real dispatcher,
intent pipeline, engine and stores (SQLite and PostgreSQL). Before, the session step dropped the lapsed
question silently ("buy 5 INFY" after a lapsed PIN prompt just asked for the PIN again, never saying why)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from engine.clock import IST
from handlers.language import LANGUAGE
from handlers.onboarding import ONBOARDING
from handlers.trading.states import TRADING
from tests.support.world import PIN, open_world, text

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
TUESDAY = MONDAY + timedelta(days=1)


def _texts(trace: dict) -> list[str]:
    return [r.get("text") or r.get("body") or "" for r in trace["replies"]]


async def test_a_lapsed_pin_prompt_is_said_first_and_the_new_order_starts(db, tmp_path: Path) -> None:
    w = await open_world(db, tmp_path, at=MONDAY)
    try:
        user = "919800007301"
        await w.onboard(user)
        asked = await w.turn(user, text="buy 10 TCS at market", at=TUESDAY)       # a new day: PIN first
        assert asked["awaiting"] == "pin", text(asked)
        lapsed = w.services.catalog.render("en", TRADING.timeout_reply)
        late = TUESDAY + TRADING.timeout + timedelta(minutes=1)
        again = await w.turn(user, text="buy 5 INFY at market", at=late)
        said = _texts(again)
        assert said[0] == lapsed, said
        assert again["intent"] == "buy" and again["awaiting"] == "pin" and "PIN" in said[1], said
        # The order waiting behind the PIN now is the new one; the lapsed TCS draft is gone.
        card = await w.turn(user, text=PIN, at=late + timedelta(minutes=1))
        assert card["awaiting"] == "confirmation" and lapsed not in _texts(card)
        assert "INFY" in text(card) and "TCS" not in text(card), text(card)
    finally:
        await w.close()


async def test_the_timeout_reply_is_in_the_users_language_and_the_message_is_answered(db, tmp_path: Path) -> None:
    w = await open_world(db, tmp_path, at=MONDAY)
    try:
        user = "919800007302"
        await w.onboard(user)
        await w.services.users.update(user, language="hi")
        picker = await w.turn(user, text="change language")
        assert picker["awaiting"] == "language", text(picker)
        in_time = await w.turn(user, text="price of TCS", at=MONDAY + LANGUAGE.timeout - timedelta(minutes=1))
        lapsed = w.services.catalog.render("hi", LANGUAGE.timeout_reply)
        assert lapsed not in _texts(in_time)                   # still waiting: nothing lapsed
        await w.turn(user, text="change language")
        quote = await w.turn(user, text="price of TCS", at=MONDAY + 2 * LANGUAGE.timeout)
        said = _texts(quote)
        assert said[0] == lapsed and lapsed != w.services.catalog.render("en", LANGUAGE.timeout_reply), said
        assert quote["intent"] == "price_quote" and "TCS" in said[1] and quote["awaiting"] is None, said
    finally:
        await w.close()


async def test_a_lapsed_onboarding_step_is_said_before_the_welcome(db, tmp_path: Path) -> None:
    w = await open_world(db, tmp_path, at=MONDAY)
    try:
        user = "919800007303"
        first = await w.turn(user, text="hello")
        assert first["awaiting"] == "language"
        later = await w.turn(user, text="hello", at=MONDAY + ONBOARDING.timeout + timedelta(hours=1))
        said = _texts(later)
        assert said[0] == w.services.catalog.render("en", LANGUAGE.timeout_reply), said
        assert later["awaiting"] == "language" and later["replies"][1]["rows"], later
    finally:
        await w.close()
