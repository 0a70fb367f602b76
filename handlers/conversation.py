"""Declared conversations: a dialogue names its states, the moves between them, how long it waits, what it
says when the wait is over, and which states are secret — and it alone writes its dialogue state.

A feature declares one :class:`Conversation` and moves with :meth:`Conversation.enter` (never
``session.expect`` with a string of its own): a state it did not declare, a move it did not allow, or a state
entered without the data it needs is an :class:`IllegalTransition` — a programming error caught by the tests,
not a half-built dialogue a user stumbles into. Handlers register on the conversation's own state constants.

Every declared state is registered here (:func:`owner`), so the chain can act on a state without importing
the feature that declared it: the session step says the lapsed conversation's ``timeout_reply`` and the audit
step withholds what is typed in a secret state. Ending a dialogue also goes through here: a conversation
closes its own (:meth:`Conversation.end`); a request that is not an answer to the open question drops
whatever was open (:func:`interrupt`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from handlers.session import Session

IDLE: None = None


class IllegalTransition(RuntimeError):
    """A conversation was asked to move where it never declared it could go."""


#: Every declared state → the conversation that declared it (filled as feature modules are imported).
_OWNERS: dict[str, "Conversation"] = {}


@dataclass(frozen=True, slots=True)
class Conversation:
    name: str
    #: from-state (``IDLE`` = nothing awaited, or another conversation's state) → states it may move to
    transitions: Mapping[str | None, frozenset[str]]
    timeout: timedelta
    timeout_reply: str                                   # locale key said when the wait is over
    secret: frozenset[str] = frozenset()                 # answers never echoed, logged or sent to an LLM
    requires: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # state → data it needs (one of)
    #: conversations whose states this one also moves through (onboarding starts with the language picker);
    #: they keep owning them, timeout reply included
    includes: tuple["Conversation", ...] = ()

    def __post_init__(self) -> None:
        for state in self.declared:
            known = _OWNERS.get(state)
            if known is not None and known.name != self.name:
                raise ValueError(f"state {state!r} is declared by {known.name!r} and {self.name!r}")
            _OWNERS[state] = self

    @property
    def declared(self) -> frozenset[str]:
        """The states this conversation itself declares (and owns)."""
        borrowed = frozenset().union(*(c.states for c in self.includes))
        return frozenset(s for targets in self.transitions.values() for s in targets) - borrowed

    @property
    def states(self) -> frozenset[str]:
        """Every state it may be in: its own and those of the conversations it includes."""
        return self.declared.union(*(c.states for c in self.includes))

    def owns(self, state: str | None) -> bool:
        return state is not None and state in self.states

    def can(self, session: Session, state: str) -> bool:
        current = session.awaiting if self.owns(session.awaiting) else IDLE
        return state in self.transitions.get(current, frozenset())

    def enter(self, session: Session, state: str, *, now: datetime, until: datetime | None = None,
              **data: Any) -> None:
        """Move to ``state``, keeping ``data``; waits until ``until`` (default: now + the timeout)."""
        if state not in self.states:
            raise IllegalTransition(f"{self.name}: {state!r} is not one of its states")
        if not self.can(session, state):
            raise IllegalTransition(f"{self.name}: {session.awaiting!r} -> {state!r} is not a declared move")
        needs = self.requires.get(state, ())
        if needs and not any(data.get(k) or session.data.get(k) for k in needs):
            raise IllegalTransition(f"{self.name}: {state!r} needs one of {', '.join(needs)}")
        session.expect(state, until=until or now + self.timeout, **data)

    def end(self, session: Session) -> None:
        """Close the dialogue (only when it is this conversation's, or nothing is awaited)."""
        if session.awaiting is None or self.owns(session.awaiting):
            session.clear()

    def is_secret(self, state: str | None) -> bool:
        return state in self.secret


def owner(state: str | None) -> Conversation | None:
    """The conversation that declared ``state`` (None for no state, or one nobody declared)."""
    return _OWNERS.get(state) if state is not None else None


def declared() -> dict[str, Conversation]:
    """Every conversation declared so far, by name."""
    return {c.name: c for c in _OWNERS.values()}


def secret_state(state: str | None) -> bool:
    """Is ``state`` a secret one (a PIN prompt) of whichever conversation declared it?"""
    found = owner(state)
    return found is not None and found.is_secret(state)


def interrupt(session: Session) -> None:
    """The user turned to something else (a new request, a tap on another card): whatever dialogue was open
    ends, whichever conversation it belonged to."""
    session.clear()


def lapse(session: Session, now: datetime) -> str | None:
    """End a dialogue whose wait is over; return the name of the state that lapsed (never its data, which may
    be secret) so the turn can say the conversation's timeout reply. None when nothing lapsed."""
    if not session.expired(now):
        return None
    lapsed = session.awaiting
    session.clear()
    return lapsed


def timeout_reply(state: str | None) -> str | None:
    """The locale key said when a wait in ``state`` lapsed (None: nobody declared it)."""
    found = owner(state)
    return found.timeout_reply if found is not None else None


@contextmanager
def kept(session: Session) -> Iterator[None]:
    """Answer an aside (a price asked mid-onboarding) without moving the open dialogue: whatever the aside's
    handler wrote, the dialogue is as it was afterwards."""
    saved = (session.awaiting, session.expires_at, dict(session.data))
    try:
        yield
    finally:
        session.awaiting, session.expires_at, session.data = saved[0], saved[1], saved[2]
