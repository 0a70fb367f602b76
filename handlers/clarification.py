"""The "Did you mean …?" dialogue, declared: asked by ``handlers/basics.py`` when intent gating is unsure, and
answered by a tap the language step re-reads with the chosen intent (:func:`original_words`, passed to
``handlers/middlewares/language.py`` by the composition root). Its one state keeps the user's original words."""

from __future__ import annotations

from datetime import timedelta

from handlers.conversation import IDLE, Conversation
from handlers.session import Session

CLARIFY = "clarify"
CLARIFICATION = Conversation("clarification",
                             transitions={IDLE: frozenset({CLARIFY}), CLARIFY: frozenset({CLARIFY})},
                             timeout=timedelta(minutes=30), timeout_reply="core.lapsed",
                             requires={CLARIFY: ("text",)})


def original_words(session: Session) -> str | None:
    """The words the open clarification asked about, ending it; None when no clarification is open."""
    if session.awaiting != CLARIFY:
        return None
    words = str(session.data.get("text", ""))
    CLARIFICATION.end(session)
    return words
