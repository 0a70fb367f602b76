"""SubscriptionCheck: keep the account current before routing, so the tier router sees the right tier.

An ended trial or plan is expired here (and the user told so in this turn) even if no clock tick ran since
it ended. The middleware also notes when the user last wrote, for the 24-hour window. Both rules belong to
features (``handlers/upgrade.py``, ``handlers/service_window.py``) and are passed in by the composition root.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from handlers.context import Services
from handlers.replies import Reply
from handlers.turn import Next, Turn, TurnResult
from handlers.users import User

#: ``(services, user, now, profile_changes=…) -> (expired user or None, notice or None)``
Expire = Callable[..., Awaitable[tuple[User | None, Reply | None]]]
#: ``(user, now) -> profile changes`` noting that the user writes now
Touch = Callable[[User, datetime], Mapping[str, Any]]


class SubscriptionCheck:
    def __init__(self, *, expire: Expire, touch: Touch) -> None:
        self._expire = expire
        self._touch = touch

    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        user = turn.user
        assert user is not None, "session middleware runs first"
        services: Services = turn.services
        changes: dict[str, Any] = dict(self._touch(user, turn.now))
        expired, notice = await self._expire(services, user, turn.now, profile_changes=changes)
        if expired is not None:
            turn.user = expired
            turn.tier = expired.tier
        elif changes:
            turn.user = await services.users.update(user.key, profile_changes=changes)
        result = await call_next(turn)
        if notice is None:
            return result
        return replace(result, replies=(notice, *result.replies))
