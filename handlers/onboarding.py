"""First contact, declared: welcome and language picker → consent to terms → the virtual account, then the
trading PIN (handed over to the trading conversation) or the newcomer's first request, replayed.

A user who has not consented yet has every turn taken by :func:`converse` (the onboarding gate sends it here):
nothing else is answered before consent except public information (a price, a lesson, help), after which the
open step is asked again. Each step is registered on its own state or tap. The first real request the
newcomer made ("buy 10 TCS") is remembered and replayed through the normal chain right after consent, so a
newcomer reaches their goal in a few taps. Users provisioned by the back office (profile already has consent)
never come here. :data:`router` answers onboarding taps that arrive after the user is set up (an old picker
tapped again, say).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from handlers.context import Services, TurnContext
from handlers.conversation import IDLE, Conversation, interrupt, kept
from handlers.language import LANGUAGE, PICK
from handlers.messages import MessageKind
from handlers.replies import Button, Buttons, ListReply, ListRow, Reply, Text
from handlers.router import Router
from handlers.security import looks_like_pin_attempt
from handlers.trading.common import said_no, said_yes, update_profile
from handlers.trading.states import PIN_SETUP, TRADING
from handlers.turn import Next, Turn, TurnResult, TurnStatus
from locales.catalog import LANGUAGES, Translator
from locales.format import rupees

router = Router("onboarding")

CONSENT_KEY = "consent"
LANG_ACTION = "onb_lang"
CONSENT_ACTION = "onb_consent"
#: Intents not worth replaying after consent (the welcome already answers them).
NOT_REMEMBERED = frozenset({"greeting", "help", "out_of_scope", "confirm", "deny", "change_language", "clarify"})
PAGE_SIZE = 9   # nine languages and a "more" row fit WhatsApp's ten list rows
#: Intents that need no account and are answered even before consent (trading and account intents wait).
PUBLIC_INTENTS = frozenset({"price_quote", "education", "help", "advice"})
RESUME_KEY = "resume"      # the newcomer's first request, replayed after consent

#: The terms are shown: Agree / No thanks (or typed yes / no).
CONSENT = "consent"
#: Starts in the language picker (the language conversation's state, waited on here for a day), then consent.
ONBOARDING = Conversation(
    "onboarding", transitions={state: frozenset({PICK, CONSENT}) for state in (IDLE, PICK, CONSENT)},
    timeout=timedelta(hours=24), timeout_reply="core.lapsed", includes=(LANGUAGE,))


def consented(profile: Mapping[str, Any]) -> bool:
    return bool(profile.get(CONSENT_KEY))


def consent_profile(now: datetime, *, terms_version: str = "2026-11") -> dict[str, Any]:
    """Profile fields recording consent (also for provisioning: ``gridworks users create``)."""
    return {CONSENT_KEY: {"at": now.isoformat(), "terms": terms_version}}


def language_picker(t: Translator, *, page: int = 1, intro_key: str = "onboarding.welcome") -> ListReply:
    first = page <= 1
    codes = LANGUAGES[:PAGE_SIZE] if first else LANGUAGES[PAGE_SIZE:]
    rows = [ListRow(id=f"{LANG_ACTION}:{code}", title=t(f"language.name.{code}"),
                    description=t(f"language.about.{code}")) for code in codes]
    rows.append(ListRow(id=f"{LANG_ACTION}:{'more' if first else 'back'}",
                        title=t("language.more" if first else "language.back")))
    return ListReply(body=t(intro_key), button=t("language.button"), rows=tuple(rows),
                     section_title=t("language.section"))


def typed_language(t: Translator, text: str) -> str | None:
    """A language typed by name or alias ("Tamil", "हिंदी") while the picker is open."""
    typed = " ".join(text.casefold().split())
    if not typed:
        return None
    for code in LANGUAGES:
        names = {t(f"language.name.{code}").casefold(), code.casefold()}
        if t.has(f"language.aliases.{code}"):
            names.update(n.strip().casefold() for n in t(f"language.aliases.{code}").split("|") if n.strip())
        if typed in names:
            return code
    return None


def consent_card(t: Translator) -> Buttons:
    return Buttons(t("onboarding.terms"), (Button(f"{CONSENT_ACTION}:yes", t("onboarding.button.agree")),
                                           Button(f"{CONSENT_ACTION}:no", t("onboarding.button.decline"))))


async def open_account(services: Services, key: str, now: datetime) -> Text:
    """Record consent and open the virtual trading account (idempotent in the engine)."""
    version = services.product.trading.onboarding.terms_version
    user = await update_profile(services, key, consent_profile(now, terms_version=version))
    funds = await services.engine.open_account(user.account)
    t = services.catalog.translator(user.language or "en")
    return Text(t("onboarding.account_opened", cash=rupees(funds.cash_paise)))


@router.on_payload(LANG_ACTION)
async def language_tap_after_onboarding(ctx: TurnContext):
    code = ctx.payload_args[0] if ctx.payload_args else ""
    if code not in LANGUAGES:
        return language_picker(ctx.t, page=2 if code == "more" else 1, intro_key="onboarding.pick_language")
    await ctx.services.users.update(ctx.user.key, language=code)
    return Text(ctx.services.catalog.render(code, "onboarding.language_set"))


@router.on_payload(CONSENT_ACTION)
async def consent_tap_after_onboarding(ctx: TurnContext):
    return Text(ctx.t("onboarding.already_set_up"))


def onboarded(turn: Turn) -> bool:
    """Has the user consented? (A retried consent turn -- its worker died after recording consent, before the
    dialogue moved on -- runs again: opening the account is idempotent, and the user still needs its replies.)"""
    assert turn.user is not None and turn.session is not None
    return consented(turn.user.profile) and not (turn.retry and turn.session.awaiting == CONSENT)


@dataclass(slots=True)
class _Step:
    """One onboarding turn: the chain's turn, the rest of the chain, and the few things every step says."""

    turn: Turn
    call_next: Next

    @property
    def t(self) -> Translator:
        return self.turn.services.catalog.translator(self.turn.lang)

    def reply(self, *replies: Reply) -> TurnResult:
        turn = self.turn
        assert turn.user is not None and turn.session is not None
        return TurnResult(status=TurnStatus.HANDLED, user_key=turn.user.key, correlation_id=turn.correlation_id,
                          replies=replies, match=turn.match, lang=turn.lang, awaiting=turn.session.awaiting,
                          route="onboarding.gate")

    def said(self, yes: bool) -> bool:
        turn = self.turn
        assert turn.match is not None
        check = said_yes if yes else said_no
        return check(turn.services, turn.lang, turn.match, turn.message.text, tapped=False)


