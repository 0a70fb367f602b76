"""Buttons are bound server-side, through the real dispatcher, engine and stores on SQLite and PostgreSQL: a
crafted, replayed, expired or another user's payload changes nothing and gets a clear answer; changing or
cancelling an order takes the new order's card, PIN once a trading day and two-minute expiry.

(On the unbound code a crafted ``omodyes:<order>:q40`` turned a resting 2 × TCS limit into 40 shares, filled
at once, with no PIN and no card; these tests are that report.)"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from engine.clock import IST
from tests.support.world import PIN, World, open_world, option, text

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
REFUSED = "can't act on that button"


async def _resting_order(w: World, user: str) -> str:
    """A 2 × TCS limit buy at ₹3,000 resting in the book (TCS trades near ₹3,090)."""
    placed = await w.tap(user, await w.turn(user, text="buy 2 TCS at 3000"), "Confirm")
    (order,) = placed["orders"]
    assert order["status"] == "OPEN" and order["quantity"] == 2 and order["price"] == 3000.0
    return order["id"]


async def _change_card(w: World, user: str, button: str, value: str) -> dict:
    """Order status → the open order's row → "Change price/quantity" → the new value: the card to confirm."""
    menu = await w.tap(user, await w.turn(user, text="order status"), "BUY")
    asked = await w.tap(user, menu, button)
    assert asked["awaiting"] == "modify_value", text(asked)
    return await w.turn(user, text=value)


async def test_a_crafted_modify_button_changes_nothing(db, tmp_path: Path) -> None:
    w = await open_world(db, tmp_path, at=MONDAY)
    try:
        user = "919800007101"
        await w.onboard(user)
        order_id = await _resting_order(w, user)
        before = await w.state(user)
        for payload in (f"omodyes:{order_id}:q40", f"omodyes:{order_id}:p320000",
                        f"omodqty:{order_id}", f"tconfirm:{order_id}:q40"):
            trace = await w.turn(user, button=payload)
            assert trace["orders"] == [] and trace["awaiting"] is None, (payload, trace)
            assert REFUSED in text(trace) or "no longer valid" in text(trace), (payload, text(trace))
            assert await w.state(user) == before, payload
    finally:
        await w.close()


async def test_a_crafted_cancel_button_changes_nothing(db, tmp_path: Path) -> None:
    w = await open_world(db, tmp_path, at=MONDAY)
    try:
        user = "919800007102"
        await w.onboard(user)
        order_id = await _resting_order(w, user)
        before = await w.state(user)
        for payload in (f"ocancelyes:{order_id}", f"ocancel:{order_id}", f"tcancel:{order_id}"):
            trace = await w.turn(user, button=payload)
            assert trace["orders"] == [] and REFUSED in text(trace), (payload, text(trace))
        assert await w.state(user) == before
        assert (await w.services.engine.get_order(user, order_id)).status.value == "OPEN"
    finally:
        await w.close()


async def test_a_replayed_change_confirmation_changes_nothing(db, tmp_path: Path) -> None:
    w = await open_world(db, tmp_path, at=MONDAY)
    try:
        user = "919800007103"
        await w.onboard(user)
        order_id = await _resting_order(w, user)
        first = option(await _change_card(w, user, "Change quantity", "5"), "Yes, change it")
        done = await w.turn(user, button=first)
        assert [(o["id"], o["quantity"]) for o in done["orders"]] == [(order_id, 5)]
        second = await w.tap(user, await _change_card(w, user, "Change quantity", "8"), "Yes, change it")
        assert [o["quantity"] for o in second["orders"]] == [8]
        before = await w.state(user)
        replay = await w.turn(user, button=first)          # the first card's Confirm, tapped again later
        assert replay["orders"] == [] and "already answered that card" in text(replay)
        assert await w.state(user) == before
        # a replayed cancellation: the order is cancelled once, the second tap changes nothing
        status = await w.turn(user, text="cancel order")
        card = await w.tap(user, status, "BUY 8 TCS")
        yes = option(card, "Yes, cancel it")
        assert [o["status"] for o in (await w.turn(user, button=yes))["orders"]] == ["CANCELLED"]
        after_cancel = await w.state(user)
        again = await w.turn(user, button=yes)
        assert again["orders"] == [] and "already answered that card" in text(again)
        assert await w.state(user) == after_cancel
    finally:
        await w.close()


