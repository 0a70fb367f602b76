"""Trading PIN: the knowledge factor of two-factor trading (the registered WhatsApp number is possession).

The PIN is stored only as a salted scrypt hash in the user's profile and is never echoed, logged or kept in the
session. It is asked once per IST trading day before the first order; five wrong PINs lock trading for 30
minutes (both configurable in ``config/trading.toml``). Everything here is policy on plain values so the
conversation code in ``handlers/trading*.py`` stays small and these rules are testable on their own.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any
from collections.abc import Mapping

from config.product import PinConfig
from engine.clock import IST

_DIGITS = re.compile(r"^\d+$")

#: Profile keys owned by this module.
PIN_KEY = "pin"                     # {"alg": "scrypt", "n", "r", "p", "salt": hex, "hash": hex}
VERIFIED_DAY_KEY = "pin_verified_day"
FAILURES_KEY = "pin_failures"
LOCKED_UNTIL_KEY = "pin_locked_until"


@dataclass(frozen=True, slots=True)
class PinPolicy:
    min_length: int = 4
    max_length: int = 6
    max_attempts: int = 5
    lockout_minutes: int = 30
    scrypt_n: int = 16384
    scrypt_r: int = 8
    scrypt_p: int = 1

    @classmethod
    def from_config(cls, pin: PinConfig) -> PinPolicy:
        """From ``config/trading.toml`` ``[pin]``."""
        return cls(**pin.model_dump())


def clean_pin_text(text: str) -> str:
    """Digits typed with spaces ("12 34") count; anything else is kept as is for the format check."""
    return "".join(text.split())


def looks_like_pin_attempt(text: str) -> bool:
    """A message of digits only: treated as a PIN attempt (and never shown back or kept)."""
    return bool(_DIGITS.match(clean_pin_text(text)))


def valid_pin_format(pin: str, policy: PinPolicy) -> bool:
    return bool(_DIGITS.match(pin)) and policy.min_length <= len(pin) <= policy.max_length


class WeakPin(StrEnum):
    """Why a chosen PIN is refused: someone holding the phone could guess it in the five attempts."""

    REPEATED = "repeated"      # 0000, 111111
    SEQUENCE = "sequence"      # 1234, 987654, and around the dial: 7890, 8901, 2109
    PHONE = "phone"            # the last digits of the user's own WhatsApp number


def ascii_digits(text: str) -> str:
    """``text`` with every decimal digit as ASCII ("४८२६" → "4826"); other characters are kept."""
    return "".join(str(unicodedata.digit(c)) if c.isdigit() and unicodedata.digit(c, None) is not None else c
                   for c in text)


def weak_pin(pin: str, *, phone: str | None = None) -> WeakPin | None:
    """The reason ``pin`` (already in a valid format) is too easy to guess, or None. Checked when a PIN is
    chosen (in chat and by ``gridworks users create --pin``), never on entry: an existing PIN keeps working."""
    digits = ascii_digits(pin)
    if len(set(digits)) == 1:
        return WeakPin.REPEATED
    steps = {(int(b) - int(a)) % 10 for a, b in pairwise(digits)}
    if steps in ({1}, {9}):
        return WeakPin.SEQUENCE
    number = ascii_digits(phone or "")
    number = "".join(c for c in number if c.isascii() and c.isdigit())
    if len(number) >= len(digits) and number.endswith(digits):
        return WeakPin.PHONE
    return None


def pin_candidates(text: str | None, policy: PinPolicy) -> tuple[str, ...]:
    """The strings ``text`` would be if it were the user's PIN: only for PIN-shaped texts (4–6 digits, with
    spaces, dashes or dots between them allowed), so the costly hash check runs for those alone. Both the
    digits as typed and as ASCII are tried (a PIN chosen in Devanagari digits is hashed as typed)."""
    if not text or len(text) > 4 * policy.max_length:
        return ()
    typed = re.sub(r"[\s\-.]", "", text)
    if not valid_pin_format(typed, policy):
        return ()
    return tuple(dict.fromkeys((typed, ascii_digits(typed))))


def hash_pin(pin: str, policy: PinPolicy = PinPolicy(), *, salt: bytes | None = None) -> dict[str, Any]:
    """The profile record for ``pin``: a salted scrypt hash (the PIN itself is not stored)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=policy.scrypt_n, r=policy.scrypt_r, p=policy.scrypt_p,
                            dklen=32)
    return {"alg": "scrypt", "n": policy.scrypt_n, "r": policy.scrypt_r, "p": policy.scrypt_p,
            "salt": salt.hex(), "hash": digest.hex()}


def check_pin(record: Mapping[str, Any], pin: str) -> bool:
    """Constant-time comparison against the stored record (uses the record's own cost parameters)."""
    try:
        digest = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(record["salt"]), n=int(record["n"]),
                                r=int(record["r"]), p=int(record["p"]), dklen=32)
        return hmac.compare_digest(digest.hex(), str(record["hash"]))
    except (KeyError, ValueError, TypeError):
        return False