Step = Callable[[_Step, "str | None"], Awaitable["TurnResult | None"]]
_ON_TAP: dict[str, Step] = {}
_ON_STATE: dict[str | None, Step] = {}


def _on_tap(action: str) -> Callable[[Step], Step]:
    def register(fn: Step) -> Step:
        _ON_TAP[action] = fn
        return fn
    return register


def _on_state(state: str | None) -> Callable[[Step], Step]:
    def register(fn: Step) -> Step:
        _ON_STATE[state] = fn
        return fn
    return register


async def converse(turn: Turn, call_next: Next) -> TurnResult:
    """A not-yet-onboarded user's turn: the step registered on their tap or on the open state answers; when
    it does not, public information is answered (the open step asked again after it), else the open step is
    asked again (first contact: the welcome)."""
    session, msg, match = turn.session, turn.message, turn.match
    assert session is not None and match is not None
    step = _Step(turn, call_next)
    state = session.awaiting if ONBOARDING.owns(session.awaiting) else IDLE
    handler = _ON_TAP.get(msg.payload.partition(":")[0]) if msg.payload else _ON_STATE.get(state)
    answered = await handler(step, state) if handler is not None else None
    if answered is not None:
        return answered
    if state is not IDLE and not msg.payload and match.intent in PUBLIC_INTENTS and not match.clarify:
        return await _public(step, state)
    if state == CONSENT:
        return step.reply(Text(step.t("onboarding.consent_needed")), consent_card(step.t))
    if state == PICK:
        return step.reply(language_picker(step.t, intro_key="onboarding.pick_language"))
    return _welcome(step)


def _welcome(step: _Step) -> TurnResult:
    """First contact: welcome + language picker, remembering a real request for after consent."""
    turn = step.turn
    assert turn.session is not None and turn.match is not None
    msg, match = turn.message, turn.match
    if match.entities.language in LANGUAGES and not msg.payload:
        turn.lang = match.entities.language      # "Tamil mein baat karo" as a first message: welcome in Tamil
    text = (msg.text or "").strip()
    interrupt(turn.session)
    remember = match.intent not in NOT_REMEMBERED and not looks_like_pin_attempt(text)   # never a PIN
    resume = {RESUME_KEY: text} if text and not msg.payload and remember else {}
    ONBOARDING.enter(turn.session, PICK, now=turn.now, **resume)
    return step.reply(language_picker(step.t))


