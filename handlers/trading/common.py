"""Small shared helpers of the trading conversations: profile updates, money on the tick grid, rejection texts
and the user's receipt pseudonym. (Settings are typed: ``ctx.services.product.trading``.)"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from collections.abc import Mapping

from engine.api import Rejection
from engine.rejections import CODES, COUNT, MONEY, TEXT, TIME
from handlers.context import Services
from handlers.users import User
from intents.types import IntentResult
from locales.catalog import Translator
from locales.format import ist_time, quantity, rupees

_NUMBER = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)(?![\w])")
PSEUDONYM_SALT_KEY = "receipt_salt"


async def update_profile(services: Services, key: str, changes: Mapping[str, Any]) -> User:
    """Merge ``changes`` into the stored profile, atomically (other features keep their own flags there);
    a value of None removes the flag."""
    return await services.users.update(key, profile_changes=changes)


def numbers_in(text: str) -> list[float]:
    """Numbers typed in a message ("1,200.50" → 1200.5), for answers to a slot question."""
    out: list[float] = []
    for raw in _NUMBER.findall(text or ""):
        try:
            out.append(float(raw.replace(",", "")))
        except ValueError:
            continue
    return out


def to_paise(rupees: float) -> int:
    """Rupees as typed → integer paise (never a float to the engine)."""
    return int((Decimal(str(rupees)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def on_tick(paise: int, tick: int) -> int:
    """``paise`` rounded to the nearest multiple of the day's ``tick`` (from the engine's quote), so the
    card shows exactly the price the engine will accept."""
    tick = max(1, tick)
    return max(tick, int((Decimal(paise) / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP)) * tick)


def rejection_text(t: Translator, rejection: Rejection | None) -> str:
    """The engine's reason in the user's language (``engine.reject.<code>``), with a generic fallback."""
    if rejection is None:
        return t("trading.reject.generic", code="-")
    key = f"engine.reject.{rejection.code}"
    kinds = CODES.get(rejection.code, {})
    if t.has(key):
        try:
            return t(key, **{k: _shown(kinds.get(k, TEXT), v) for k, v in dict(rejection.params).items()})
        except KeyError:
            pass
    return t("trading.reject.generic", code=rejection.code)


def _shown(kind: str, value: Any) -> Any:
    """One rejection parameter for people: paise as ₹1,23,456.50, counts as 1,00,000, times as 15:20."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return value
    if kind == MONEY and isinstance(value, int):
        return rupees(value)
    if kind == COUNT and isinstance(value, int):
        return quantity(value)
    if kind == TIME and isinstance(value, str):
        try:
            return ist_time(datetime.fromisoformat(value))
        except ValueError:
            return value
    return value


async def pseudonym(services: Services, user: User) -> str:
    """A stable, salted hash of the user key for the public receipt log (never the phone number).
    The salt is random per user and kept in their profile, so the log cannot be joined to phone numbers."""
    fresh = await services.users.get(user.key) or user
    salt = fresh.profile.get(PSEUDONYM_SALT_KEY)
    if not salt:
        salt = secrets.token_hex(16)
        await update_profile(services, user.key, {PSEUDONYM_SALT_KEY: salt})
    return "u-" + hashlib.sha256(f"{salt}:{user.key}".encode()).hexdigest()[:32]


def _words(catalog: Any, lang: str, key: str) -> set[str]:
    out: set[str] = set()
    for code in {lang, "en"}:
        if catalog.has(code, key):
            out.update(w.strip().casefold() for w in catalog.raw(code, key).split("|") if w.strip())
    return out


def _typed(text: str | None) -> str:
    return " ".join((text or "").casefold().strip(" .!?।,").split())


def said_yes(services: Services, lang: str, match: IntentResult, text: str | None, *, tapped: bool) -> bool:
    """A typed yes ("yes", "haan", "ஆம்"): the confirm intent when the model is sure, or one of the locale's
    yes-words (so a one-word answer the model is unsure about still counts). Digits never count."""
    if tapped or any(ch.isdigit() for ch in text or ""):
        return False
    sure = match.intent == "confirm" and not match.clarify
    return sure or _typed(text) in _words(services.catalog, lang, "trading.words.yes")


def said_no(services: Services, lang: str, match: IntentResult, text: str | None, *, tapped: bool) -> bool:
    if tapped or any(ch.isdigit() for ch in text or ""):
        return False
    sure = match.intent == "deny" and not match.clarify
    return sure or _typed(text) in _words(services.catalog, lang, "trading.words.no")
