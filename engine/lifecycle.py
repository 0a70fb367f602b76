"""The order lifecycle as a declarative table: (status, event) -> next status.

Anything not in the table is a programming error and raises; business outcomes never reach this point as
illegal transitions because the engine checks them first and returns a rejection instead.
"""

from __future__ import annotations

from enum import StrEnum

from engine.api import EventKind as K
from engine.api import OrderStatus as S


class Event(StrEnum):
    ACCEPT = "accept"                # validated, working (or queued as AMO / pre-open)
    ACCEPT_TRIGGER = "accept_trigger"  # SL / SL-M waiting for its trigger
    REJECT = "reject"
    RELEASE = "release"              # AMO released into the market
    TRIGGER = "trigger"              # stop price reached: now a working limit / market order
    FILL = "fill"                    # partial fill, quantity left
    FILL_COMPLETE = "fill_complete"
    MODIFY = "modify"
    CANCEL = "cancel"                # by the user
    EXPIRE = "expire"                # DAY order at the close
    IOC_CANCEL = "ioc_cancel"        # IOC remainder
    SQUARE_OFF_CANCEL = "square_off_cancel"  # open MIS order cancelled at the cut-off


NEW = None

TABLE: dict[tuple[S | None, Event], S] = {
    (NEW, Event.ACCEPT): S.OPEN,
    (NEW, Event.ACCEPT_TRIGGER): S.TRIGGER_PENDING,
    (NEW, Event.REJECT): S.REJECTED,
    (S.OPEN, Event.RELEASE): S.OPEN,
    (S.TRIGGER_PENDING, Event.RELEASE): S.TRIGGER_PENDING,
    (S.TRIGGER_PENDING, Event.TRIGGER): S.OPEN,
    (S.OPEN, Event.FILL): S.OPEN,
    (S.OPEN, Event.FILL_COMPLETE): S.COMPLETE,
    (S.OPEN, Event.MODIFY): S.OPEN,
    (S.TRIGGER_PENDING, Event.MODIFY): S.TRIGGER_PENDING,
    (S.OPEN, Event.CANCEL): S.CANCELLED,
    (S.TRIGGER_PENDING, Event.CANCEL): S.CANCELLED,
    (S.OPEN, Event.EXPIRE): S.EXPIRED,
    (S.TRIGGER_PENDING, Event.EXPIRE): S.EXPIRED,
    (S.OPEN, Event.IOC_CANCEL): S.CANCELLED,
    (S.OPEN, Event.SQUARE_OFF_CANCEL): S.CANCELLED,
    (S.TRIGGER_PENDING, Event.SQUARE_OFF_CANCEL): S.CANCELLED,
}

TERMINAL = frozenset({S.COMPLETE, S.CANCELLED, S.EXPIRED, S.REJECTED})
WORKING = frozenset({S.OPEN, S.TRIGGER_PENDING})


#: What each transition tells the world (:class:`engine.api.EngineEvent`). Fills are told by the fills
#: themselves, with their trades (``EngineCore.fill``), so they are not here.
TOLD: dict[Event, K] = {
    Event.ACCEPT: K.ACCEPTED, Event.ACCEPT_TRIGGER: K.ACCEPTED, Event.REJECT: K.REJECTED,
    Event.RELEASE: K.RELEASED, Event.TRIGGER: K.TRIGGERED, Event.MODIFY: K.MODIFIED,
    Event.CANCEL: K.CANCELLED, Event.IOC_CANCEL: K.CANCELLED, Event.SQUARE_OFF_CANCEL: K.CANCELLED,
    Event.EXPIRE: K.EXPIRED,
}


class IllegalTransition(RuntimeError):
    pass


def next_status(status: S | None, event: Event) -> S:
    try:
        return TABLE[(status, event)]
    except KeyError:
        raise IllegalTransition(f"{status} --{event}--> ?") from None
