"""First contact: welcome, language picker, consent to terms and the virtual account.

The conversation itself runs in :class:`handlers.middlewares.onboarding.OnboardingGate` (it must hold every
other intent until consent); this module holds the pieces it composes and the routes for onboarding taps
that arrive after the user is already set up (an old picker tapped again, say).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from collections.abc import Mapping

from handlers.context import Services, TurnContext
from handlers.replies import Button, Buttons, ListReply, ListRow, Text
from handlers.router import Router
from handlers.trading.common import setting, update_profile
from locales.catalog import LANGUAGES, Translator
from locales.format import rupees

router = Router("onboarding")

CONSENT_KEY = "consent"
LANG_ACTION = "onb_lang"
CONSENT_ACTION = "onb_consent"
#: Intents not worth replaying after consent (the welcome already answers them).
NOT_REMEMBERED = frozenset({"greeting", "help", "out_of_scope", "confirm", "deny", "change_language", "clarify"})
PAGE_SIZE = 9   # nine languages and a "more" row fit WhatsApp's ten list rows


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
    version = str(setting(services, "onboarding", "terms_version", "2026-11"))
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
