"""The "Did you mean …?" dialogue, declared: asked by ``handlers/basics.py`` when intent gating is unsure, and
answered by a tap the language step re-reads with the chosen intent (``handlers/middlewares/language.py``).
Its one state keeps the user's original words."""

from __future__ import annotations

from datetime import timedelta

from handlers.conversation import IDLE, Conversation

CLARIFY = "clarify"
CLARIFICATION = Conversation("clarification",
                             transitions={IDLE: frozenset({CLARIFY}), CLARIFY: frozenset({CLARIFY})},
                             timeout=timedelta(minutes=30), timeout_reply="core.fallback",
                             requires={CLARIFY: ("text",)})
