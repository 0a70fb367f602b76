"""SubscriptionCheck: keep the account current before routing, so the tier router sees the right tier.

An ended trial or plan is expired here (and the user told so in this turn) even if no clock tick ran since
it ended. The middleware also notes when the user last wrote: WhatsApp only allows free-form messages
within 24 hours of the user's last message, so pushes made later (price alerts, trial reminders) must pick
a template instead — see :func:`push_reply`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from handlers.replies import Button, Buttons, Reply, Template, Text
from handlers.turn import Next, Turn, TurnResult
from handlers.users import User

#: Profile key holding the ISO time of the user's last inbound message.
LAST_SEEN = "last_seen"
#: The service window is 24 h; the stored time is refreshed at most hourly, so treat 23 h as the edge.
WINDOW = timedelta(hours=23)
REFRESH = timedelta(hours=1)


def last_seen(user: User) -> datetime | None:
    raw = user.profile.get(LAST_SEEN)
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


def in_service_window(user: User, now: datetime) -> bool:
    """True when a free-form message may be sent (conservatively: last message under 23 hours ago)."""
    seen = last_seen(user)
    return seen is not None and now - seen < WINDOW


def push_reply(user: User, now: datetime, *, text: str, template: str, lang: str,
               params: tuple[str, ...] = (), buttons: tuple[tuple[str, str], ...] = ()) -> Reply:
    """Free-form inside the 24-hour window (a Text, or Buttons given ``(id, title)`` pairs), else the
    approved utility template ``template`` (defined in ``bot/whatsapp/templates.py``) with exactly its
    ``params`` and the buttons' ids as quick-reply payloads."""
    if in_service_window(user, now):
        if buttons:
            return Buttons(text, tuple(Button(bid, title) for bid, title in buttons))
        return Text(text)
    return Template(name=template, language=lang, params=params,
                    button_payloads=tuple(bid for bid, _ in buttons), text=text, category="UTILITY")


class SubscriptionCheck:
    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        from handlers.upgrade import expire_if_due  # the upgrade feature owns plan rules

        user = turn.user
        assert user is not None, "session middleware runs first"
        changes: dict[str, Any] = {}
        seen = last_seen(user)
        if seen is None or turn.now - seen >= REFRESH or turn.now < seen:
            changes[LAST_SEEN] = turn.now.isoformat()
        expired, notice = await expire_if_due(turn.services, user, turn.now, profile_changes=changes)
        if expired is not None:
            turn.user = expired
            turn.tier = expired.tier
        elif changes:
            turn.user = await turn.services.users.update(user.key, profile_changes=changes)
        result = await call_next(turn)
        if notice is None:
            return result
        return replace(result, replies=(notice, *result.replies))
