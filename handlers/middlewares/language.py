"""Understand the message (intent, entities, detected language) and pick the reply language.

The reply language is the user's chosen one; a user who has not chosen yet is answered in the language
they wrote in. Taps carry no text: their intent is the payload's action, with full confidence.

A text longer than the classifier reads (its ``max_chars``, else :data:`intents.clip.MAX_CHARS`) is cut
here, for the whole turn: the classifier and the handlers see the same words, the audit log (written before
this step) keeps the full message, and the reply starts with a note that only the beginning was read.

A tap on a "Did you mean …?" option re-reads the user's original words with the chosen intent; the words are
the clarification conversation's (``handlers/clarification.py``), handed over by the function the composition
root passes in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from handlers.replies import Text
from handlers.session import Session
from handlers.turn import Next, Turn, TurnResult, TurnStatus
from intents.clip import MAX_CHARS, clip, was_clipped
from intents.types import IntentResult
from locales.catalog import DEFAULT_LANGUAGE, LANGUAGES
from locales.format import group_indian

#: ``session -> the words a clarification asked about`` (and the clarification ends), or None if none is open
Clarified = Callable[[Session], str | None]


class LanguageMiddleware:
    def __init__(self, *, clarified: Clarified) -> None:
        self._clarified = clarified

    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        msg = turn.message
        user = turn.user
        assert user is not None, "session middleware runs first"
        action, _, arg = (msg.payload or "").partition(":")
        limit = getattr(turn.services.intents, "max_chars", MAX_CHARS)
        if limit is not None and not isinstance(limit, int):
            limit = MAX_CHARS         # a classifier that does not say what it reads gets the default limit
        clipped = False
        words = self._clarified(turn.session) if action == "intent" and turn.session is not None else None
        if words is not None:
            # The user picked a meaning after a clarification: re-read their original words with that intent.
            original = clip(words, limit)
            base = await turn.services.intents.aclassify(original, lang_hint=user.language)
            chosen = arg if arg and arg != "none" else "out_of_scope"
            turn.match = replace(base, intent=chosen, confidence=1.0, clarify=False, source="clarified")
            turn.message = replace(msg, payload=None, text=original)
        elif msg.payload is not None:
            turn.match = IntentResult(intent=action, confidence=1.0, lang=user.language or DEFAULT_LANGUAGE,
                                      source="payload")
        else:
            text = msg.text or ""
            if was_clipped(text, limit):
                clipped = True
                text = clip(text, limit)
                turn.message = replace(msg, text=text)
            turn.match = await turn.services.intents.aclassify(text, lang_hint=user.language)
        if user.language in LANGUAGES:
            turn.lang = user.language  # type: ignore[assignment]
        elif turn.match.lang in LANGUAGES:
            turn.lang = turn.match.lang
        else:
            turn.lang = DEFAULT_LANGUAGE
        result = await call_next(turn)
        if clipped and result.status is TurnStatus.HANDLED:
            lang = result.lang if result.lang in LANGUAGES else turn.lang
            note = turn.services.catalog.render(lang, "core.too_long", limit=group_indian(limit or MAX_CHARS))
            result = replace(result, replies=(Text(note), *result.replies))
        return result