def pin_problem(pin: str, policy: PinPolicy, *, phone: str | None = None) -> str | None:
    """Why ``pin`` cannot be chosen, as plain words for an operator (``None``: it can)."""
    if not valid_pin_format(pin, policy):
        return f"a trading PIN is {policy.min_length}-{policy.max_length} digits"
    reason = weak_pin(pin, phone=phone)
    if reason is WeakPin.REPEATED:
        return "a trading PIN must not be one digit repeated"
    if reason is WeakPin.SEQUENCE:
        return "a trading PIN must not be a run of digits such as 1234 or 9876"
    if reason is WeakPin.PHONE:
        return "a trading PIN must not be the last digits of the phone number"
    return None


def pin_profile(pin: str, policy: PinPolicy = PinPolicy(), *, phone: str | None = None) -> dict[str, Any]:
    """Profile fields for provisioning a user with a PIN (e.g. ``gridworks users create --pin``)."""
    problem = pin_problem(pin, policy, phone=phone)
    if problem is not None:
        raise ValueError(problem)
    return {PIN_KEY: hash_pin(pin, policy), FAILURES_KEY: 0}


def trading_day(now: datetime) -> date:
    return now.astimezone(IST).date()


def has_pin(profile: Mapping[str, Any]) -> bool:
    return isinstance(profile.get(PIN_KEY), Mapping)


def verified_today(profile: Mapping[str, Any], now: datetime) -> bool:
    return profile.get(VERIFIED_DAY_KEY) == trading_day(now).isoformat()


def locked_until(profile: Mapping[str, Any], now: datetime) -> datetime | None:
    raw = profile.get(LOCKED_UNTIL_KEY)
    if not raw:
        return None
    until = datetime.fromisoformat(str(raw))
    return until if now < until else None


class PinCheck(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"          # this attempt (or an earlier one) locked trading
    BAD_FORMAT = "bad_format"  # not 4-6 digits: not counted as an attempt


@dataclass(frozen=True, slots=True)
class PinAttempt:
    """The outcome of one PIN entry and the profile fields to store (the caller merges and saves them)."""

    result: PinCheck
    changes: Mapping[str, Any]
    attempts_left: int = 0
    locked_until: datetime | None = None


def attempt(profile: Mapping[str, Any], pin: str, now: datetime, policy: PinPolicy) -> PinAttempt:
    """Check one entry: success marks today verified; failures count up to the lockout."""
    until = locked_until(profile, now)
    if until is not None:
        return PinAttempt(PinCheck.LOCKED, {}, locked_until=until)
    if not valid_pin_format(pin, policy):
        return PinAttempt(PinCheck.BAD_FORMAT, {})
    if check_pin(profile.get(PIN_KEY) or {}, pin):
        return PinAttempt(PinCheck.OK, {VERIFIED_DAY_KEY: trading_day(now).isoformat(), FAILURES_KEY: 0,
                                         LOCKED_UNTIL_KEY: None})
    failures = int(profile.get(FAILURES_KEY) or 0) + 1
    if failures >= policy.max_attempts:
        until = now + timedelta(minutes=policy.lockout_minutes)
        return PinAttempt(PinCheck.LOCKED, {FAILURES_KEY: 0, LOCKED_UNTIL_KEY: until.isoformat(),
                                            VERIFIED_DAY_KEY: None}, locked_until=until)
    return PinAttempt(PinCheck.WRONG, {FAILURES_KEY: failures}, attempts_left=policy.max_attempts - failures)


def set_pin(pin: str, now: datetime, policy: PinPolicy, *, phone: str | None = None) -> Mapping[str, Any] | None:
    """Profile fields for a newly chosen PIN (setting it counts as today's verification), or None if the
    format is wrong or the PIN is too easy to guess (:func:`weak_pin`)."""
    if pin_problem(pin, policy, phone=phone) is not None:
        return None
    return {PIN_KEY: hash_pin(pin, policy), VERIFIED_DAY_KEY: trading_day(now).isoformat(), FAILURES_KEY: 0,
            LOCKED_UNTIL_KEY: None}


_HASHING: ThreadPoolExecutor | None = None


async def hashing(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` (a scrypt hash or check) off the event loop, on threads of its own, one per core.

    Why not the loop's default executor: a burst of PINs (200 users confirming at once) filled every one of
    its threads with 57 ms scrypt jobs, and the group commit of every other user's audit row, which shares
    that executor, waited behind them. More threads than cores would not hash faster either, and each kept
    its 16 MB scrypt buffer in its own malloc arena (RSS +130 MB after a handful of PINs)."""
    global _HASHING
    if _HASHING is None:
        _HASHING = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="pin-hash")
    return await asyncio.get_running_loop().run_in_executor(_HASHING, lambda: fn(*args, **kwargs))


async def is_users_pin(profile: Mapping[str, Any], text: str | None, policy: PinPolicy) -> bool:
    """Is ``text`` the PIN stored (hashed) in ``profile``? Cheap for anything that is not PIN-shaped; the
    scrypt comparison runs off the event loop."""
    record = profile.get(PIN_KEY)
    if not isinstance(record, Mapping):
        return False
    for candidate in pin_candidates(text, policy):
        if await hashing(check_pin, record, candidate):
            return True
    return False
