"""OnboardingGate: nobody trades, or is even answered, before choosing a language and consenting to terms.

First contact gets a welcome in the detected language with a language picker; then the terms with
Agree / No thanks buttons; on consent the virtual account opens. (Two small pre-routing duties of the
trading conversations also live here, as this is their only middleware: a typed PIN is kept out of the
trace's entities, and a JSON document is read as "verify this receipt".) The first real request the newcomer made
("buy 10 TCS") is remembered and replayed through the normal chain right after consent, so a newcomer
reaches their goal in a few taps. Users provisioned by the back office (profile already has consent) pass
straight through.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from handlers.trading.states import PIN_SETUP, TRADING
from handlers.messages import MessageKind
from handlers.security import looks_like_pin_attempt
from intents.types import Entities
from handlers.onboarding import (CONSENT_ACTION, LANG_ACTION, NOT_REMEMBERED, consent_card, consented,
                                 language_picker, open_account, typed_language)
from handlers.replies import Reply, Text
from handlers.trading.common import said_no, said_yes, setting
from handlers.turn import Next, Turn, TurnResult, TurnStatus
from locales.catalog import LANGUAGES

ONBOARDING_MINUTES = 24 * 60
#: Intents that need no account and are answered even before consent (trading and account intents wait).
PUBLIC_INTENTS = frozenset({"price_quote", "education", "help", "advice"})


class OnboardingGate:
    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        user, session, match = turn.user, turn.session, turn.match
        assert user is not None and session is not None and match is not None
        if TRADING.is_secret(session.awaiting) and looks_like_pin_attempt(turn.message.text or ""):
            # A PIN: keep it out of the trace's entities and anything downstream (never echo a PIN).
            turn.match = match = replace(match, entities=Entities(), alternatives=())
        attachment = turn.message.attachment
        if turn.message.kind == MessageKind.DOCUMENT and attachment is not None and (
                (attachment.filename or "").lower().endswith(".json") or "json" in (attachment.mime_type or "")):
            # A JSON file sent to the bot is a receipt to verify (the text model sees only a caption, if any).
            turn.match = match = replace(match, intent="verify_receipt", confidence=1.0, clarify=False,
                                         alternatives=(), source="document")
        if consented(user.profile) and not (turn.retry and session.awaiting == "consent"):
            # (A retried consent turn -- its worker died after recording consent, before the dialogue moved
            # on -- runs again: opening the account is idempotent, and the user still needs its replies.)
            return await call_next(turn)
        services = turn.services
        action, _, arg = (turn.message.payload or "").partition(":")
        state = session.awaiting if session.awaiting in ("language", "consent") else None
        until = turn.now + timedelta(minutes=ONBOARDING_MINUTES)
        remembered = session.data.get("resume") if state else None

        def reply(*replies: Reply) -> TurnResult:
            return TurnResult(status=TurnStatus.HANDLED, user_key=user.key, correlation_id=turn.correlation_id,
                              replies=replies, match=match, lang=turn.lang, awaiting=session.awaiting,
                              route="onboarding.gate")

        def t(key: str, **params) -> str:
            return services.catalog.render(turn.lang, key, **params)

        chosen = None
        if action == LANG_ACTION:
            if arg in ("more", "back"):
                session.expect("language", until=until)
                return reply(language_picker(services.catalog.translator(turn.lang), page=2 if arg == "more" else 1,
                                             intro_key="onboarding.pick_language"))
            chosen = arg if arg in LANGUAGES else None
        elif state == "language" and not turn.message.payload:
            if match.entities.language in LANGUAGES:
                chosen = match.entities.language
            elif typed_language(services.catalog.translator(turn.lang), turn.message.text or ""):
                chosen = typed_language(services.catalog.translator(turn.lang), turn.message.text or "")
            elif said_yes(services, turn.lang, match, turn.message.text, tapped=False):
                chosen = turn.lang          # "yes" / "ok": keep the language they write in
        if chosen is not None:
            await services.users.update(user.key, language=chosen)
            turn.lang = chosen
            session.awaiting = None
            session.expect("consent", until=until)
            return reply(consent_card(services.catalog.translator(chosen)))

        typed = state == "consent" and not turn.message.payload
        agreed = (action == CONSENT_ACTION and arg == "yes") or (
            typed and said_yes(services, turn.lang, match, turn.message.text, tapped=False))
        declined = (action == CONSENT_ACTION and arg == "no") or (
            typed and said_no(services, turn.lang, match, turn.message.text, tapped=False))
        if agreed:
            if user.language not in LANGUAGES:
                await services.users.update(user.key, language=turn.lang)
            opened = await open_account(services, user.key, turn.now)
            session.clear()
            turn.user = await services.users.get(user.key) or user
            if remembered:
                return await self._replay(turn, call_next, str(remembered), opened)
            ttl = int(setting(services, "confirmation", "dialogue_minutes", 30))
            TRADING.enter(session, PIN_SETUP, now=turn.now, until=turn.now + timedelta(minutes=ttl))
            return reply(opened, Text(t("trading.pin.setup_intro")))
        if declined:
            session.clear()
            return reply(Text(t("onboarding.declined")))
        if state is not None and not turn.message.payload and match.intent in PUBLIC_INTENTS and not match.clarify:
            return await self._public(turn, call_next, state)
        if state == "consent":
            return reply(Text(t("onboarding.consent_needed")), consent_card(services.catalog.translator(turn.lang)))
        if state == "language":
            return reply(language_picker(services.catalog.translator(turn.lang), intro_key="onboarding.pick_language"))
        # First contact: welcome + language picker, remembering a real request for after consent.
        if match.entities.language in LANGUAGES and not turn.message.payload:
            turn.lang = match.entities.language      # "Tamil mein baat karo" as a first message: welcome in Tamil
        text = (turn.message.text or "").strip()
        session.clear()
        remember = match.intent not in NOT_REMEMBERED and not looks_like_pin_attempt(text)   # never a PIN
        if text and not turn.message.payload and remember:
            session.data["resume"] = text
        session.expect("language", until=until)
        return reply(language_picker(services.catalog.translator(turn.lang)))

    async def _public(self, turn: Turn, call_next: Next, state: str) -> TurnResult:
        """Public information (a price, a lesson, help) needs no account: answer it, keep the onboarding
        step where it was and show its prompt again."""
        session = turn.session
        assert session is not None
        saved = (session.awaiting, session.expires_at, dict(session.data))
        result = await call_next(turn)
        session.awaiting, session.expires_at, session.data = saved[0], saved[1], saved[2]
        t = turn.services.catalog.translator(turn.lang)
        prompt = consent_card(t) if state == "consent" else language_picker(t, intro_key="onboarding.pick_language")
        return replace(result, replies=(*result.replies, prompt), awaiting=session.awaiting)

    async def _replay(self, turn: Turn, call_next: Next, text: str, opened: Text) -> TurnResult:
        """Run the newcomer's first request now that the account exists, after the 'account opened' note."""
        user = turn.user
        assert user is not None
        turn.message = replace(turn.message, text=text, payload=None, kind=MessageKind.TEXT)
        turn.match = await turn.services.intents.aclassify(text, lang_hint=user.language)
        result = await call_next(turn)
        return replace(result, replies=(opened, *result.replies))
