"""WhatsApp's 24-hour customer-service window: free-form messages only within 24 hours of the user's last
message; later pushes (order updates, price alerts, trial reminders) must be an approved template. Shared by
the features that push and by the subscription middleware that records when the user last wrote."""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers.replies import Button, Buttons, Reply, Template, Text
from handlers.users import User

#: Profile key holding the ISO time of the user's last inbound message.
LAST_SEEN = "last_seen"
#: The service window is 24 h; the stored time is refreshed at most hourly, so treat 23 h as the edge.
WINDOW = timedelta(hours=23)
REFRESH = timedelta(hours=1)


def last_seen(user: User) -> datetime | None:
    raw = user.profile.get(LAST_SEEN)
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


def seen_changes(user: User, now: datetime) -> dict[str, str]:
    """Profile changes noting that the user writes now (none when the stored time is recent enough)."""
    seen = last_seen(user)
    if seen is None or now - seen >= REFRESH or now < seen:
        return {LAST_SEEN: now.isoformat()}
    return {}


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
