"""Bound buttons: a tapped payload names something the server gave this user; it never carries the parameters.

A button that changes state (confirm or cancel a card, change or cancel an order, pick or pay a plan, delete
an alert) has the payload ``<action>:<nonce>``. :func:`issue` keeps what the button means — the action, its
parameters, an expiry, single use or not — under a random nonce in the user's own session; :func:`take`
looks a tapped payload up there. A crafted payload, a tampered one (another nonce, or a nonce moved to another
action), another user's (not in this user's session), an expired or an already used one resolves to a typed
:class:`Refused`, which the handler answers (:func:`refusal_text`) and acts on nothing.

Payloads that only say what the user could equally type ("help:prices", "setlang:ta", "tsym:TCS",
"upgrade") carry no authority and stay plain.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from collections.abc import Mapping

from handlers.session import Session
from locales.catalog import Translator

BOUND_KEY = "bound"                  # session.data[BOUND_KEY] = {nonce: {"a", "p", "x", "o", "u"}}
MAX_PAYLOAD = 256                    # WhatsApp's limit for a button or list-row id
MAX_KEPT = 48                        # bindings kept per user (older ones are dropped first)
KEEP_AFTER_EXPIRY = timedelta(hours=24)   # an expired binding is still recognised ("expired") this long
_NONCE = re.compile(r"[0-9a-f]{16}")
_ACTION = re.compile(r"[a-z_]{1,32}")


class Reason(StrEnum):
    UNKNOWN = "unknown"    # never issued to this user: crafted, tampered, another user's, or long forgotten
    EXPIRED = "expired"
    USED = "used"          # a single-use button tapped again (a replay or a double tap)


@dataclass(frozen=True, slots=True)
class BoundAction:
    """What a tapped button means, as the server recorded it when it showed the button."""

    action: str
    nonce: str
    params: Mapping[str, Any]
    expires_at: datetime
    once: bool = True

    @property
    def payload(self) -> str:
        return f"{self.action}:{self.nonce}"


@dataclass(frozen=True, slots=True)
class Refused:
    """A tap that must change nothing. ``was`` is what the button meant when the server still remembers it
    (expired or used), so a handler can answer truthfully ("already placed as order …")."""

    reason: Reason
    was: BoundAction | None = None


def _table(session: Session) -> dict[str, dict[str, Any]]:
    table = session.data.get(BOUND_KEY)
    if not isinstance(table, dict):
        table = session.data[BOUND_KEY] = {}
    return table


def _action_of(nonce: str, entry: Mapping[str, Any]) -> BoundAction:
    return BoundAction(action=str(entry["a"]), nonce=nonce, params=dict(entry.get("p") or {}),
                       expires_at=datetime.fromisoformat(str(entry["x"])), once=bool(entry.get("o", True)))


def _prune(table: dict[str, dict[str, Any]], now: datetime) -> None:
    for nonce, entry in list(table.items()):
        if datetime.fromisoformat(str(entry["x"])) + KEEP_AFTER_EXPIRY <= now:
            del table[nonce]
    if len(table) >= MAX_KEPT:
        by_expiry = sorted(table, key=lambda n: datetime.fromisoformat(str(table[n]["x"])))
        for nonce in by_expiry[: len(table) - MAX_KEPT + 1]:
            del table[nonce]


def issue(session: Session, action: str, *, now: datetime, ttl: timedelta, once: bool = True,
          **params: Any) -> BoundAction:
    """Bind ``params`` (JSON values) to a fresh nonce in ``session``; the button's payload is ``.payload``.

    The same action with the same parameters, still live and unused, keeps its nonce (its expiry is
    extended): a list shown twice offers the same buttons instead of filling the session."""
    if not _ACTION.fullmatch(action):
        raise ValueError(f"bound action {action!r} must be lowercase letters or _")
    table = _table(session)
    _prune(table, now)
    expires = (now + ttl).isoformat()
    for nonce, entry in table.items():
        if entry["a"] == action and entry.get("p") == params and not entry.get("u") and \
                datetime.fromisoformat(str(entry["x"])) > now and bool(entry.get("o", True)) == once:
            entry["x"] = max(str(entry["x"]), expires, key=datetime.fromisoformat)
            return _action_of(nonce, entry)
    nonce = secrets.token_hex(8)
    table[nonce] = {"a": action, "p": dict(params), "x": expires, "o": once, "u": False}
    return _action_of(nonce, table[nonce])


def resolve(session: Session, payload: str | None, now: datetime) -> BoundAction | Refused:
    """What ``payload`` means for this user, or why it must be refused. Changes nothing."""
    action, _, nonce = (payload or "").partition(":")
    if not payload or len(payload) > MAX_PAYLOAD or not _NONCE.fullmatch(nonce):
        return Refused(Reason.UNKNOWN)
    entry = (session.data.get(BOUND_KEY) or {}).get(nonce)
    if not isinstance(entry, Mapping) or entry.get("a") != action:
        return Refused(Reason.UNKNOWN)
    bound = _action_of(nonce, entry)
    if entry.get("u"):
        return Refused(Reason.USED, bound)
    if now >= bound.expires_at:
        return Refused(Reason.EXPIRED, bound)
    return bound


def take(session: Session, payload: str | None, now: datetime) -> BoundAction | Refused:
    """:func:`resolve`, and a single-use binding is spent at once: call it before acting, so a second tap
    (or a retry racing the first) can never act twice."""
    found = resolve(session, payload, now)
    if isinstance(found, BoundAction) and found.once:
        spend(session, found.nonce)
    return found


def spend(session: Session, nonce: str) -> None:
    """Mark a binding used (e.g. a card answered by a typed "yes": its button is used too)."""
    entry = (session.data.get(BOUND_KEY) or {}).get(nonce)
    if isinstance(entry, dict):
        entry["u"] = True


def refusal_text(t: Translator, reason: Reason) -> str:
    """The user's answer to a refused tap, in their language: it always says nothing was changed."""
    return t(f"buttons.{reason.value}")