async def test_another_users_buttons_change_nothing_for_either_of_us(db, tmp_path: Path) -> None:
    w = await open_world(db, tmp_path, at=MONDAY)
    try:
        mine, theirs = "919800007104", "919800007105"
        await w.onboard(mine)
        await w.onboard(theirs)
        await _resting_order(w, mine)
        await _resting_order(w, theirs)
        await w.turn(mine, text="alert me when TCS crosses 10000")
        alert_row = option(await w.turn(mine, text="my alerts"), "TCS")
        plan_row = option(await w.turn(mine, text="upgrade"), "Free")
        card = await _change_card(w, mine, "Change quantity", "5")
        confirm = option(card, "Yes, change it")
        my_before, their_before = await w.state(mine), await w.state(theirs)
        for payload in (confirm, option(card, "Keep it"), alert_row, plan_row):
            stolen = await w.turn(theirs, button=payload)
            assert stolen["orders"] == [], payload
            assert REFUSED in text(stolen) or "no longer valid" in text(stolen), (payload, text(stolen))
        assert await w.state(mine) == my_before and await w.state(theirs) == their_before
        # their taps consumed nothing of mine: my card still works, once
        assert [o["quantity"] for o in (await w.turn(mine, button=confirm))["orders"]] == [5]
    finally:
        await w.close()


async def test_a_change_card_older_than_two_minutes_changes_nothing(db, tmp_path: Path) -> None:
    w = await open_world(db, tmp_path, at=MONDAY)
    try:
        user = "919800007106"
        await w.onboard(user)
        await _resting_order(w, user)
        card = await _change_card(w, user, "Change price", "3010")
        assert 'Tap "Yes, change it" within 2 min' in text(card)
        assert "New order value: ₹6,020.00" in text(card)
        before = await w.state(user)
        late = await w.tap(user, card, "Yes, change it", at=datetime(2026, 11, 23, 10, 2, 30, tzinfo=IST))
        assert late["orders"] == [] and late["awaiting"] is None and "expired" in text(late)
        assert await w.state(user) == before
        typed = await w.turn(user, text="yes")
        assert typed["orders"] == [] and await w.state(user) == before
    finally:
        await w.close()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_cancelling_on_a_new_trading_day_asks_the_pin_first(db, tmp_path: Path) -> None:
    saturday = datetime(2026, 11, 28, 11, 0, tzinfo=IST)
    w = await open_world(db, tmp_path, at=saturday)
    try:
        user = "919800007107"
        await w.onboard(user)
        amo = await w.tap(user, await w.turn(user, text="buy 2 TCS at 3000"), "Confirm")
        assert amo["orders"][0]["is_amo"]
        monday = datetime(2026, 11, 30, 10, 0, tzinfo=IST)
        status = await w.turn(user, text="order status", at=monday)
        menu = await w.tap(user, status, "BUY 2 TCS")
        asked = await w.tap(user, menu, "Cancel order")
        assert asked["awaiting"] == "pin" and "send your trading PIN" in text(asked) and asked["orders"] == []
        card = await w.turn(user, text=PIN)
        assert card["awaiting"] == "confirmation" and PIN not in text(card)
        assert [o["title"] for o in card["replies"][-1]["buttons"]] == ["Yes, cancel it", "Keep it"]
        done = await w.tap(user, card, "Yes, cancel it")
        assert [o["status"] for o in done["orders"]] == ["CANCELLED"] and "is cancelled" in text(done)
    finally:
        await w.close()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_alert_rows_and_the_pay_button_act_once_and_only_as_offered(db, tmp_path: Path) -> None:
    w = await open_world(db, tmp_path, at=MONDAY)
    try:
        user = "919800007108"
        await w.onboard(user)
        await w.turn(user, text="alert me when TCS crosses 10000")
        await w.turn(user, text="alert me when INFY falls below 100")
        listing = await w.turn(user, text="my alerts")
        tcs = option(listing, "TCS")
        assert "Deleted" in text(await w.turn(user, button=tcs))
        kept = await w.state(user)
        assert "already gone" in text(await w.turn(user, button=tcs))                 # replayed row
        infy_id = kept["alerts"][0][0]
        assert REFUSED in text(await w.turn(user, button=f"alertdel:{infy_id}"))    # crafted row
        assert await w.state(user) == kept and len(kept["alerts"]) == 1
        # plans: a crafted trial row and a crafted pay button do nothing; the offered ones work, once
        assert REFUSED in text(await w.turn(user, button="plan:trial"))
        assert "Nothing was charged" in text(await w.turn(user, button="planpay:pro499"))
        assert await w.state(user) == kept
        pay = option(await w.tap(user, await w.turn(user, text="upgrade"), "PRO Plus"), "Pay")
        paid = await w.turn(user, button=pay)
        assert "✅" in text(paid)
        on_pro = await w.state(user)
        assert on_pro["tier"] == "PRO" and on_pro["plan"]["id"] == "pro499"
        again = await w.turn(user, button=pay)
        assert "✅" not in text(again) and await w.state(user) == on_pro
    finally:
        await w.close()
