"""Bound buttons on plain values: a payload resolves only to what the server issued into this user's session,
once, until it expires; anything else is a typed refusal. (Through the dispatcher: test_bound_buttons.py.)"""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.clock import IST
from handlers.bound import (BOUND_KEY, MAX_KEPT, MAX_PAYLOAD, BoundAction, Reason, Refused, issue,
                            refusal_text, resolve, spend, take)
from handlers.session import Session
from locales.catalog import LANGUAGES, load_catalog

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
TWO_MIN = timedelta(minutes=2)


def test_a_payload_names_a_nonce_and_the_parameters_stay_on_the_server() -> None:
    session = Session()
    bound = issue(session, "omodyes", now=NOW, ttl=TWO_MIN, order_id="ORD-1", quantity=40)
    assert bound.payload == f"omodyes:{bound.nonce}" and len(bound.payload) <= MAX_PAYLOAD
    found = resolve(session, bound.payload, NOW)
    assert isinstance(found, BoundAction) and found.params == {"order_id": "ORD-1", "quantity": 40}


def test_crafted_tampered_and_other_users_payloads_are_unknown() -> None:
    mine, theirs = Session(), Session()
    bound = issue(mine, "ocancel", now=NOW, ttl=TWO_MIN, order_id="ORD-1")
    other = issue(theirs, "ocancel", now=NOW, ttl=TWO_MIN, order_id="ORD-2")
    nonce = bound.nonce
    flipped = ("0" if nonce[0] != "0" else "1") + nonce[1:]
    for payload in ("ocancel:ORD-1", "ocancel:", "ocancel", "", f"ocancel:{flipped}", f"alertdel:{nonce}",
                    f"ocancel:{nonce}:extra", f"ocancel:{nonce.upper()}", other.payload, "x" * 300,
                    f"ocancel:{nonce}" + "0" * 300):
        assert resolve(mine, payload, NOW) == Refused(Reason.UNKNOWN), payload
    assert resolve(mine, None, NOW) == Refused(Reason.UNKNOWN)


def test_single_use_is_spent_on_take_and_a_replay_is_used() -> None:
    session = Session()
    bound = issue(session, "tconfirm", now=NOW, ttl=TWO_MIN, pid="p1")
    assert isinstance(take(session, bound.payload, NOW), BoundAction)
    replay = take(session, bound.payload, NOW)
    assert isinstance(replay, Refused) and replay.reason == Reason.USED and replay.was is not None
    assert replay.was.params == {"pid": "p1"}
    reusable = issue(session, "omanage", now=NOW, ttl=TWO_MIN, once=False, order_id="ORD-1")
    assert all(isinstance(take(session, reusable.payload, NOW), BoundAction) for _ in range(3))
    spend(session, reusable.nonce)
    assert take(session, reusable.payload, NOW) == Refused(Reason.USED, reusable)


def test_expiry_is_exact_and_an_expired_button_is_still_recognised_for_a_day() -> None:
    session = Session()
    bound = issue(session, "planpay", now=NOW, ttl=TWO_MIN, plan="pro499")
    assert isinstance(resolve(session, bound.payload, NOW + TWO_MIN - timedelta(seconds=1)), BoundAction)
    late = resolve(session, bound.payload, NOW + TWO_MIN)
    assert isinstance(late, Refused) and late.reason == Reason.EXPIRED
    issue(session, "plan", now=NOW + timedelta(days=2), ttl=TWO_MIN, plan="trial")   # prunes the long-expired
    assert resolve(session, bound.payload, NOW + timedelta(days=2)) == Refused(Reason.UNKNOWN)


def test_bindings_survive_clearing_the_dialogue_and_the_session_json() -> None:
    session = Session()
    session.expect("confirmation", until=NOW + TWO_MIN, pending={"id": "p1"})
    bound = issue(session, "tconfirm", now=NOW, ttl=TWO_MIN, pid="p1")
    session.clear()
    assert session.awaiting is None and "pending" not in session.data
    again = Session.from_json(session.to_json())
    assert isinstance(take(again, bound.payload, NOW), BoundAction)
    assert take(Session.from_json(again.to_json()), bound.payload, NOW).reason == Reason.USED


def test_the_same_live_binding_is_reused_and_the_table_stays_bounded() -> None:
    session = Session()
    first = issue(session, "alertdel", now=NOW, ttl=TWO_MIN, alert_id=7)
    assert issue(session, "alertdel", now=NOW, ttl=TWO_MIN, alert_id=7).nonce == first.nonce
    assert issue(session, "alertdel", now=NOW, ttl=TWO_MIN, alert_id=8).nonce != first.nonce
    for n in range(3 * MAX_KEPT):
        issue(session, "tconfirm", now=NOW + timedelta(seconds=n), ttl=TWO_MIN, pid=f"p{n}")
    assert len(session.data[BOUND_KEY]) <= MAX_KEPT
    assert len(session.to_json()) < 12_000


def test_every_refusal_has_a_text_in_every_language_that_says_nothing_changed() -> None:
    catalog = load_catalog()
    texts = {(lang, reason): refusal_text(catalog.translator(lang), reason)
             for lang in LANGUAGES for reason in Reason}
    assert len(set(texts.values())) == len(texts)
    assert "Nothing was changed" in texts[("en", Reason.UNKNOWN)]
