"""Declared conversations: the order dialogue moves only through its declaration — an undeclared state, a move
it did not declare or a state without the data it works on is a typed error, and no trading module writes a
dialogue state of its own."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import IST
from handlers.conversation import IDLE, Conversation, IllegalTransition
from handlers.session import Session
from handlers.trading.states import CONFIRMATION, DRAFT_KEY, PENDING_KEY, PIN, QUANTITY, TRADING

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
HANDLERS = Path(__file__).resolve().parents[2] / "handlers"


def test_a_state_needs_the_data_it_works_on() -> None:
    session = Session()
    with pytest.raises(IllegalTransition, match="needs one of draft"):
        TRADING.enter(session, QUANTITY, now=NOW)
    with pytest.raises(IllegalTransition, match="needs one of pending"):
        TRADING.enter(session, CONFIRMATION, now=NOW, **{DRAFT_KEY: {"side": "BUY"}})
    TRADING.enter(session, QUANTITY, now=NOW, **{DRAFT_KEY: {"side": "BUY"}})
    assert session.awaiting == QUANTITY and session.expires_at == NOW + TRADING.timeout
    TRADING.enter(session, PIN, now=NOW)                  # the draft waits behind the PIN
    assert TRADING.is_secret(session.awaiting)


def test_undeclared_states_and_moves_are_refused() -> None:
    with pytest.raises(IllegalTransition, match="not one of its states"):
        TRADING.enter(Session(), "qty", now=NOW)
    card = Conversation("card", transitions={IDLE: frozenset({"shown"}), "shown": frozenset({"done"})},
                        timeout=timedelta(minutes=2), timeout_reply="trading.confirm.expired")
    session = Session()
    with pytest.raises(IllegalTransition, match="None -> 'done'"):
        card.enter(session, "done", now=NOW)
    card.enter(session, "shown", now=NOW)
    with pytest.raises(IllegalTransition, match="'shown' -> 'shown'"):
        card.enter(session, "shown", now=NOW)
    card.enter(session, "done", now=NOW)
    card.end(session)
    assert session.awaiting is None
    TRADING.enter(session, CONFIRMATION, now=NOW, **{PENDING_KEY: {"id": "x"}})
    card.end(session)                                     # not its dialogue: left alone
    assert session.awaiting == CONFIRMATION


def test_no_trading_module_writes_a_dialogue_state_itself() -> None:
    files = [*HANDLERS.glob("trading/*.py"), HANDLERS / "orders.py", HANDLERS / "security.py",
             HANDLERS / "middlewares" / "onboarding.py"]
    states = "|".join(sorted(TRADING.states))
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not re.search(rf"\.expect\(\s*\"({states})\"", text), path.name
        assert not re.search(rf"on_awaiting\(\s*\"({states})\"", text), path.name


#: Features that still import a middleware, each with its owner's pending move (shrinks to empty).
PENDING = {"upgrade.py": "service_window (campaigns helper)", "pin_guard.py": "is_users_pin out of middlewares.audit"}


def test_features_do_not_import_middlewares() -> None:
    composers = {"dispatcher.py", "routes.py"}          # the chain's composition, not features
    offenders = sorted(p.name for p in [*HANDLERS.glob("*.py"), *HANDLERS.glob("trading/*.py")]
                       if p.name not in composers | set(PENDING)
                       and re.search(r"^\s*from handlers\.middlewares", p.read_text(encoding="utf-8"), re.M))
    assert offenders == []


def test_declared_conversations_own_their_state_literals() -> None:
    from handlers.alerts import ALERTS
    from handlers.clarification import CLARIFICATION
    from handlers.quotes import QUOTES

    states = "|".join(sorted(ALERTS.states | CLARIFICATION.states | QUOTES.states | TRADING.states))
    for path in [*HANDLERS.glob("*.py"), *HANDLERS.glob("*/*.py")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(rf"(\.expect\(|on_awaiting\(|awaiting == )\s*\"({states})\"", text), path.name
