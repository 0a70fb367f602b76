"""Declared conversations: a dialogue names its states, the moves between them, how long it waits, what it
says when the wait is over, and which states are secret — and it alone writes its dialogue state.

A feature declares one :class:`Conversation` and moves with :meth:`Conversation.enter` (never
``session.expect`` with a string of its own): a state it did not declare, a move it did not allow, or a state
entered without the data it needs is an :class:`IllegalTransition` — a programming error caught by the tests,
not a half-built dialogue a user stumbles into. Handlers register on the conversation's own state constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

from handlers.session import Session

IDLE: None = None


class IllegalTransition(RuntimeError):
    """A conversation was asked to move where it never declared it could go."""


@dataclass(frozen=True, slots=True)
class Conversation:
    name: str
    #: from-state (``IDLE`` = nothing awaited, or another conversation's state) → states it may move to
    transitions: Mapping[str | None, frozenset[str]]
    timeout: timedelta
    timeout_reply: str                                   # locale key said when the wait is over
    secret: frozenset[str] = frozenset()                 # answers never echoed, logged or sent to an LLM
    requires: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # state → data it needs (one of)

    @property
    def states(self) -> frozenset[str]:
        return frozenset(s for targets in self.transitions.values() for s in targets)

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
