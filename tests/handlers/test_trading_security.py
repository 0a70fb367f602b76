"""Trading PIN policy on plain values: hashing, format, once-a-day verification, attempts and lockout."""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.clock import IST
from handlers.security import (PIN_KEY, PinCheck, PinPolicy, attempt, check_pin, hash_pin, has_pin, locked_until,
                               looks_like_pin_attempt, pin_profile, set_pin, valid_pin_format, verified_today)
from handlers.trading.common import on_tick, to_paise
from handlers.trading.draft import Draft, apply_entities, missing_slot
from intents.types import Entities

FAST = PinPolicy(scrypt_n=1024)          # same algorithm, cheaper cost: these tests check logic, not cost
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


def test_pin_hash_is_salted_scrypt_and_verifies_only_the_right_pin() -> None:
    one, two = hash_pin("975310", FAST), hash_pin("975310", FAST)
    assert one["alg"] == "scrypt" and one["salt"] != two["salt"] and one["hash"] != two["hash"]
    assert "975310" not in str(one)
    assert check_pin(one, "975310") and check_pin(two, "975310")
    assert not check_pin(one, "975311") and not check_pin({}, "975310")


def test_pin_format_is_four_to_six_digits() -> None:
    assert [valid_pin_format(p, FAST) for p in ("123", "1234", "123456", "1234567", "12a4", "")] == \
        [False, True, True, False, False, False]
    assert looks_like_pin_attempt(" 12 34 ") and not looks_like_pin_attempt("buy 10")


def test_set_pin_counts_as_todays_verification_only_today() -> None:
    profile = dict(set_pin("4826", MONDAY, FAST) or {})
    assert has_pin(profile) and verified_today(profile, MONDAY)
    assert not verified_today(profile, MONDAY + timedelta(days=1))
    assert set_pin("48", MONDAY, FAST) is None


def test_five_wrong_pins_lock_for_thirty_minutes_then_the_right_pin_works() -> None:
    profile: dict = dict(pin_profile("4826", FAST))
    tuesday = MONDAY + timedelta(days=1)
    for left in (4, 3, 2, 1):
        result = attempt(profile, "0000", tuesday, FAST)
        assert result.result == PinCheck.WRONG and result.attempts_left == left
        profile.update(result.changes)
    locking = attempt(profile, "0000", tuesday, FAST)
    assert locking.result == PinCheck.LOCKED and locking.locked_until == tuesday + timedelta(minutes=30)
    profile.update(locking.changes)
    # Even the right PIN is refused while locked, and a bad format is not counted as an attempt.
    assert attempt(profile, "4826", tuesday + timedelta(minutes=29), FAST).result == PinCheck.LOCKED
    assert locked_until(profile, tuesday + timedelta(minutes=31)) is None
    assert attempt(profile, "12", tuesday + timedelta(minutes=31), FAST).result == PinCheck.BAD_FORMAT
    ok = attempt(profile, "4826", tuesday + timedelta(minutes=31), FAST)
    assert ok.result == PinCheck.OK and ok.changes["pin_failures"] == 0
    profile.update(ok.changes)
    assert verified_today(profile, tuesday) and profile[PIN_KEY]["alg"] == "scrypt"


def test_prices_reach_the_engine_as_paise_on_the_tick_grid() -> None:
    assert to_paise(3127.13) == 312713 and to_paise(0.1 + 0.2) == 30      # no float drift
    assert on_tick(312713, 10) == 312710 and on_tick(312715, 10) == 312720
    assert on_tick(99995, 10) == 100000 and on_tick(3, 5) == 5           # never below one tick


def test_draft_asks_slots_in_order_and_keeps_limit_prices_in_paise() -> None:
    draft = Draft(side="BUY")
    assert missing_slot(draft) == "symbol"
    draft = apply_entities(draft, Entities(symbol="tcs"))
    assert draft.symbol == "TCS" and missing_slot(draft) == "quantity"
    draft = apply_entities(draft, Entities(quantity=10))
    assert missing_slot(draft) == "price"
    limit = apply_entities(draft, Entities(price=3127.13))
    assert limit.order_type == "LIMIT" and limit.price_paise == 312713 and missing_slot(limit) is None
    assert limit.on_tick(10).price_paise == 312710
    assert Draft.from_json(limit.to_json()) == limit


