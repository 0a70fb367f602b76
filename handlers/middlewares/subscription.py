"""SubscriptionCheck: keep the account current before routing, so the tier router sees the right tier.

An ended trial or plan is expired here (and the user told so in this turn) even if no clock tick ran since
it ended. The middleware also notes when the user last wrote, for the 24-hour window
(``handlers/service_window.py``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

# in_service_window / push_reply are re-exported for handlers/upgrade.py until it imports handlers.service_window
from handlers.service_window import LAST_SEEN, REFRESH, in_service_window, last_seen, push_reply  # noqa: F401
from handlers.turn import Next, Turn, TurnResult

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