@_on_tap(LANG_ACTION)
async def _language_tapped(step: _Step, state: str | None) -> TurnResult | None:
    turn = step.turn
    assert turn.session is not None
    arg = (turn.message.payload or "").partition(":")[2]
    if arg in ("more", "back"):
        ONBOARDING.enter(turn.session, PICK, now=turn.now)
        return step.reply(language_picker(step.t, page=2 if arg == "more" else 1,
                                          intro_key="onboarding.pick_language"))
    return await _chosen(step, arg) if arg in LANGUAGES else None


@_on_state(PICK)
async def _language_typed(step: _Step, state: str | None) -> TurnResult | None:
    turn = step.turn
    assert turn.match is not None
    if turn.match.entities.language in LANGUAGES:
        return await _chosen(step, turn.match.entities.language)
    typed = typed_language(step.t, turn.message.text or "")
    if typed:
        return await _chosen(step, typed)
    if step.said(yes=True):
        return await _chosen(step, turn.lang)          # "yes" / "ok": keep the language they write in
    return None


async def _chosen(step: _Step, code: str) -> TurnResult:
    turn = step.turn
    assert turn.user is not None and turn.session is not None
    await turn.services.users.update(turn.user.key, language=code)
    turn.lang = code
    ONBOARDING.enter(turn.session, CONSENT, now=turn.now)
    return step.reply(consent_card(step.t))


@_on_tap(CONSENT_ACTION)
async def _consent_tapped(step: _Step, state: str | None) -> TurnResult | None:
    arg = (step.turn.message.payload or "").partition(":")[2]
    if arg == "yes":
        return await _agreed(step, state)
    return _declined(step) if arg == "no" else None


@_on_state(CONSENT)
async def _consent_typed(step: _Step, state: str | None) -> TurnResult | None:
    if step.said(yes=True):
        return await _agreed(step, state)
    return _declined(step) if step.said(yes=False) else None


async def _agreed(step: _Step, state: str | None) -> TurnResult:
    """Open the account; then the newcomer's first request, or the PIN setup (the trading conversation's)."""
    turn = step.turn
    user, session, services = turn.user, turn.session, turn.services
    assert user is not None and session is not None
    remembered = session.data.get(RESUME_KEY) if state else None
    if user.language not in LANGUAGES:
        await services.users.update(user.key, language=turn.lang)
    opened = await open_account(services, user.key, turn.now)
    ONBOARDING.end(session)
    turn.user = await services.users.get(user.key) or user
    if remembered:
        return await _replay(step, str(remembered), opened)
    ttl = services.product.trading.confirmation.dialogue_minutes
    TRADING.enter(session, PIN_SETUP, now=turn.now, until=turn.now + timedelta(minutes=ttl))
    return step.reply(opened, Text(step.t("trading.pin.setup_intro")))


def _declined(step: _Step) -> TurnResult:
    assert step.turn.session is not None
    ONBOARDING.end(step.turn.session)
    return step.reply(Text(step.t("onboarding.declined")))


async def _public(step: _Step, state: str) -> TurnResult:
    """Public information (a price, a lesson, help) needs no account: answer it, keep the onboarding step where
    it was and show its prompt again."""
    turn = step.turn
    assert turn.session is not None
    with kept(turn.session):
        result = await step.call_next(turn)
    prompt = consent_card(step.t) if state == CONSENT else language_picker(step.t, intro_key="onboarding.pick_language")
    return replace(result, replies=(*result.replies, prompt), awaiting=turn.session.awaiting)


async def _replay(step: _Step, text: str, opened: Text) -> TurnResult:
    """Run the newcomer's first request now that the account exists, after the 'account opened' note."""
    turn = step.turn
    assert turn.user is not None
    turn.message = replace(turn.message, text=text, payload=None, kind=MessageKind.TEXT)
    turn.match = await turn.services.intents.aclassify(text, lang_hint=turn.user.language)
    result = await step.call_next(turn)
    return replace(result, replies=(opened, *result.replies))