def test_rejections_are_formatted_by_kind_in_the_users_language() -> None:
    """The engine sends values (paise, counts, ISO times); the reply formats each by its declared kind."""
    from engine.api import Rejection
    from engine.rejections import reject
    from handlers.trading.common import rejection_text
    from locales.catalog import load_catalog

    en, hi = load_catalog().translator("en"), load_catalog().translator("hi")
    band = reject("band", price=300000, lower=280850, upper=343200)
    assert "₹3,432.00" in rejection_text(en, band) and "₹3,432.00" in rejection_text(hi, band)
    assert "1,00,000" in rejection_text(en, reject("quantity_cap", quantity=200000, max_quantity=100000))
    cutoff = reject("mis_cutoff", cutoff=datetime(2026, 11, 8, 13, 20, tzinfo=IST).isoformat())
    assert "13:20" in rejection_text(en, cutoff)
    # a rejection stored before values were typed still renders as it was stored
    assert "₹9.99" in rejection_text(en, Rejection("band", {"price": "₹9.99", "lower": "₹1", "upper": "₹2"}))


def test_trivial_pins_are_refused_when_chosen() -> None:
    """Anyone holding the phone would try these first: one digit repeated, runs (also around the dial), the
    end of the user's own number. Refused at choice time only; a PIN already set keeps working."""
    from handlers.security import WeakPin, pin_problem, weak_pin

    phone = "919866000010"
    assert {p: weak_pin(p, phone=phone) for p in ("0000", "111111", "९९९९")} == dict.fromkeys(
        ("0000", "111111", "९९९९"), WeakPin.REPEATED)
    runs = ("1234", "4567", "987654", "4321", "7890", "8901", "2109", "0987", "123456", "१२३४")
    assert {weak_pin(p, phone=phone) for p in runs} == {WeakPin.SEQUENCE}
    assert {weak_pin(p, phone=phone) for p in ("0010", "00010", "000010")} == {WeakPin.PHONE}
    assert weak_pin("0010", phone="+91 98660-00010") == WeakPin.PHONE       # any formatting of the number
    assert [weak_pin(p, phone=phone) for p in ("4826", "975310", "9182", "1243", "0011", "5931")] == [None] * 6
    assert weak_pin("0010", phone=None) is None                              # BSUID-only user: no number
    assert set_pin("1234", MONDAY, FAST) is None and set_pin("0010", MONDAY, FAST, phone=phone) is None
    assert set_pin("4826", MONDAY, FAST, phone=phone) is not None
    assert "run" in (pin_problem("9876", FAST) or "") and "phone" in (pin_problem("0010", FAST, phone=phone) or "")
    try:
        pin_profile("0000", FAST)
    except ValueError as exc:
        assert "repeated" in str(exc)
    else:
        raise AssertionError("pin_profile accepted 0000")
    # Entering an existing PIN is not affected: a user who set 1234 before the rule can still trade.
    legacy = {PIN_KEY: hash_pin("1234", FAST)}
    assert attempt(legacy, "1234", MONDAY, FAST).result == PinCheck.OK


def test_only_pin_shaped_texts_are_hash_checked() -> None:
    """The scrypt check (tens of ms of CPU) runs only for texts that could be a PIN."""
    from handlers.security import pin_candidates

    assert pin_candidates("4826", FAST) == ("4826",)
    assert pin_candidates(" 48 26 ", FAST) == ("4826",) and pin_candidates("48-26", FAST) == ("4826",)
    assert pin_candidates("४८२६", FAST) == ("४८२६", "4826")
    assert [pin_candidates(t, FAST) for t in ("buy 10 TCS", "12", "1234567", "", None, "4826 TCS", "1" * 500)] \
        == [()] * 7
