"""The order dialogue, declared: its states (the form's slots, the daily PIN gate, the card, a typed change to an
open order), the session data each works on, its timeout and its secret states. Every trading module moves
through :data:`TRADING`; none writes a dialogue state of its own."""

from __future__ import annotations

from datetime import timedelta

from handlers.conversation import IDLE, Conversation

SYMBOL, QUANTITY, PRICE, TRIGGER = "symbol", "quantity", "price", "trigger"
PIN_SETUP, PIN, CONFIRMATION, MODIFY_VALUE = "pin_setup", "pin", "confirmation", "modify_value"

DRAFT_KEY = "draft"          # the half-built order
CHANGE_KEY = "change"        # a change to an open order, waiting for the PIN
MODIFY_KEY = "modify"        # which field of which order the user is typing a new value for
PENDING_KEY = "pending"      # the card's pending action

_ANY = frozenset({SYMBOL, QUANTITY, PRICE, TRIGGER, PIN_SETUP, PIN, CONFIRMATION, MODIFY_VALUE})
#: A new buy/sell may restart the dialogue from any of its states; what a state works on must be there.
TRADING = Conversation(
    "trading", transitions={state: _ANY for state in (IDLE, *_ANY)}, timeout=timedelta(minutes=30),
    timeout_reply="trading.stale_question", secret=frozenset({PIN_SETUP, PIN}),
    requires={SYMBOL: (DRAFT_KEY,), QUANTITY: (DRAFT_KEY,), PRICE: (DRAFT_KEY,), TRIGGER: (DRAFT_KEY,),
              PIN: (DRAFT_KEY, CHANGE_KEY), CONFIRMATION: (PENDING_KEY,), MODIFY_VALUE: (MODIFY_KEY,)})
