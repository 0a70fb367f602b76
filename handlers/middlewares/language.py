"""Understand the message (intent, entities, detected language) and pick the reply language.

The reply language is the user's chosen one; a user who has not chosen yet is answered in the language
they wrote in. Taps carry no text: their intent is the payload's action, with full confidence."""

from __future__ import annotations

from dataclasses import replace

from handlers.turn import Next, Turn, TurnResult
from intents.types import IntentResult
from locales.catalog import DEFAULT_LANGUAGE, LANGUAGES


class LanguageMiddleware:
    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        msg = turn.message
        user = turn.user
        assert user is not None, "session middleware runs first"
        action, _, arg = (msg.payload or "").partition(":")
        if action == "intent" and turn.session is not None and turn.session.awaiting == "clarify":
            # The user picked a meaning after a clarification: re-read their original words with that intent.
            original = str(turn.session.data.get("text", ""))
            turn.session.clear()
            base = await turn.services.intents.aclassify(original, lang_hint=user.language)
            chosen = arg if arg and arg != "none" else "out_of_scope"
            turn.match = replace(base, intent=chosen, confidence=1.0, clarify=False, source="clarified")
            turn.message = replace(msg, payload=None, text=original)
        elif msg.payload is not None:
            turn.match = IntentResult(intent=action, confidence=1.0, lang=user.language or DEFAULT_LANGUAGE,
                                      source="payload")
        else:
            turn.match = await turn.services.intents.aclassify(msg.text or "", lang_hint=user.language)
        if user.language in LANGUAGES:
            turn.lang = user.language  # type: ignore[assignment]
        elif turn.match.lang in LANGUAGES:
            turn.lang = turn.match.lang
        else:
            turn.lang = DEFAULT_LANGUAGE
        return await call_next(turn)
